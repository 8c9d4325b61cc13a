-- Experiments and their variants: the configuration marketers edit.
CREATE TABLE experiments (
    id              BIGSERIAL PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    dimension       TEXT NOT NULL CHECK (dimension IN ('content', 'timing', 'trigger')),
    kind            TEXT NOT NULL CHECK (kind IN ('ab', 'bandit')),
    status          TEXT NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'running', 'paused', 'stopped')),
    control_key     TEXT NOT NULL,
    goal_event      TEXT COLLATE "C" NOT NULL,
    goal_metric     TEXT NOT NULL CHECK (goal_metric IN ('conversion', 'revenue')),
    targeting       JSONB NOT NULL DEFAULT '[]',
    traffic         DOUBLE PRECISION NOT NULL DEFAULT 1 CHECK (traffic >= 0 AND traffic <= 1),
    floor           DOUBLE PRECISION NOT NULL DEFAULT 0.01 CHECK (floor >= 0 AND floor < 1),
    -- no winner is called before every arm has this many users
    min_users_per_arm INTEGER NOT NULL DEFAULT 100 CHECK (min_users_per_arm >= 0),
    winner_key      TEXT,
    -- bumped on every change, so other instances know to recompile it
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    stopped_at      TIMESTAMPTZ
);

CREATE TABLE variants (
    id              BIGSERIAL PRIMARY KEY,
    experiment_id   BIGINT NOT NULL REFERENCES experiments (id),
    position        INTEGER NOT NULL,
    key             TEXT NOT NULL,
    name            TEXT NOT NULL,
    payload         JSONB NOT NULL DEFAULT 'null',
    weight          DOUBLE PRECISION NOT NULL CHECK (weight >= 0 AND weight <= 1),
    UNIQUE (experiment_id, key),
    UNIQUE (experiment_id, position)
);

-- Sufficient statistics per variant, updated in the same transaction as the rows they
-- summarise; they can always be rebuilt from assignments. Each writer adds to its own
-- `shard` row, so concurrent group commits never wait on each other's row locks; readers
-- sum the shards.
CREATE TABLE variant_stats (
    variant_id      BIGINT NOT NULL,
    shard           SMALLINT NOT NULL,
    experiment_id   BIGINT NOT NULL,
    users           BIGINT NOT NULL DEFAULT 0,
    conversions     BIGINT NOT NULL DEFAULT 0,
    value_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    value_sum_sq    DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (variant_id, shard)
);
CREATE INDEX variant_stats_experiment ON variant_stats (experiment_id);

-- The same statistics per hour of assignment, plus the users the allocation expected,
-- for sample-ratio checks, period-weighted (Simpson-safe) rates and charts over time.
CREATE TABLE period_stats (
    variant_id      BIGINT NOT NULL,
    period_start    TIMESTAMPTZ NOT NULL,
    shard           SMALLINT NOT NULL,
    experiment_id   BIGINT NOT NULL,
    users           BIGINT NOT NULL DEFAULT 0,
    conversions     BIGINT NOT NULL DEFAULT 0,
    value_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    value_sum_sq    DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- sum over every user assigned in the period of the probability the policy gave this variant
    expected_users  DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (variant_id, period_start, shard)
);
CREATE INDEX period_stats_experiment ON period_stats (experiment_id, period_start);

-- One row per (experiment, user): the sticky assignment and the user's outcome so far.
-- The hot tables (this one and the statistics) carry no foreign keys: experiments and
-- variants are never deleted, the writer takes ids from the compiled snapshot, and a
-- foreign-key check per inserted row cost PostgreSQL a seventh of its time under load.
CREATE TABLE assignments (
    experiment_id   BIGINT NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    variant_id      BIGINT NOT NULL,
    assigned_at     TIMESTAMPTZ NOT NULL,
    propensity      DOUBLE PRECISION NOT NULL,
    attributes      JSONB NOT NULL DEFAULT '{}',
    converted_at    TIMESTAMPTZ,
    value           DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment_id, user_id)
)
-- Room in each page for the outcome updates that events cause, so they stay heap-only
-- (HOT): no index is touched when converted_at or value change.
WITH (fillfactor = 80);
CREATE INDEX assignments_user ON assignments (user_id);
CREATE INDEX assignments_experiment_time ON assignments (experiment_id, assigned_at);

-- Events are keyed by (user, event id): a retry of a user's event is a duplicate, while two
-- users' apps may pick the same ids ("e-1") without losing each other's events. That one
-- index also serves erasure (a user's events) and exports (events of an experiment's
-- users); a BRIN index on arrival time, nearly free to maintain, serves retention.
-- Identifiers compare byte-wise (COLLATE "C"): they are opaque ids, not words, and the
-- locale-aware comparison cost the index inserts a third of their time.
CREATE TABLE events (
    user_id         TEXT COLLATE "C" NOT NULL,
    event_id        TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    value           DOUBLE PRECISION,
    occurred_at     TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX events_received ON events USING brin (received_at);

CREATE TABLE api_keys (
    id              BIGSERIAL PRIMARY KEY,
    -- SHA-256 of the key, hex; the key itself is shown once and never stored
    key_hash        TEXT NOT NULL UNIQUE,
    scope           TEXT NOT NULL CHECK (scope IN ('client', 'admin')),
    label           TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ
);
