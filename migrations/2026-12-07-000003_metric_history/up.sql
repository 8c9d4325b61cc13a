-- Effects over time: each metric's cumulative figures as they stood at the end of each day
-- (UTC), per variant, so that the lift's path since the start shows (a novelty effect fades).
-- Written by the background tick from the results (the last write of a day stands), and once
-- more when an experiment stops. Aggregates only, no user ids: erasing a user leaves it be.
CREATE TABLE metric_history (
    experiment_id   BIGINT NOT NULL REFERENCES experiments (id),
    -- the metric's key in the results (`goal` for the inline goal)
    metric_key      TEXT NOT NULL,
    variant_id      BIGINT NOT NULL,
    day             DATE NOT NULL,
    users           BIGINT NOT NULL,
    value_mean      DOUBLE PRECISION NOT NULL,
    -- the `sequential` view of the lift over control: NULL for the control and when absent
    lift_mean       DOUBLE PRECISION,
    lift_low        DOUBLE PRECISION,
    lift_high       DOUBLE PRECISION,
    p_value         DOUBLE PRECISION,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, metric_key, variant_id, day)
);
