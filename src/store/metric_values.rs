//! Per-user metric values and their statistics: what the writer and the recomputation read
//! and write. The per-user rows are serialized by the caller's lock on the user's assignment
//! row (the writer's `lock_progress`, the recomputation's `lock_assignment_page`).

use super::StoreError;
use super::prepared::Prepared;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Nullable, SmallInt, Text, Timestamptz};
use std::collections::BTreeMap;

/// A tracked metric's counting rule, as the writer needs it (a ratio has none: its parts
/// count).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct CountingRow {
    #[diesel(sql_type = BigInt)]
    pub experiment_id: i64,
    #[diesel(sql_type = BigInt)]
    pub metric_id: i64,
    #[diesel(sql_type = Text)]
    pub metric_type: String,
    #[diesel(sql_type = Text)]
    pub event: String,
    #[diesel(sql_type = Bool)]
    pub of_count: bool,
    #[diesel(sql_type = Nullable<Double>)]
    pub cap_value: Option<f64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub window_seconds: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub from_seconds: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub to_seconds: Option<i64>,
}

const COUNTING_COLUMNS: &str = "tm.experiment_id, m.id AS metric_id, m.type AS metric_type, \
     m.event, m.of_count, m.cap_value, m.window_seconds, m.from_seconds, m.to_seconds";

/// The counting rules of the metrics these experiments track whose event is one of `names`.
pub fn counting_rules(
    conn: &mut PgConnection,
    experiment_ids: &[i64],
    names: &[&str],
) -> Result<Vec<CountingRow>, StoreError> {
    if experiment_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(Prepared::new(
        "SELECT tm.experiment_id, m.id AS metric_id, m.type AS metric_type, m.event, m.of_count, \
         m.cap_value, m.window_seconds, m.from_seconds, m.to_seconds \
         FROM tracked_metrics tm JOIN metrics m ON m.id = tm.metric_id \
         WHERE tm.experiment_id = ANY($1) AND m.event = ANY($2) \
         ORDER BY tm.experiment_id, m.id",
    )
    .bind::<Array<BigInt>, _>(experiment_ids)
    .bind::<Array<Text>, _>(names)
    .load(conn)?)
}

/// The counting rule of one tracked metric (`None` for a ratio or a metric not tracked).
pub fn counting_rule(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_id: i64,
) -> Result<Option<CountingRow>, StoreError> {
    Ok(diesel::sql_query(format!(
        "SELECT {COUNTING_COLUMNS} FROM tracked_metrics tm JOIN metrics m ON m.id = tm.metric_id \
         WHERE tm.experiment_id = $1 AND m.id = $2 AND m.event IS NOT NULL"
    ))
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(metric_id)
    .get_result(conn)
    .optional()?)
}

/// What one metric has counted of one user so far.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct MetricValueRow {
    #[diesel(sql_type = BigInt)]
    pub experiment_id: i64,
    #[diesel(sql_type = BigInt)]
    pub metric_id: i64,
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub assigned_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub events: i64,
    #[diesel(sql_type = Double)]
    pub value_sum: f64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_at: Option<DateTime<Utc>>,
    /// The user's value as the statistics hold it.
    #[diesel(sql_type = Double)]
    pub value: f64,
}

/// The stored values of these (experiment, metric, user) triples (absent: nothing counted).
pub fn metric_values_of(
    conn: &mut PgConnection,
    keys: &[(i64, i64, &str)],
) -> Result<Vec<MetricValueRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(Prepared::new(
        "SELECT v.experiment_id, v.metric_id, v.user_id, v.variant_id, v.assigned_at, v.events, \
         v.value_sum, v.first_at, v.value \
         FROM unnest($1::int8[], $2::int8[], $3::text[]) AS k(experiment_id, metric_id, user_id) \
         JOIN metric_values v ON v.experiment_id = k.experiment_id AND v.metric_id = k.metric_id \
           AND v.user_id = k.user_id",
    )
    .bind::<Array<BigInt>, _>(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(keys.iter().map(|k| k.2).collect::<Vec<_>>())
    .load(conn)?)
}

