//! The hot-path writes, shaped for group commit: every function takes a whole batch of
//! requests and costs one statement, whatever the batch size.
//!
//! Rows are sent in a fixed order (by experiment and user, by event id, by variant) so that
//! concurrent transactions, in this instance or another, take their row locks in the same
//! order and do not deadlock; a deadlock that still happens is retried by the caller.

use super::StoreError;
use super::prepared::Prepared;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Jsonb, Nullable, SmallInt, Text, Timestamptz,
};
use foldhash::HashMap as FoldHashMap;
use serde_json::Value;
use std::collections::BTreeMap;

/// Runs `f` in one transaction: the unit of group commit.
pub fn transaction<T>(
    conn: &mut PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.transaction(f)
}

/// The hour an assignment belongs to, for period statistics.
pub fn period_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub experiment_id: i64,
    pub user_id: String,
    pub variant_id: i64,
    pub assigned_at: DateTime<Utc>,
    pub propensity: f64,
    pub attributes: Value,
    /// Contextual experiments: the user's context (see `engine::context`).
    pub context_key: Option<String>,
}

#[derive(QueryableByName)]
struct AssignmentKeyRow {
    #[diesel(sql_type = BigInt)]
    experiment_id: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Inserts the assignments that do not exist yet. Returns, for each row, whether it is the
/// one stored: a pair that already exists (another request, instance or earlier life of the
/// server got there first) is left as it is, and of a pair present twice in `rows` only the
/// first occurrence can be stored.
pub fn insert_assignments(
    conn: &mut PgConnection,
    rows: &[&NewAssignment],
) -> Result<Vec<bool>, StoreError> {
    let mut stored = vec![false; rows.len()];
    if rows.is_empty() {
        return Ok(stored);
    }
    let mut first: FoldHashMap<(i64, &str), usize> = FoldHashMap::default();
    for (i, r) in rows.iter().enumerate() {
        first
            .entry((r.experiment_id, r.user_id.as_str()))
            .or_insert(i);
    }
    let mut order: Vec<&NewAssignment> = rows.to_vec();
    order.sort_by(|a, b| (a.experiment_id, &a.user_id).cmp(&(b.experiment_id, &b.user_id)));
    let inserted: Vec<AssignmentKeyRow> = Prepared::new(
        "INSERT INTO assignments (experiment_id, user_id, variant_id, assigned_at, propensity, attributes, context_key) \
         SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::timestamptz[], $5::float8[], $6::jsonb[], $7::text[]) \
         ON CONFLICT (experiment_id, user_id) DO NOTHING \
         RETURNING experiment_id, user_id",
    )
    .bind::<Array<BigInt>, _>(order.iter().map(|r| r.experiment_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(order.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(order.iter().map(|r| r.variant_id).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(order.iter().map(|r| r.assigned_at).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(order.iter().map(|r| r.propensity).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(order.iter().map(|r| &r.attributes).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        order
            .iter()
            .map(|r| r.context_key.as_deref())
            .collect::<Vec<_>>(),
    )
    .load(conn)?;
    for row in &inserted {
        if let Some(&i) = first.get(&(row.experiment_id, row.user_id.as_str())) {
            stored[i] = true;
        }
    }
    Ok(stored)
}

#[derive(QueryableByName)]
struct StoredAssignmentRow {
    #[diesel(sql_type = BigInt)]
    experiment_id: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = BigInt)]
    variant_id: i64,
}

/// The stored variant of each (experiment, user) pair that has one. (The filter on the users
/// adds nothing here; on Citus it lets the query go to their shards only.)
pub fn find_assignments(
    conn: &mut PgConnection,
    keys: &[(i64, String)],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<StoredAssignmentRow> = Prepared::new(
        "SELECT a.experiment_id, a.user_id, a.variant_id FROM assignments a \
         JOIN unnest($1::int8[], $2::text[]) AS q(experiment_id, user_id) \
           ON a.experiment_id = q.experiment_id AND a.user_id = q.user_id \
         WHERE a.user_id = ANY($2)",
    )
    .bind::<Array<BigInt>, _>(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>())
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.experiment_id, r.user_id, r.variant_id))
        .collect())
}

/// Records users as held out (the first time only). Returns how many were new.
pub fn insert_holdout_users(
    conn: &mut PgConnection,
    users: &[(&str, DateTime<Utc>)],
) -> Result<usize, StoreError> {
    if users.is_empty() {
        return Ok(0);
    }
    let mut order: Vec<&(&str, DateTime<Utc>)> = users.iter().collect();
    order.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Prepared::new(
        "INSERT INTO holdout_users (user_id, held_out_at) \
         SELECT * FROM unnest($1::text[], $2::timestamptz[]) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind::<Array<Text>, _>(order.iter().map(|u| u.0).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(order.iter().map(|u| u.1).collect::<Vec<_>>())
    .execute(conn)?)
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub user_id: String,
    pub name: String,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    /// The client sent its event id but no timestamp: `occurred_at` is the server's clock at
    /// arrival, so a retry of the event carries another one (see `insert_events`). False for
    /// an id the server made up (no retry can carry it).
    pub stamped_by_server: bool,
}

/// How long after an event stamped by the server a retry of it (same user and event id, no
/// timestamp either) is still recognised as a duplicate when the two fall on different UTC
/// days (on the same day the partition's unique index recognises it at any distance).
pub const SERVER_STAMPED_RETRY_HORIZON: TimeDelta = TimeDelta::days(1);

/// Where to look for an earlier copy of an event stamped by the server: [occurred_at − the
/// horizon, the start of its UTC day), i.e. the earlier days' partitions only. `None` for an
/// event with a client timestamp (a retry carries the same one, so it lands in the same
/// partition) or when the window is empty.
fn retry_window(e: &NewEvent) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !e.stamped_by_server {
        return None;
    }
    let day_start = e.occurred_at.duration_trunc(TimeDelta::days(1)).ok()?;
    let from = e.occurred_at - SERVER_STAMPED_RETRY_HORIZON;
    (from < day_start).then_some((from, day_start))
}

#[derive(QueryableByName)]
struct EventKeyRow {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    event_id: String,
}

/// The insert of events, duplicates left out by the partitions' unique indexes on (user_id,
/// event_id) (`ON CONFLICT DO NOTHING`: every unique index of the row's partition decides,
/// also against a copy another transaction is inserting at the same moment).
const INSERT_EVENTS: &str = "INSERT INTO events (user_id, event_id, name, value, occurred_at) \
     SELECT d.user_id, d.event_id, d.name, d.value, d.occurred_at \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::timestamptz[]) \
       AS d(user_id, event_id, name, value, occurred_at) \
     ON CONFLICT DO NOTHING RETURNING user_id, event_id";

/// The same, when some events were stamped by the server: those whose retry window (`$6`,
/// `$7`) holds a copy in an earlier day's partition are left out as well. `$8` and `$9` bound
/// every window, so that PostgreSQL opens only those days' partitions (pruned when the
/// statement starts); each event's own window then prunes to one partition per probe, a
/// lookup in its unique index. Events without a window are never probed.
const INSERT_EVENTS_PROBING: &str = "INSERT INTO events (user_id, event_id, name, value, occurred_at) \
     SELECT d.user_id, d.event_id, d.name, d.value, d.occurred_at \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[]) \
       AS d(user_id, event_id, name, value, occurred_at, probe_from, probe_to) \
     WHERE d.probe_from IS NULL OR NOT EXISTS ( \
       SELECT 1 FROM events e WHERE e.user_id = d.user_id AND e.event_id = d.event_id \
         AND e.occurred_at >= d.probe_from AND e.occurred_at < d.probe_to \
         AND e.occurred_at >= $8 AND e.occurred_at < $9) \
     ON CONFLICT DO NOTHING RETURNING user_id, event_id";

/// Inserts the events new for their user. Returns, for each event, whether it is the one
/// stored: a duplicate of an earlier event, or of an earlier one in `events`, is not.
///
/// A duplicate is a retry of a user's event: the same (user, event id) on the same UTC day
/// of `occurred_at` (a client's retry carries the same timestamp, so always), or, for events
/// stamped by the server, within `SERVER_STAMPED_RETRY_HORIZON` on an earlier day. One
/// statement either way; only events stamped by the server are probed for.
pub fn insert_events(
    conn: &mut PgConnection,
    events: &[&NewEvent],
) -> Result<Vec<bool>, StoreError> {
    let mut stored = vec![false; events.len()];
    if events.is_empty() {
        return Ok(stored);
    }
    // Of a (user, event id) twice in the batch only the first is sent: the database would
    // store both if their timestamps fell on different days.
    let mut first: FoldHashMap<(&str, &str), usize> = FoldHashMap::default();
    let mut order: Vec<&NewEvent> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        if let std::collections::hash_map::Entry::Vacant(v) =
            first.entry((e.user_id.as_str(), e.event_id.as_str()))
        {
            v.insert(i);
            order.push(e);
        }
    }
    order.sort_by(|a, b| (&a.user_id, &a.event_id).cmp(&(&b.user_id, &b.event_id)));
    let windows: Vec<Option<(DateTime<Utc>, DateTime<Utc>)>> =
        order.iter().map(|e| retry_window(e)).collect();
    let bounds = windows
        .iter()
        .flatten()
        .fold(None, |b, &(from, to)| match b {
            None => Some((from, to)),
            Some((lo, hi)) => Some((from.min(lo), to.max(hi))),
        });
    let sql = if bounds.is_some() {
        INSERT_EVENTS_PROBING
    } else {
        INSERT_EVENTS
    };
    let (lo, hi) = bounds.unwrap_or_default();
    let rows: Vec<EventKeyRow> = Prepared::new(sql)
        .bind::<Array<Text>, _>(order.iter().map(|e| e.user_id.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            order
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(order.iter().map(|e| e.name.as_str()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Double>>, _>(order.iter().map(|e| e.value).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(order.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(
            windows.iter().map(|w| w.map(|w| w.0)).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Timestamptz>>, _>(
            windows.iter().map(|w| w.map(|w| w.1)).collect::<Vec<_>>(),
        )
        .bind::<Timestamptz, _>(lo)
        .bind::<Timestamptz, _>(hi)
        .load(conn)?;
    for row in &rows {
        if let Some(&i) = first.get(&(row.user_id.as_str(), row.event_id.as_str())) {
            stored[i] = true;
        }
    }
    Ok(stored)
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Which of these users have at least one assignment (in any experiment).
pub fn users_with_assignments(
    conn: &mut PgConnection,
    user_ids: &[&str],
) -> Result<foldhash::HashSet<String>, StoreError> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<UserRow> = Prepared::new(
        "SELECT q.user_id FROM unnest($1::text[]) AS q(user_id) \
         WHERE EXISTS (SELECT 1 FROM assignments a WHERE a.user_id = q.user_id)",
    )
    .bind::<Array<Text>, _>(user_ids)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.user_id).collect())
}

/// A user's assignment in an experiment whose goal or tracked metrics may count an incoming
/// event, with the goal's progress so far. Locked for the rest of the transaction.
#[derive(Debug, Clone, QueryableByName)]
pub struct GoalProgress {
    #[diesel(sql_type = BigInt)]
    pub experiment_id: i64,
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
    /// The goal's total as the statistics hold it (capped at the goal's value cap when it
    /// was added).
    #[diesel(sql_type = Double)]
    pub counted_value: f64,
    #[diesel(sql_type = Nullable<Text>)]
    pub context_key: Option<String>,
    #[diesel(embed)]
    pub goal: GoalRule,
}

/// How an experiment's goal counts events (see `domain::GoalCounting`), as its row keeps it.
#[derive(Debug, Clone, Default, PartialEq, QueryableByName)]
pub struct GoalRule {
    #[diesel(sql_type = Text)]
    pub goal_event: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub goal_window_seconds: Option<i64>,
    #[diesel(sql_type = Bool)]
    pub goal_of_count: bool,
    #[diesel(sql_type = Nullable<Double>)]
    pub goal_cap_value: Option<f64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub goal_from_seconds: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub goal_to_seconds: Option<i64>,
}

/// Assignments of these users in live (running or paused) experiments whose goal, or one of
/// whose tracked metrics, counts one of these event names, locked `FOR UPDATE` (in one
/// order) so that concurrent writers and recomputations add up exactly.
pub fn lock_progress(
    conn: &mut PgConnection,
    user_ids: &[&str],
    event_names: &[&str],
) -> Result<Vec<GoalProgress>, StoreError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(Prepared::new(
        "SELECT a.experiment_id, a.user_id, a.variant_id, a.assigned_at, a.converted_at, a.value, \
           coalesce(a.counted_value, a.value) AS counted_value, x.goal_event, a.context_key, \
           x.goal_window_seconds, x.goal_of_count, x.goal_cap_value, x.goal_from_seconds, x.goal_to_seconds \
         FROM assignments a JOIN experiments x ON x.id = a.experiment_id \
         WHERE a.user_id = ANY($1) AND x.status IN ('running', 'paused') \
           AND (x.goal_event = ANY($2) OR EXISTS (SELECT 1 FROM tracked_metrics tm JOIN metrics m ON m.id = tm.metric_id \
                                                  WHERE tm.experiment_id = x.id AND m.event = ANY($2))) \
         ORDER BY a.experiment_id, a.user_id \
         FOR UPDATE OF a",
    )
    .bind::<Array<Text>, _>(user_ids)
    .bind::<Array<Text>, _>(event_names)
    .load(conn)?)
}

pub fn save_goal_progress(
    conn: &mut PgConnection,
    progress: &[&GoalProgress],
) -> Result<(), StoreError> {
    if progress.is_empty() {
        return Ok(());
    }
    Prepared::new(
        "UPDATE assignments a SET converted_at = d.converted_at, value = d.value, counted_value = d.counted_value \
         FROM unnest($1::int8[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[]) \
           AS d(experiment_id, user_id, converted_at, value, counted_value) \
         WHERE a.experiment_id = d.experiment_id AND a.user_id = d.user_id",
    )
    .bind::<Array<BigInt>, _>(progress.iter().map(|o| o.experiment_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        progress
            .iter()
            .map(|o| o.user_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Timestamptz>>, _>(
        progress.iter().map(|o| o.converted_at).collect::<Vec<_>>(),
    )
    .bind::<Array<Double>, _>(progress.iter().map(|o| o.value).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(progress.iter().map(|o| o.counted_value).collect::<Vec<_>>())
    .execute(conn)?;
    Ok(())
}

/// A change to the sufficient statistics of one variant in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatDelta {
    pub users: i64,
    pub conversions: i64,
    pub value_sum: f64,
    pub value_sum_sq: f64,
    pub expected_users: f64,
}

/// Statistics changes gathered over a batch, applied in one go.
#[derive(Debug, Default)]
pub struct StatDeltas {
    /// (variant, period) → (experiment, change)
    by_period: BTreeMap<(i64, DateTime<Utc>), (i64, StatDelta)>,
    /// (variant, context) → (experiment, change): contextual experiments only.
    by_context: BTreeMap<(i64, String), (i64, StatDelta)>,
}

impl StatDeltas {
    pub fn add(
        &mut self,
        experiment_id: i64,
        variant_id: i64,
        assigned_at: DateTime<Utc>,
        f: impl FnOnce(&mut StatDelta),
    ) {
        let entry = self
            .by_period
            .entry((variant_id, period_of(assigned_at)))
            .or_insert((experiment_id, StatDelta::default()));
        f(&mut entry.1);
    }

    /// Adds to the statistics of one variant in one context (besides [`StatDeltas::add`]).
    pub fn add_context(
        &mut self,
        experiment_id: i64,
        variant_id: i64,
        context_key: &str,
        f: impl FnOnce(&mut StatDelta),
    ) {
        let entry = match self
            .by_context
            .get_mut(&(variant_id, context_key.to_string()))
        {
            Some(entry) => entry,
            None => self
                .by_context
                .entry((variant_id, context_key.to_string()))
                .or_insert((experiment_id, StatDelta::default())),
        };
        f(&mut entry.1);
    }

    pub fn is_empty(&self) -> bool {
        self.by_period.is_empty() && self.by_context.is_empty()
    }

    /// The change per (variant, context).
    pub fn context_totals(&self) -> &BTreeMap<(i64, String), (i64, StatDelta)> {
        &self.by_context
    }

    /// The change per variant over all periods.
    pub fn totals(&self) -> BTreeMap<i64, StatDelta> {
        let mut totals: BTreeMap<i64, StatDelta> = BTreeMap::new();
        for (&(variant, _), (_, d)) in &self.by_period {
            let t = totals.entry(variant).or_default();
            t.users += d.users;
            t.conversions += d.conversions;
            t.value_sum += d.value_sum;
            t.value_sum_sq += d.value_sum_sq;
            t.expected_users += d.expected_users;
        }
        totals
    }
}

/// Shards of the statistics rows: each writer adds to its own shard (see the migration).
pub const STAT_SHARDS: i16 = 32;

/// Adds the deltas to the `shard` rows of `period_stats` and `variant_stats`.
pub fn apply_stat_deltas(
    conn: &mut PgConnection,
    deltas: &StatDeltas,
    shard: i16,
) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = deltas.by_period.iter().collect();
    Prepared::new(
        "INSERT INTO period_stats (variant_id, period_start, shard, experiment_id, users, conversions, value_sum, value_sum_sq, expected_users) \
         SELECT d.variant_id, d.period_start, $9, d.experiment_id, d.users, d.conversions, d.value_sum, d.value_sum_sq, d.expected_users \
         FROM unnest($1::int8[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::float8[], $7::float8[], $8::float8[]) \
           AS d(variant_id, period_start, experiment_id, users, conversions, value_sum, value_sum_sq, expected_users) \
         ON CONFLICT (variant_id, period_start, shard) DO UPDATE SET \
           users = period_stats.users + EXCLUDED.users, \
           conversions = period_stats.conversions + EXCLUDED.conversions, \
           value_sum = period_stats.value_sum + EXCLUDED.value_sum, \
           value_sum_sq = period_stats.value_sum_sq + EXCLUDED.value_sum_sq, \
           expected_users = period_stats.expected_users + EXCLUDED.expected_users",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.0).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.1.users).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.1.conversions).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, v)| v.1.value_sum).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, v)| v.1.value_sum_sq).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, v)| v.1.expected_users).collect::<Vec<_>>())
    .bind::<SmallInt, _>(shard)
    .execute(conn)?;

    let experiment_of: BTreeMap<i64, i64> =
        deltas.by_period.iter().map(|(k, v)| (k.0, v.0)).collect();
    let totals: Vec<(i64, StatDelta)> = deltas.totals().into_iter().collect();
    Prepared::new(
        "INSERT INTO variant_stats (variant_id, shard, experiment_id, users, conversions, value_sum, value_sum_sq) \
         SELECT d.variant_id, $7, d.experiment_id, d.users, d.conversions, d.value_sum, d.value_sum_sq \
         FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::float8[], $6::float8[]) \
           AS d(variant_id, experiment_id, users, conversions, value_sum, value_sum_sq) \
         ON CONFLICT (variant_id, shard) DO UPDATE SET \
           users = variant_stats.users + EXCLUDED.users, \
           conversions = variant_stats.conversions + EXCLUDED.conversions, \
           value_sum = variant_stats.value_sum + EXCLUDED.value_sum, \
           value_sum_sq = variant_stats.value_sum_sq + EXCLUDED.value_sum_sq",
    )
    .bind::<Array<BigInt>, _>(totals.iter().map(|t| t.0).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(totals.iter().map(|t| experiment_of[&t.0]).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(totals.iter().map(|t| t.1.users).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(totals.iter().map(|t| t.1.conversions).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(totals.iter().map(|t| t.1.value_sum).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(totals.iter().map(|t| t.1.value_sum_sq).collect::<Vec<_>>())
    .bind::<SmallInt, _>(shard)
    .execute(conn)?;
    apply_context_deltas(conn, deltas, shard)
}

/// Adds the per-context deltas to the `shard` rows of `context_stats` (nothing to do, and no
/// statement, for experiments without a context).
fn apply_context_deltas(
    conn: &mut PgConnection,
    deltas: &StatDeltas,
    shard: i16,
) -> Result<(), StoreError> {
    if deltas.by_context.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = deltas.by_context.iter().collect();
    Prepared::new(
        "INSERT INTO context_stats (variant_id, context_key, shard, experiment_id, users, conversions, value_sum, value_sum_sq) \
         SELECT d.variant_id, d.context_key, $8, d.experiment_id, d.users, d.conversions, d.value_sum, d.value_sum_sq \
         FROM unnest($1::int8[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::float8[], $7::float8[]) \
           AS d(variant_id, context_key, experiment_id, users, conversions, value_sum, value_sum_sq) \
         ON CONFLICT (variant_id, context_key, shard) DO UPDATE SET \
           users = context_stats.users + EXCLUDED.users, \
           conversions = context_stats.conversions + EXCLUDED.conversions, \
           value_sum = context_stats.value_sum + EXCLUDED.value_sum, \
           value_sum_sq = context_stats.value_sum_sq + EXCLUDED.value_sum_sq",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|(k, _)| k.1.as_str()).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.0).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.1.users).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, v)| v.1.conversions).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, v)| v.1.value_sum).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|(_, v)| v.1.value_sum_sq).collect::<Vec<_>>())
    .bind::<SmallInt, _>(shard)
    .execute(conn)?;
    Ok(())
}
