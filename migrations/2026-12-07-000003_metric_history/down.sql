DROP TABLE metric_history;
