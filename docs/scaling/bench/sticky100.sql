SELECT experiment_id, user_id, variant_id FROM assignments WHERE user_id = ANY(ARRAY(SELECT 'u-' || (1 + floor(random() * 1000000))::int FROM generate_series(1, 100)));
