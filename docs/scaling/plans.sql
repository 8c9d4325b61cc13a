-- EXPLAIN (ANALYZE, BUFFERS) of the statements of src/store that docs/scaling.md shows, on the
-- database docs/scaling/load.sql fills. Writes run inside transactions that are rolled back.
--   psql -h 127.0.0.1 -U postgres -d scaling_plans -f docs/scaling/plans.sql > plans.txt
\pset pager off
SET jit = off;
-- 100 users for a read batch, 500 for a write batch (random, all existing); one user to erase.
SELECT ARRAY(SELECT 'u-' || (1 + (hashint4(g * 7919) & 2147483647) % 1000000) FROM generate_series(1, 100) g)::text AS users100 \gset
SELECT ARRAY(SELECT DISTINCT 'u-' || (1 + (hashint4(g * 104729) & 2147483647) % 1000000) FROM generate_series(1, 500) g ORDER BY 1)::text AS users500 \gset
\set one '\'u-424242\''

\echo '### 1 sticky miss read (assignments WHERE user_id = ANY, 100 users)'
PREPARE sticky(text[]) AS SELECT experiment_id, user_id, variant_id FROM assignments WHERE user_id = ANY($1);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE sticky(:'users100');
\echo '### 1b holdout membership read (holdout_users WHERE user_id = ANY)'
PREPARE held(text[]) AS SELECT user_id, held_out_at FROM holdout_users WHERE user_id = ANY($1);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE held(:'users100');
\echo '### 2 profile read (store/profiles.rs PROFILES_OF, 100 users)'
PREPARE profiles(text[]) AS SELECT user_id, name, first_at, last_at, total_count, total_sum, bucket_days, day_counts, day_sums, hours, recent, recent_since FROM profile_events WHERE user_id = ANY($1);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE profiles(:'users100');

\echo '### 3 tracking batch (store/batch.rs), 500 events of 500 users, rolled back'
BEGIN;
PREPARE ins_events(text[], text[], text[], float8[], timestamptz[]) AS
 INSERT INTO events (user_id, event_id, name, value, occurred_at)
 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::timestamptz[])
 ON CONFLICT (user_id, event_id, occurred_at) DO NOTHING RETURNING user_id, event_id;
SELECT ARRAY(SELECT 'new-' || g FROM generate_series(1, cardinality(:'users500'::text[])) g)::text AS ids,
  array_fill('purchase'::text, ARRAY[cardinality(:'users500'::text[])])::text AS names,
  array_fill(5::float8, ARRAY[cardinality(:'users500'::text[])])::text AS vals,
  array_fill(timestamptz '2026-12-09 12:00+00', ARRAY[cardinality(:'users500'::text[])])::text AS ats,
  array_fill(1::int8, ARRAY[cardinality(:'users500'::text[])])::text AS exps,
  ARRAY(SELECT id FROM variants ORDER BY id)::text AS vids, ARRAY(SELECT experiment_id FROM variants ORDER BY id)::text AS veids,
  array_fill(timestamptz '2026-12-09 12:00+00', ARRAY[15])::text AS ats15, array_fill(1::int8, ARRAY[15])::text AS ones15, array_fill(1::float8, ARRAY[15])::text AS fones15 \gset
EXPLAIN (ANALYZE, BUFFERS) EXECUTE ins_events(:'users500', :'ids', :'names', :'vals', :'ats');
PREPARE lock_progress(text[], text[]) AS
 SELECT a.experiment_id, a.user_id, a.variant_id, a.assigned_at, a.converted_at, a.value,
   coalesce(a.counted_value, a.value) AS counted_value, x.goal_event, a.context_key,
   x.goal_window_seconds, x.goal_of_count, x.goal_cap_value, x.goal_from_seconds, x.goal_to_seconds
 FROM assignments a JOIN experiments x ON x.id = a.experiment_id
 WHERE a.user_id = ANY($1) AND x.status IN ('running', 'paused')
   AND (x.goal_event = ANY($2) OR EXISTS (SELECT 1 FROM tracked_metrics tm JOIN metrics m ON m.id = tm.metric_id
                                          WHERE tm.experiment_id = x.id AND m.event = ANY($2)))
 ORDER BY a.experiment_id, a.user_id FOR UPDATE OF a;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE lock_progress(:'users500', ARRAY['purchase']);
