\set u random(1, 1000000)
SELECT experiment_id, user_id, variant_id FROM assignments WHERE user_id = ANY(ARRAY['u-' || :u]);
