-- The settings of an experiment's verdict: how long it must run before `ship` (a day-of-week
-- effect needs a whole week; 0 means no minimum) and the relative lift that matters (smaller
-- effects count as no difference).
ALTER TABLE experiments
    ADD COLUMN min_runtime_seconds BIGINT NOT NULL DEFAULT 604800 CHECK (min_runtime_seconds >= 0),
    ADD COLUMN minimum_effect DOUBLE PRECISION NOT NULL DEFAULT 0.05
        CHECK (minimum_effect > 0 AND minimum_effect <= 10);