/// Writes these values (a row with no event is deleted: nothing counted is no row).
pub fn save_metric_values(
    conn: &mut PgConnection,
    rows: &[&MetricValueRow],
) -> Result<(), StoreError> {
    let (kept, gone): (Vec<&&MetricValueRow>, Vec<&&MetricValueRow>) =
        rows.iter().partition(|r| r.events > 0);
    if !kept.is_empty() {
        Prepared::new(
            "INSERT INTO metric_values (experiment_id, metric_id, user_id, variant_id, assigned_at, events, value_sum, first_at, value) \
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::timestamptz[], $6::int8[], $7::float8[], $8::timestamptz[], $9::float8[]) \
             ON CONFLICT (experiment_id, metric_id, user_id) DO UPDATE SET \
               events = EXCLUDED.events, value_sum = EXCLUDED.value_sum, first_at = EXCLUDED.first_at, \
               value = EXCLUDED.value",
        )
        .bind::<Array<BigInt>, _>(kept.iter().map(|r| r.experiment_id).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(kept.iter().map(|r| r.metric_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(kept.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(kept.iter().map(|r| r.variant_id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(kept.iter().map(|r| r.assigned_at).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(kept.iter().map(|r| r.events).collect::<Vec<_>>())
        .bind::<Array<Double>, _>(kept.iter().map(|r| r.value_sum).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(
            kept.iter().map(|r| r.first_at).collect::<Vec<_>>(),
        )
        .bind::<Array<Double>, _>(kept.iter().map(|r| r.value).collect::<Vec<_>>())
        .execute(conn)?;
    }
    if !gone.is_empty() {
        Prepared::new(
            "DELETE FROM metric_values v USING unnest($1::int8[], $2::int8[], $3::text[]) \
               AS k(experiment_id, metric_id, user_id) \
             WHERE v.experiment_id = k.experiment_id AND v.metric_id = k.metric_id \
               AND v.user_id = k.user_id",
        )
        .bind::<Array<BigInt>, _>(gone.iter().map(|r| r.experiment_id).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(gone.iter().map(|r| r.metric_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(gone.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>())
        .execute(conn)?;
    }
    Ok(())
}

/// A change to one metric's statistics in one variant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricDelta {
    pub users: i64,
    pub total: f64,
    pub total_sq: f64,
}

/// Metric statistics changes gathered over a batch: (experiment, metric, variant) → change.
pub type MetricDeltas = BTreeMap<(i64, i64, i64), MetricDelta>;

/// Adds the deltas to the `shard` rows of `metric_stats`.
pub fn apply_metric_deltas(
    conn: &mut PgConnection,
    deltas: &MetricDeltas,
    shard: i16,
) -> Result<(), StoreError> {
    let rows: Vec<_> = deltas
        .iter()
        .filter(|(_, d)| **d != MetricDelta::default())
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    Prepared::new(
        "INSERT INTO metric_stats (experiment_id, metric_id, variant_id, shard, users, total, total_sq) \
         SELECT d.experiment_id, d.metric_id, d.variant_id, $7, d.users, d.total, d.total_sq \
         FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::float8[], $6::float8[]) \
           AS d(experiment_id, metric_id, variant_id, users, total, total_sq) \
         ON CONFLICT (experiment_id, metric_id, variant_id, shard) DO UPDATE SET \
           users = metric_stats.users + EXCLUDED.users, \
           total = metric_stats.total + EXCLUDED.total, \
           total_sq = metric_stats.total_sq + EXCLUDED.total_sq",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, d)| d.users).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, d)| d.total).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, d)| d.total_sq).collect::<Vec<_>>())
    .bind::<SmallInt, _>(shard)
    .execute(conn)?;
    Ok(())
}

/// The tracked metrics whose values lag their definition (`computed_version` behind the
/// metric's version), ratios first settled (they count through their parts).
pub fn stale_tracked_metrics(conn: &mut PgConnection) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    diesel::sql_query(
        "UPDATE tracked_metrics tm SET computed_version = m.version FROM metrics m \
         WHERE m.id = tm.metric_id AND m.type = 'ratio' AND tm.computed_version < m.version",
    )
    .execute(conn)?;
    #[derive(QueryableByName)]
    struct Stale {
        #[diesel(sql_type = BigInt)]
        experiment_id: i64,
        #[diesel(sql_type = BigInt)]
        metric_id: i64,
        #[diesel(sql_type = BigInt)]
        version: i64,
    }
    let rows: Vec<Stale> = diesel::sql_query(
        "SELECT tm.experiment_id, tm.metric_id, m.version FROM tracked_metrics tm \
         JOIN metrics m ON m.id = tm.metric_id \
         WHERE tm.computed_version < m.version ORDER BY tm.experiment_id, tm.metric_id",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.experiment_id, r.metric_id, r.version))
        .collect())
}

/// Records that the values of a tracked metric reflect `version` of its definition.
pub fn mark_computed(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_id: i64,
    version: i64,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "UPDATE tracked_metrics SET computed_version = $3 \
         WHERE experiment_id = $1 AND metric_id = $2 AND computed_version < $3",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(metric_id)
    .bind::<BigInt, _>(version)
    .execute(conn)?;
    Ok(())
}

/// One enrolled user of a page of an experiment's assignments, with the goal's progress.
#[derive(Debug, Clone, QueryableByName)]
pub struct AssignedUser {
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub assigned_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub converted_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Double)]
    pub value: f64,
    /// The goal's total as the statistics hold it.
    #[diesel(sql_type = Double)]
    pub counted_value: f64,
    #[diesel(sql_type = Nullable<Text>)]
    pub context_key: Option<String>,
}

