-- CUPED for the inline goal {"event", "metric"}: its covariates are rows of metric_covariates
-- with metric_id 0 (it has no library metric), and how far they have been computed is kept
-- here, as tracked_metrics keeps it for library metrics.
CREATE TABLE goal_covariates (
    experiment_id   BIGINT PRIMARY KEY,
    through         TIMESTAMPTZ,
    lookback        BIGINT
);
