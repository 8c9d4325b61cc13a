SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY value) AS q FROM metric_values WHERE experiment_id = 1 AND metric_id = 1;
