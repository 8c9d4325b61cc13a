-- What decides an experiment's verdict: the Bayesian rule (probability best and expected
-- loss) or the sequential test (confidence sequences valid at every look).
ALTER TABLE experiments
    ADD COLUMN analysis TEXT NOT NULL DEFAULT 'bayesian' CHECK (analysis IN ('bayesian', 'sequential'));