/// The next `limit` assignments of an experiment after `after` (by user id), locked for the
/// rest of the transaction, as the writer locks them.
pub fn lock_assignment_page(
    conn: &mut PgConnection,
    experiment_id: i64,
    after: &str,
    limit: i64,
) -> Result<Vec<AssignedUser>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT user_id, variant_id, assigned_at, converted_at, value, \
           coalesce(counted_value, value) AS counted_value, context_key FROM assignments \
         WHERE experiment_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3 FOR UPDATE",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<Text, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// What a recomputation needs of the experiment: when it stopped (events that arrived later
/// were never counted), and whether the metric is where its goal comes from.
#[derive(Debug, Clone, QueryableByName)]
pub struct RecomputeScope {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub stopped_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    pub goal_source: bool,
    #[diesel(embed)]
    pub goal: super::batch::GoalRule,
}

pub fn recompute_scope(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_id: i64,
) -> Result<Option<RecomputeScope>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT x.stopped_at, (x.goal_metric_id = $2 OR m.numerator_id = $2) IS TRUE AS goal_source, \
           x.goal_event, x.goal_window_seconds, x.goal_of_count, x.goal_cap_value, x.goal_from_seconds, x.goal_to_seconds \
         FROM experiments x LEFT JOIN metrics m ON m.id = x.goal_metric_id AND m.type = 'ratio' \
         WHERE x.id = $1",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(metric_id)
    .get_result(conn)
    .optional()?)
}

/// A raw event, as a recomputation reads it.
#[derive(Debug, Clone, QueryableByName)]
pub struct RawEvent {
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Nullable<Double>)]
    pub value: Option<f64>,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
}

/// The events of these users with this name that reached the server by `received_by` (the
/// experiment's stop: later events were never attributed), in the order they happened.
pub fn raw_events(
    conn: &mut PgConnection,
    user_ids: &[&str],
    name: &str,
    received_by: Option<DateTime<Utc>>,
) -> Result<Vec<RawEvent>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT user_id, value, occurred_at FROM events \
         WHERE user_id = ANY($1) AND name = $2 AND ($3::timestamptz IS NULL OR received_at <= $3) \
         ORDER BY occurred_at, user_id, event_id",
    )
    .bind::<Array<Text>, _>(user_ids)
    .bind::<Text, _>(name)
    .bind::<Nullable<Timestamptz>, _>(received_by)
    .load(conn)?)
}

/// A user's stored values in every metric, with each metric's counting rule (for erasure).
pub fn user_metric_values(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<Vec<(MetricValueRow, CountingRow)>, StoreError> {
    #[derive(QueryableByName)]
    struct Both {
        #[diesel(embed)]
        value: MetricValueRow,
        #[diesel(embed)]
        rule: CountingRow,
    }
    let rows: Vec<Both> = diesel::sql_query(format!(
        "SELECT v.experiment_id, v.metric_id, v.user_id, v.variant_id, v.assigned_at, v.events, \
         v.value_sum, v.first_at, v.value, {} \
         FROM metric_values v JOIN tracked_metrics tm ON tm.experiment_id = v.experiment_id \
           AND tm.metric_id = v.metric_id JOIN metrics m ON m.id = v.metric_id \
         WHERE v.user_id = $1",
        COUNTING_COLUMNS.replace("tm.experiment_id, m.id AS metric_id, ", "")
    ))
    .bind::<Text, _>(user_id)
    .load(conn)?;
    Ok(rows.into_iter().map(|b| (b.value, b.rule)).collect())
}

/// Deletes a user's metric values (erasure).
pub fn delete_user_metric_values(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<u64, StoreError> {
    Ok(
        diesel::sql_query("DELETE FROM metric_values WHERE user_id = $1")
            .bind::<Text, _>(user_id)
            .execute(conn)? as u64,
    )
}