PREPARE save_progress(int8[], text[], timestamptz[], float8[], float8[]) AS
 UPDATE assignments a SET converted_at = d.converted_at, value = d.value, counted_value = d.counted_value
 FROM unnest($1::int8[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[]) AS d(experiment_id, user_id, converted_at, value, counted_value)
 WHERE a.experiment_id = d.experiment_id AND a.user_id = d.user_id;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE save_progress(:'exps', :'users500', :'ats', :'vals', :'vals');
PREPARE stats(int8[], timestamptz[], int8[], int8[], int8[], float8[], float8[], float8[], int2) AS
 INSERT INTO period_stats (variant_id, period_start, shard, experiment_id, users, conversions, value_sum, value_sum_sq, expected_users)
 SELECT d.variant_id, d.period_start, $9, d.experiment_id, d.users, d.conversions, d.value_sum, d.value_sum_sq, d.expected_users
 FROM unnest($1::int8[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::float8[], $7::float8[], $8::float8[])
   AS d(variant_id, period_start, experiment_id, users, conversions, value_sum, value_sum_sq, expected_users)
 ON CONFLICT (variant_id, period_start, shard) DO UPDATE SET users = period_stats.users + EXCLUDED.users,
   conversions = period_stats.conversions + EXCLUDED.conversions, value_sum = period_stats.value_sum + EXCLUDED.value_sum,
   value_sum_sq = period_stats.value_sum_sq + EXCLUDED.value_sum_sq, expected_users = period_stats.expected_users + EXCLUDED.expected_users;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE stats(:'vids', :'ats15', :'veids', :'ones15', :'ones15', :'fones15', :'fones15', :'fones15', 7::int2);
ROLLBACK;

\echo '### 4 erasure of one user (engine/writer.rs erase_audited → store), rolled back'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM assignments WHERE user_id = :one RETURNING experiment_id, variant_id, assigned_at, converted_at, value, context_key, counted_value;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM events WHERE user_id = :one;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM holdout_users WHERE user_id = :one;
EXPLAIN (ANALYZE, BUFFERS) SELECT v.experiment_id, v.metric_id, v.value, m.type FROM metric_values v JOIN tracked_metrics tm ON tm.experiment_id = v.experiment_id AND tm.metric_id = v.metric_id JOIN metrics m ON m.id = v.metric_id WHERE v.user_id = :one;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM metric_values WHERE user_id = :one;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM metric_covariates WHERE user_id = :one;
EXPLAIN (ANALYZE, BUFFERS) DELETE FROM profile_events WHERE user_id = :one;
ROLLBACK;

\echo '### 5 results reads (store/stats.rs, store/metric_sums.rs, store/covariates.rs), experiment 1'
EXPLAIN (ANALYZE, BUFFERS) SELECT variant_id, experiment_id, sum(users)::int8 AS users, sum(conversions)::int8 AS conversions, sum(value_sum) AS value_sum, sum(value_sum_sq) AS value_sum_sq FROM variant_stats GROUP BY variant_id, experiment_id ORDER BY variant_id;
EXPLAIN (ANALYZE, BUFFERS) SELECT variant_id, CASE WHEN period_start >= date_trunc('hour', now()) - make_interval(hours => 48 - 1) THEN period_start ELSE date_trunc('day', period_start, 'UTC') END AS period_start, experiment_id, sum(users)::int8 AS users, sum(conversions)::int8 AS conversions, sum(value_sum) AS value_sum, sum(value_sum_sq) AS value_sum_sq, sum(expected_users) AS expected_users FROM period_stats WHERE experiment_id = 1 GROUP BY 1, 2, 3 ORDER BY 2, 1;
EXPLAIN (ANALYZE, BUFFERS) SELECT tm.metric_id, m.type AS metric_type, m.version, tm.computed_version, s.variant_id, coalesce(sum(s.users), 0)::int8 AS users, coalesce(sum(s.total), 0) AS total, coalesce(sum(s.total_sq), 0) AS total_sq, tm.covariates_through, tm.covariates_lookback FROM tracked_metrics tm JOIN metrics m ON m.id = tm.metric_id LEFT JOIN metric_stats s ON s.experiment_id = tm.experiment_id AND s.metric_id = tm.metric_id WHERE tm.experiment_id = 1 GROUP BY tm.metric_id, m.type, m.version, tm.computed_version, s.variant_id, tm.covariates_through, tm.covariates_lookback ORDER BY tm.metric_id, s.variant_id;
EXPLAIN (ANALYZE, BUFFERS) SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY value) AS q FROM metric_values WHERE experiment_id = 1 AND metric_id = 1;
EXPLAIN (ANALYZE, BUFFERS) SELECT variant_id, count(*)::int8 AS users, sum(least(value, 50)) AS total, sum(least(value, 50) * least(value, 50)) AS total_sq FROM metric_values WHERE experiment_id = 1 AND metric_id = 1 AND (NULL::timestamptz IS NULL OR assigned_at <= NULL) GROUP BY variant_id ORDER BY variant_id;
EXPLAIN (ANALYZE, BUFFERS) SELECT variant_id, count(*)::int8 AS users FROM assignments WHERE experiment_id = 1 AND assigned_at <= '2026-11-15 00:00+00' GROUP BY variant_id ORDER BY variant_id;
EXPLAIN (ANALYZE, BUFFERS) SELECT x.variant_id, sum(least(x.value, NULL) * least(y.value, NULL)) AS sum_xy FROM metric_values x JOIN metric_values y ON y.experiment_id = x.experiment_id AND y.metric_id = 2 AND y.user_id = x.user_id WHERE x.experiment_id = 1 AND x.metric_id = 1 GROUP BY x.variant_id ORDER BY x.variant_id;
EXPLAIN (ANALYZE, BUFFERS) SELECT c.metric_id, c.variant_id, count(*)::int8 AS users, sum(c.value) AS x, sum(c.value * c.value) AS x_sq, coalesce(sum(c.value * v.value), 0) AS xy FROM metric_covariates c LEFT JOIN metric_values v ON v.experiment_id = c.experiment_id AND v.metric_id = c.metric_id AND v.user_id = c.user_id WHERE c.experiment_id = 1 AND c.metric_id = 1 GROUP BY c.metric_id, c.variant_id ORDER BY c.variant_id;
EXPLAIN (ANALYZE, BUFFERS) SELECT context_key, variant_id, count(*)::int8 AS n, coalesce(sum(r), 0) AS sum_r, coalesce(sum(1 / p), 0) AS sum_w FROM (SELECT coalesce(context_key, '') AS context_key, variant_id, propensity AS p, (converted_at IS NOT NULL)::int::float8 AS r FROM assignments WHERE experiment_id = 1 AND propensity > 0) AS logged GROUP BY context_key, variant_id ORDER BY context_key, variant_id;

\echo '### 6 export paging (store/export.rs), 10,000-row pages'
EXPLAIN (ANALYZE, BUFFERS) SELECT user_id, variant_id, assigned_at, propensity, attributes, converted_at, value, context_key FROM assignments WHERE experiment_id = 1 AND assigned_at >= '2026-11-15 00:00+00' AND (assigned_at > '2026-11-15 00:00+00' OR user_id > 'u-0') ORDER BY assigned_at, user_id LIMIT 10000;
EXPLAIN (ANALYZE, BUFFERS) SELECT e.event_id, e.user_id, e.name, e.value, e.occurred_at, e.received_at, a.variant_id, a.assigned_at FROM events e JOIN assignments a ON a.user_id = e.user_id AND a.experiment_id = 1 WHERE e.name = 'open' AND e.user_id >= 'u-5' AND (e.user_id > 'u-5' OR e.event_id > '') ORDER BY e.user_id, e.event_id LIMIT 10000;

\echo '### 7 recompute page (store/metric_values.rs), 1,000 users, rolled back'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS) SELECT user_id, variant_id, assigned_at, converted_at, value, coalesce(counted_value, value) AS counted_value, context_key FROM assignments WHERE experiment_id = 1 AND user_id > 'u-5' ORDER BY user_id LIMIT 1000 FOR UPDATE;
EXPLAIN (ANALYZE, BUFFERS) SELECT user_id, value, occurred_at FROM events WHERE user_id = ANY(ARRAY(SELECT user_id FROM assignments WHERE experiment_id = 1 AND user_id > 'u-5' ORDER BY user_id LIMIT 1000)) AND name = 'purchase' ORDER BY occurred_at, user_id, event_id;
ROLLBACK;

