SELECT user_id, held_out_at FROM holdout_users WHERE user_id = ANY(ARRAY(SELECT 'u-' || (1 + floor(random() * 1000000))::int FROM generate_series(1, 100)));
