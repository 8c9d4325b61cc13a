-- Metrics: a library of reusable definitions of what to measure from events, and the
-- metrics of each experiment (one goal, secondary metrics, guardrails).

-- The library. Typed columns (not JSON) so that the writer reads what it needs to attribute
-- an event in the same transaction, with no parsing.
CREATE TABLE metrics (
    id              BIGSERIAL PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL CHECK (type IN ('conversion', 'mean', 'ratio', 'retention')),
    -- the event counted (NULL for a ratio, which counts through its parts)
    event           TEXT COLLATE "C",
    -- mean: add up the events' number instead of their values
    of_count        BOOLEAN NOT NULL DEFAULT false,
    cap_value       DOUBLE PRECISION CHECK (cap_value IS NULL OR cap_value > 0),
    cap_percentile  DOUBLE PRECISION CHECK (cap_percentile IS NULL OR (cap_percentile > 0.5 AND cap_percentile < 1)),
    numerator_id    BIGINT REFERENCES metrics (id),
    denominator_id  BIGINT REFERENCES metrics (id),
    -- only events within this long after the assignment count; NULL: until the experiment stops
    window_seconds  BIGINT CHECK (window_seconds IS NULL OR window_seconds > 0),
    -- retention: the event must come in [from, to) after the assignment
    from_seconds    BIGINT,
    to_seconds      BIGINT,
    direction       TEXT NOT NULL DEFAULT 'increase' CHECK (direction IN ('increase', 'decrease')),
    -- bumped on every edit: experiments using the metric recompute it
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((type = 'ratio') = (event IS NULL)),
    CHECK ((type = 'ratio') = (numerator_id IS NOT NULL AND denominator_id IS NOT NULL)),
    CHECK ((type = 'retention') = (from_seconds IS NOT NULL AND to_seconds IS NOT NULL))
);
CREATE INDEX metrics_event ON metrics (event);

-- What an experiment declares: its goal (when it is a library metric), secondary metrics
-- and guardrails, in order.
CREATE TABLE experiment_metrics (
    experiment_id   BIGINT NOT NULL REFERENCES experiments (id),
    role            TEXT NOT NULL CHECK (role IN ('goal', 'secondary', 'guardrail')),
    metric_id       BIGINT NOT NULL REFERENCES metrics (id),
    position        INTEGER NOT NULL,
    -- guardrails: the relative harm that matters (0.02: 2% worse)
    threshold       DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (threshold >= 0),
    PRIMARY KEY (experiment_id, role, metric_id)
);
CREATE INDEX experiment_metrics_metric ON experiment_metrics (metric_id);

-- The metrics whose per-user values an experiment keeps: the ones it declares and the parts
-- of its ratios. computed_version is the metric version the stored values reflect: behind
-- metrics.version, the values are being (re)computed from the raw rows.
CREATE TABLE tracked_metrics (
    experiment_id   BIGINT NOT NULL,
    metric_id       BIGINT NOT NULL,
    computed_version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment_id, metric_id)
);
CREATE INDEX tracked_metrics_metric ON tracked_metrics (metric_id);

-- Per user, what the metric has counted so far: the events that counted and the sum of their
-- values, and the user's value as the statistics hold it (so that a change is always the
-- difference from what was added, whatever the rule was then). A ratio has no rows: its parts
-- have. Like assignments, the truth is the raw rows; these can be rebuilt from them.
CREATE TABLE metric_values (
    experiment_id   BIGINT NOT NULL,
    metric_id       BIGINT NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    variant_id      BIGINT NOT NULL,
    assigned_at     TIMESTAMPTZ NOT NULL,
    events          BIGINT NOT NULL DEFAULT 0,
    value_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    first_at        TIMESTAMPTZ,
    value           DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment_id, metric_id, user_id)
)
WITH (fillfactor = 80);
CREATE INDEX metric_values_user ON metric_values (user_id);

-- Sufficient statistics per (experiment, metric, variant), sharded per writer like
-- variant_stats: users with a counted event, and Σx and Σx² of the per-user values (capped
-- at a value cap). Users without a value count as 0; the number of users is the variant's.
-- Ratios, percentile caps and retention windows are computed from metric_values when
-- results are read.
CREATE TABLE metric_stats (
    experiment_id   BIGINT NOT NULL,
    metric_id       BIGINT NOT NULL,
    variant_id      BIGINT NOT NULL,
    shard           SMALLINT NOT NULL,
    users           BIGINT NOT NULL DEFAULT 0,
    total           DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_sq        DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment_id, metric_id, variant_id, shard)
);

-- The goal, as the assignment rows follow it (converted_at, value): its window, whether a
-- mean counts events instead of adding values, its value cap, a retention window, and the
-- library metric it comes from (NULL: the inline goal {"event", "metric"}).
-- The goal's total as the statistics hold it (capped at the goal's value cap); NULL: `value`
-- (rows from before caps existed).
ALTER TABLE assignments ADD COLUMN counted_value DOUBLE PRECISION;

ALTER TABLE experiments
    ADD COLUMN goal_metric_id BIGINT REFERENCES metrics (id),
    ADD COLUMN goal_window_seconds BIGINT,
    ADD COLUMN goal_of_count BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN goal_cap_value DOUBLE PRECISION,
    ADD COLUMN goal_from_seconds BIGINT,
    ADD COLUMN goal_to_seconds BIGINT;