\echo '### 8 covariates page (store/covariates.rs compute_page), 500 users, rolled back'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS) INSERT INTO metric_covariates (experiment_id, metric_id, user_id, variant_id, value)
SELECT a.experiment_id, m.metric_id, a.user_id, a.variant_id, least(CASE m.rule WHEN 'once' THEN 1.0 WHEN 'count' THEN pre.events::float8 ELSE pre.total END, coalesce(m.cap, 'Infinity'::float8))
FROM assignments a CROSS JOIN LATERAL (SELECT e.name, count(*) AS events, coalesce(sum(e.value), 0) AS total FROM events e WHERE e.user_id = a.user_id AND e.name = ANY(ARRAY['purchase']) AND e.occurred_at >= a.assigned_at - make_interval(secs => 1209600) AND e.occurred_at < a.assigned_at GROUP BY e.name) pre
JOIN unnest(ARRAY[1::int8], ARRAY['purchase'], ARRAY['sum'], ARRAY[NULL::float8]) AS m(metric_id, event, rule, cap) ON m.event = pre.name
WHERE a.experiment_id = 1 AND a.assigned_at > '2026-11-15 00:00+00' AND a.assigned_at <= '2026-11-15 00:08:20+00'
ON CONFLICT (experiment_id, metric_id, user_id) DO UPDATE SET value = excluded.value;
ROLLBACK;

\echo '### 9 population hours (store/profiles.rs), every user'
EXPLAIN (ANALYZE, BUFFERS) SELECT name, sum(hours[1])::int8, sum(hours[24])::int8 FROM profile_events WHERE name = ANY(ARRAY['open']) GROUP BY name;
