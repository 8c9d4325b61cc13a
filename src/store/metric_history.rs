//! Each metric's cumulative figures per experiment, variant and day (UTC), as they stood at
//! the last write of the day: what `over_time` in the results draws. Aggregates only.

use super::StoreError;
use super::schema::metric_history;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::{count_star, max};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::upsert::excluded;

/// One metric in one variant at the end of one day.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = metric_history)]
pub struct HistoryRow {
    pub experiment_id: i64,
    /// The metric's key in the results (`goal` for the inline goal).
    pub metric_key: String,
    pub variant_id: i64,
    pub day: NaiveDate,
    pub users: i64,
    pub value_mean: f64,
    /// The sequential view of the lift over control (`None` for the control, or absent).
    pub lift_mean: Option<f64>,
    pub lift_low: Option<f64>,
    pub lift_high: Option<f64>,
    pub p_value: Option<f64>,
}

/// What changes whenever an experiment's history does: cheap to read on every results
/// request, so that cached results never show a stale history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryMark {
    pub rows: i64,
    pub last_recorded: Option<DateTime<Utc>>,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

/// Writes the rows, replacing those of the same (experiment, metric, variant, day).
pub fn upsert(conn: &mut PgConnection, rows: &[HistoryRow]) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    Ok(diesel::insert_into(metric_history::table)
        .values(rows)
        .on_conflict((
            metric_history::experiment_id,
            metric_history::metric_key,
            metric_history::variant_id,
            metric_history::day,
        ))
        .do_update()
        .set((
            metric_history::users.eq(excluded(metric_history::users)),
            metric_history::value_mean.eq(excluded(metric_history::value_mean)),
            metric_history::lift_mean.eq(excluded(metric_history::lift_mean)),
            metric_history::lift_low.eq(excluded(metric_history::lift_low)),
            metric_history::lift_high.eq(excluded(metric_history::lift_high)),
            metric_history::p_value.eq(excluded(metric_history::p_value)),
            metric_history::recorded_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?)
}

/// An experiment's history, oldest day first (then by metric and variant).
pub fn of_experiment(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Vec<HistoryRow>, StoreError> {
    Ok(metric_history::table
        .filter(metric_history::experiment_id.eq(experiment_id))
        .order((
            metric_history::day.asc(),
            metric_history::metric_key.asc(),
            metric_history::variant_id.asc(),
        ))
        .select((
            metric_history::experiment_id,
            metric_history::metric_key,
            metric_history::variant_id,
            metric_history::day,
            metric_history::users,
            metric_history::value_mean,
            metric_history::lift_mean,
            metric_history::lift_low,
            metric_history::lift_high,
            metric_history::p_value,
        ))
        .load(conn)?)
}

/// The mark of an experiment's history (one indexed aggregate).
pub fn mark(conn: &mut PgConnection, experiment_id: i64) -> Result<HistoryMark, StoreError> {
    let (rows, last_recorded, first_day, last_day) = metric_history::table
        .filter(metric_history::experiment_id.eq(experiment_id))
        .select((
            count_star(),
            max(metric_history::recorded_at),
            diesel::dsl::min(metric_history::day),
            max(metric_history::day),
        ))
        .first::<(
            i64,
            Option<DateTime<Utc>>,
            Option<NaiveDate>,
            Option<NaiveDate>,
        )>(conn)?;
    Ok(HistoryMark {
        rows,
        last_recorded,
        first_day,
        last_day,
    })
}

/// When each of these experiments' history was last written (those without any are left
/// out).
pub fn last_recorded(
    conn: &mut PgConnection,
    experiment_ids: &[i64],
) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError> {
    let rows: Vec<(i64, Option<DateTime<Utc>>)> = metric_history::table
        .filter(metric_history::experiment_id.eq_any(experiment_ids))
        .group_by(metric_history::experiment_id)
        .select((
            metric_history::experiment_id,
            max(metric_history::recorded_at),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at)| Some((id, at?)))
        .collect())
}
