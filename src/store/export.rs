//! Reading raw rows for exports, one page at a time by keyset (never the whole table):
//! assignments ordered by (assigned_at, user_id), goal events by (user_id, event_id,
//! occurred_at). Each page is one short query, so an export holds no long transaction and no
//! server cursor.

use super::StoreError;
use super::schema::{assignments, events, metric_values, metrics, tracked_metrics};
use super::stats::PeriodStats;
use crate::domain::TimeRange;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, Queryable)]
pub struct AssignmentRow {
    pub user_id: String,
    pub variant_id: i64,
    pub assigned_at: DateTime<Utc>,
    pub propensity: f64,
    pub attributes: Value,
    pub converted_at: Option<DateTime<Utc>>,
    pub value: f64,
    pub context_key: Option<String>,
}

/// Up to `limit` assignments of an experiment after the keyset position `after`.
pub fn assignments_page(
    conn: &mut PgConnection,
    experiment_id: i64,
    range: TimeRange,
    after: Option<&(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<Vec<AssignmentRow>, StoreError> {
    let mut query = assignments::table
        .filter(assignments::experiment_id.eq(experiment_id))
        .into_boxed();
    if let Some(from) = range.from() {
        query = query.filter(assignments::assigned_at.ge(from));
    }
    if let Some(to) = range.to() {
        query = query.filter(assignments::assigned_at.lt(to));
    }
    if let Some((at, user)) = after {
        // The first condition lets PostgreSQL start the index range at the position.
        query = query.filter(assignments::assigned_at.ge(*at)).filter(
            assignments::assigned_at
                .gt(*at)
                .or(assignments::user_id.gt(user.clone())),
        );
    }
    Ok(query
        .order((assignments::assigned_at, assignments::user_id))
        .limit(limit)
        .select((
            assignments::user_id,
            assignments::variant_id,
            assignments::assigned_at,
            assignments::propensity,
            assignments::attributes,
            assignments::converted_at,
            assignments::value,
            assignments::context_key,
        ))
        .load(conn)?)
}

#[derive(Debug, Clone, Queryable)]
pub struct EventRow {
    pub event_id: String,
    pub user_id: String,
    pub name: String,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub variant_id: i64,
    pub assigned_at: DateTime<Utc>,
}

/// Up to `limit` events named `name` of users assigned to the experiment, after `after`.
pub fn events_page(
    conn: &mut PgConnection,
    experiment_id: i64,
    name: &str,
    range: TimeRange,
    after: Option<&(String, String, DateTime<Utc>)>,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let mut query = events::table
        .inner_join(
            assignments::table.on(assignments::user_id
                .eq(events::user_id)
                .and(assignments::experiment_id.eq(experiment_id))),
        )
        .filter(events::name.eq(name.to_string()))
        .into_boxed();
    if let Some(from) = range.from() {
        query = query.filter(events::occurred_at.ge(from));
    }
    if let Some(to) = range.to() {
        query = query.filter(events::occurred_at.lt(to));
    }
    if let Some((user, id, at)) = after {
        // Keyset pagination on (user, event id, time): a (user, event id) may be stored on
        // more than one day (a client's retry with another timestamp).
        query = query.filter(events::user_id.ge(user.clone())).filter(
            events::user_id
                .gt(user.clone())
                .or(events::event_id.gt(id.clone()))
                .or(events::event_id
                    .eq(id.clone())
                    .and(events::occurred_at.gt(*at))),
        );
    }
    Ok(query
        .order((events::user_id, events::event_id, events::occurred_at))
        .limit(limit)
        .select((
            events::event_id,
            events::user_id,
            events::name,
            events::value,
            events::occurred_at,
            events::received_at,
            assignments::variant_id,
            assignments::assigned_at,
        ))
        .load(conn)?)
}

/// Hourly statistics of one experiment whose hour starts within the range, oldest first
/// (summed over the writers' shards, as `load_period_stats` does).
pub fn period_stats_in(
    conn: &mut PgConnection,
    experiment_id: i64,
    range: TimeRange,
) -> Result<Vec<PeriodStats>, StoreError> {
    use diesel::sql_types::{BigInt, Nullable, Timestamptz};
    Ok(diesel::sql_query(
        "SELECT variant_id, period_start, experiment_id, sum(users)::int8 AS users, \
           sum(conversions)::int8 AS conversions, sum(value_sum) AS value_sum, \
           sum(value_sum_sq) AS value_sum_sq, sum(expected_users) AS expected_users \
         FROM period_stats WHERE experiment_id = $1 \
           AND ($2::timestamptz IS NULL OR period_start >= $2) \
           AND ($3::timestamptz IS NULL OR period_start < $3) \
         GROUP BY variant_id, period_start, experiment_id ORDER BY period_start, variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<Nullable<Timestamptz>, _>(range.from())
    .bind::<Nullable<Timestamptz>, _>(range.to())
    .load(conn)?)
}

/// The metrics an experiment keeps per-user values of (its declared metrics and its ratios'
/// parts; a ratio has none of its own), by key: (id, key).
pub fn per_user_metrics(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(tracked_metrics::table
        .inner_join(metrics::table.on(metrics::id.eq(tracked_metrics::metric_id)))
        .filter(tracked_metrics::experiment_id.eq(experiment_id))
        .filter(metrics::metric_type.ne("ratio"))
        .order(metrics::key)
        .select((metrics::id, metrics::key))
        .load(conn)?)
}

/// The stored values of these metrics for these users of an experiment: (user, metric, value).
pub fn user_values(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_ids: &[i64],
    users: &[&str],
) -> Result<Vec<(String, i64, f64)>, StoreError> {
    Ok(metric_values::table
        .filter(metric_values::experiment_id.eq(experiment_id))
        .filter(metric_values::metric_id.eq_any(metric_ids))
        .filter(metric_values::user_id.eq_any(users))
        .select((
            metric_values::user_id,
            metric_values::metric_id,
            metric_values::value,
        ))
        .load(conn)?)
}
