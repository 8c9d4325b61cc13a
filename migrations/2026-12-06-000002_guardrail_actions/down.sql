DROP TABLE guardrail_firings;
ALTER TABLE experiment_metrics DROP COLUMN action;
