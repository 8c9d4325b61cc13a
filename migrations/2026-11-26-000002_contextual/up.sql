-- Contextual bandits (issue 8): an experiment may name up to three user attributes whose
-- values at assignment form the user's context (segment).
ALTER TABLE experiments ADD COLUMN context TEXT[] NOT NULL DEFAULT '{}';

-- The user's context at assignment: a JSON array of the attribute values as strings, in the
-- experiment's order ("(none)" for a missing one; "(other)" everywhere once the experiment
-- has as many contexts as it may keep). NULL for experiments without a context.
-- Nullable without a default: adding it rewrites nothing.
ALTER TABLE assignments ADD COLUMN context_key TEXT COLLATE "C";

-- Sufficient statistics per (variant, context), sharded by writer like variant_stats and
-- updated in the same transactions; rebuildable from assignments. Only contextual
-- experiments have rows here.
CREATE TABLE context_stats (
    variant_id      BIGINT NOT NULL,
    context_key     TEXT COLLATE "C" NOT NULL,
    shard           SMALLINT NOT NULL,
    experiment_id   BIGINT NOT NULL,
    users           BIGINT NOT NULL DEFAULT 0,
    conversions     BIGINT NOT NULL DEFAULT 0,
    value_sum       DOUBLE PRECISION NOT NULL DEFAULT 0,
    value_sum_sq    DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (variant_id, context_key, shard)
);
CREATE INDEX context_stats_experiment ON context_stats (experiment_id);
