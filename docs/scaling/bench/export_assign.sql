\set d random(0, 10)
SELECT user_id, variant_id, assigned_at, propensity, attributes, converted_at, value, context_key FROM assignments WHERE experiment_id = 1 AND assigned_at >= timestamptz '2026-11-10 00:00+00' + :d * interval '1 day' AND (assigned_at > timestamptz '2026-11-10 00:00+00' + :d * interval '1 day' OR user_id > '') ORDER BY assigned_at, user_id LIMIT 10000;
