\set u random(1, 9)
BEGIN;
SELECT user_id, variant_id, assigned_at, converted_at, value, coalesce(counted_value, value) AS counted_value, context_key FROM assignments WHERE experiment_id = 1 AND user_id > 'u-' || :u ORDER BY user_id LIMIT 1000 FOR UPDATE;
SELECT user_id, value, occurred_at FROM events WHERE user_id = ANY(ARRAY(SELECT user_id FROM assignments WHERE experiment_id = 1 AND user_id > 'u-' || :u ORDER BY user_id LIMIT 1000)) AND name = 'purchase' ORDER BY occurred_at, user_id, event_id;
ROLLBACK;
