-- Personalization: named segments, pinned rules, mutual-exclusion layers and a holdout.

-- Reusable targeting rules on user attributes. Experiments reference them by key in their
-- targeting and pinned rules; the engine compiles the references into its snapshot.
CREATE TABLE segments (
    id          BIGSERIAL PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    rule        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Pinned rules: [{"segment": "returning-buyers", "variant": "loyalty"}], checked in order.
ALTER TABLE experiments ADD COLUMN rules JSONB NOT NULL DEFAULT '[]';
-- Mutual-exclusion layer: {"key": "home-screen", "from": 0.0, "to": 0.5}, or NULL.
ALTER TABLE experiments ADD COLUMN layer JSONB;
CREATE INDEX experiments_layer ON experiments ((layer->>'key')) WHERE layer IS NOT NULL;

-- The server-wide holdout: one row, the fraction of users who get no experiment at all.
CREATE TABLE holdout (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    fraction    DOUBLE PRECISION NOT NULL CHECK (fraction >= 0 AND fraction <= 0.5),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Users who asked for assignments while held out, stored once (by the group-commit writer),
-- so their goal events can be compared with those of exposed users.
CREATE TABLE holdout_users (
    user_id     TEXT COLLATE "C" PRIMARY KEY,
    held_out_at TIMESTAMPTZ NOT NULL
);
