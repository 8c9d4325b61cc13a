-- CUPED: regression adjustment on each metric's value in a lookback window before the
-- user's assignment. The setting (NULL: off; on by default with 14 days, also for the
-- experiments that exist: the adjustment is unbiased, it only narrows intervals).
ALTER TABLE experiments
    ADD COLUMN cuped_lookback_seconds BIGINT DEFAULT 1209600
        CHECK (cuped_lookback_seconds IS NULL OR cuped_lookback_seconds > 0);

-- Per user, a metric's value over the lookback window before the assignment (the covariate
-- x), only for users who had some: a user without a row has x = 0 and adds nothing to Σx,
-- Σx² or Σxy, so results read only these rows. Computed in the background from the raw
-- events, page by page of assignments; like metric_values, rebuildable from the raw rows.
CREATE TABLE metric_covariates (
    experiment_id   BIGINT NOT NULL,
    metric_id       BIGINT NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    variant_id      BIGINT NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (experiment_id, metric_id, user_id)
);
CREATE INDEX metric_covariates_user ON metric_covariates (user_id);

-- How far the covariates of a tracked metric have been computed: every user assigned up to
-- covariates_through, with the lookback and metric version they were computed for (either
-- changing starts them over).
ALTER TABLE tracked_metrics
    ADD COLUMN covariates_through TIMESTAMPTZ,
    ADD COLUMN covariates_lookback BIGINT,
    ADD COLUMN covariates_version BIGINT;
