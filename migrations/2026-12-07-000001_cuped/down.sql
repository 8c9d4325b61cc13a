ALTER TABLE tracked_metrics
    DROP COLUMN covariates_through,
    DROP COLUMN covariates_lookback,
    DROP COLUMN covariates_version;
DROP TABLE metric_covariates;
ALTER TABLE experiments DROP COLUMN cuped_lookback_seconds;
