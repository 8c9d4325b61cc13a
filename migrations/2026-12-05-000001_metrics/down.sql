ALTER TABLE experiments
    DROP COLUMN goal_metric_id,
    DROP COLUMN goal_window_seconds,
    DROP COLUMN goal_of_count,
    DROP COLUMN goal_cap_value,
    DROP COLUMN goal_from_seconds,
    DROP COLUMN goal_to_seconds;
ALTER TABLE assignments DROP COLUMN counted_value;
DROP TABLE metric_stats;
DROP TABLE metric_values;
DROP TABLE tracked_metrics;
DROP TABLE experiment_metrics;
DROP TABLE metrics;
