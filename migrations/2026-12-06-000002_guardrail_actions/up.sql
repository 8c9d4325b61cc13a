-- Guardrails that act: what a guardrail does when the sequential test shows harm beyond its
-- threshold, and a record of each firing (once per experiment, metric and variant).
ALTER TABLE experiment_metrics
    ADD COLUMN action TEXT NOT NULL DEFAULT 'alert' CHECK (action IN ('alert', 'pause', 'drop'));

CREATE TABLE guardrail_firings (
    experiment_id   BIGINT NOT NULL REFERENCES experiments (id),
    metric_id       BIGINT NOT NULL,
    variant_id      BIGINT NOT NULL,
    action          TEXT NOT NULL,
    -- the evidence: the lift's 95% confidence sequence, the threshold, the users compared
    lift_mean       DOUBLE PRECISION NOT NULL,
    lift_low        DOUBLE PRECISION NOT NULL,
    lift_high       DOUBLE PRECISION NOT NULL,
    threshold       DOUBLE PRECISION NOT NULL,
    users           BIGINT NOT NULL,
    fired_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, metric_id, variant_id)
);
