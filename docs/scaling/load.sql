-- The data set of docs/scaling.md, section 5: run on a scratch database after every
-- migrations/*/up.sql (in directory-name order), e.g.
--   createdb -h 127.0.0.1 -U postgres scaling_plans
--   for f in migrations/*/up.sql; do psql -h 127.0.0.1 -U postgres -d scaling_plans -f $f; done
--   psql -h 127.0.0.1 -U postgres -d scaling_plans -f docs/scaling/load.sql
-- (about 2.5 minutes, 4 GB). Drop the database afterwards.
\timing on
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
SET work_mem = '64MB';
-- The events layout of 2026-12-10-000001_partitioned_events (another branch): RANGE(occurred_at)
-- daily, PK (user_id, event_id, occurred_at), a default partition.
DROP TABLE events;
CREATE TABLE events (
    user_id         TEXT COLLATE "C" NOT NULL,
    event_id        TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    value           DOUBLE PRECISION,
    occurred_at     TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
SELECT format('CREATE TABLE events_%s PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
              to_char(d, 'YYYYMMDD'), d, d + interval '1 day')
FROM generate_series(timestamptz '2026-11-10 00:00+00', timestamptz '2026-12-10 00:00+00', interval '1 day') d \gexec

-- Catalog: 2 library metrics; 5 running experiments, 3 variants each.
INSERT INTO metrics (key, name, type, event) VALUES ('purchases', 'Purchases', 'mean', 'purchase'), ('opens', 'Opens', 'conversion', 'open');
INSERT INTO experiments (key, name, dimension, kind, status, control_key, goal_event, goal_metric, started_at)
SELECT 'exp-' || i, 'Experiment ' || i, 'content', CASE WHEN i % 2 = 0 THEN 'ab' ELSE 'bandit' END, 'running', 'a',
       CASE WHEN i % 2 = 0 THEN 'open' ELSE 'purchase' END, CASE WHEN i % 2 = 0 THEN 'conversion' ELSE 'revenue' END,
       timestamptz '2026-11-10 00:00+00'
FROM generate_series(1, 5) i;
INSERT INTO variants (experiment_id, position, key, name, weight)
SELECT e.id, v, chr(97 + v), 'Variant ' || v, 1.0 / 3 FROM experiments e, generate_series(0, 2) v;
INSERT INTO tracked_metrics (experiment_id, metric_id, computed_version)
SELECT e.id, m.id, 1 FROM experiments e, metrics m;
INSERT INTO experiment_metrics (experiment_id, role, metric_id, position)
SELECT e.id, 'secondary', m.id, m.id FROM experiments e, metrics m;

-- 1,000,000 users × 5 experiments, assigned over 30 days.
INSERT INTO assignments (experiment_id, user_id, variant_id, assigned_at, propensity, attributes, converted_at, value)
SELECT e.id, 'u-' || u, (SELECT min(id) FROM variants v WHERE v.experiment_id = e.id) + (hashint4(u + e.id::int) & 2147483647) % 3,
       timestamptz '2026-11-10 00:00+00' + (u % 2592000) * interval '1 second' + e.id * interval '1 minute',
       1.0 / 3, '{"platform": "ios"}',
       CASE WHEN u % 7 = 0 THEN timestamptz '2026-11-10 00:00+00' + (u % 2592000) * interval '1 second' + interval '2 hours' END,
       CASE WHEN u % 7 = 0 THEN 9.99 ELSE 0 END
FROM generate_series(1, 1000000) u, experiments e;

-- 10,000,000 events over the same 30 days, 4 names.
INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at)
SELECT 'u-' || (1 + (hashint4(n) & 2147483647) % 1000000), 'e-' || n,
       (ARRAY['open', 'purchase', 'view', 'share'])[1 + n % 4],
       CASE WHEN n % 4 = 1 THEN 1 + n % 50 END,
       timestamptz '2026-11-10 00:00+00' + (n::float8 / 10000000 * 2592000) * interval '1 second',
       timestamptz '2026-11-10 00:00+00' + (n::float8 / 10000000 * 2592000 + 1) * interval '1 second'
FROM generate_series(1, 10000000) n;
ALTER TABLE events ADD PRIMARY KEY (user_id, event_id, occurred_at);
CREATE INDEX events_received ON events USING brin (received_at);

-- Profiles: 300,000 users with events, 3 names each.
INSERT INTO profile_events (user_id, name, first_at, last_at, total_count, total_sum, bucket_days, day_counts, day_sums, hours, recent)
SELECT 'u-' || u, n, timestamptz '2026-11-10 00:00+00', timestamptz '2026-12-09 00:00+00', 12, 30,
       ARRAY[0, 20767, 20780, 20795], ARRAY[0, 4, 4, 4], ARRAY[0, 10, 10, 10]::float8[],
       array_fill(1, ARRAY[24]), ARRAY[1796774400, 1, 0, 1796778000, 2, 5]::float8[]
FROM generate_series(1, 1000000, 3) u, unnest(ARRAY['open', 'purchase', 'view']) n;

-- Per-user metric values: every user with a purchase or an open counted in each experiment.
INSERT INTO metric_values (experiment_id, metric_id, user_id, variant_id, assigned_at, events, value_sum, first_at, value)
SELECT a.experiment_id, m.id, a.user_id, a.variant_id, a.assigned_at, 2, 20, a.assigned_at + interval '1 hour', CASE m.type WHEN 'conversion' THEN 1 ELSE 20 END
FROM assignments a, metrics m WHERE (hashint4(substr(a.user_id, 3)::int) & 7) = 0 OR (m.event = 'open' AND (hashint4(substr(a.user_id, 3)::int) & 3) = 1);
INSERT INTO metric_covariates (experiment_id, metric_id, user_id, variant_id, value)
SELECT experiment_id, metric_id, user_id, variant_id, 3 FROM metric_values WHERE (hashint4(substr(user_id, 3)::int) & 1) = 0;
INSERT INTO holdout_users (user_id, held_out_at) SELECT 'h-' || u, timestamptz '2026-11-10 00:00+00' FROM generate_series(1, 50000) u;

-- Statistics as 32 writer shards leave them: every (variant, hour, shard).
INSERT INTO variant_stats (variant_id, shard, experiment_id, users, conversions, value_sum, value_sum_sq)
SELECT v.id, s, v.experiment_id, 2083, 300, 3000, 30000 FROM variants v, generate_series(0, 31) s;
INSERT INTO period_stats (variant_id, period_start, shard, experiment_id, users, conversions, value_sum, value_sum_sq, expected_users)
SELECT v.id, h, s, v.experiment_id, 3, 1, 10, 100, 3 FROM variants v,
  generate_series(timestamptz '2026-11-10 00:00+00', timestamptz '2026-12-09 23:00+00', interval '1 hour') h, generate_series(0, 31) s;
INSERT INTO metric_stats (experiment_id, metric_id, variant_id, shard, users, total, total_sq)
SELECT v.experiment_id, m.id, v.id, s, 500, 10000, 400000 FROM variants v, metrics m, generate_series(0, 31) s;
VACUUM ANALYZE;
