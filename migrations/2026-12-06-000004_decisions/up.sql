-- When an experiment's verdict first named a winner: announced once (webhook
-- `experiment.decided`), whatever instance saw it first.
CREATE TABLE experiment_decisions (
    experiment_id   BIGINT PRIMARY KEY REFERENCES experiments (id),
    winner          TEXT NOT NULL,
    analysis        TEXT NOT NULL,
    decided_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
