//! Reading the sufficient statistics, and erasing a user while keeping them consistent.

use super::StoreError;
use super::batch::{StatDeltas, apply_stat_deltas};
use super::schema::{assignments, events, period_stats, variant_stats};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Queryable, Selectable)]
#[diesel(table_name = variant_stats, check_for_backend(diesel::pg::Pg))]
pub struct VariantStats {
    pub variant_id: i64,
    pub experiment_id: i64,
    pub users: i64,
    pub conversions: i64,
    pub value_sum: f64,
    pub value_sum_sq: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Queryable, Selectable)]
#[diesel(table_name = period_stats, check_for_backend(diesel::pg::Pg))]
pub struct PeriodStats {
    pub variant_id: i64,
    pub period_start: DateTime<Utc>,
    pub experiment_id: i64,
    pub users: i64,
    pub conversions: i64,
    pub value_sum: f64,
    pub value_sum_sq: f64,
    pub expected_users: f64,
}

/// Totals per variant for the given experiments (all experiments when `None`).
pub fn load_variant_stats(
    conn: &mut PgConnection,
    experiment_ids: Option<&[i64]>,
) -> Result<Vec<VariantStats>, StoreError> {
    let mut query = variant_stats::table
        .select(VariantStats::as_select())
        .into_boxed();
    if let Some(ids) = experiment_ids {
        query = query.filter(variant_stats::experiment_id.eq_any(ids.to_vec()));
    }
    Ok(query.order(variant_stats::variant_id).load(conn)?)
}

/// Hourly statistics of one experiment, oldest first.
pub fn load_period_stats(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Vec<PeriodStats>, StoreError> {
    Ok(period_stats::table
        .filter(period_stats::experiment_id.eq(experiment_id))
        .order((period_stats::period_start, period_stats::variant_id))
        .select(PeriodStats::as_select())
        .load(conn)?)
}

/// What erasing a user removed.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Erased {
    pub assignments: usize,
    pub events: usize,
}

/// Erases a user's assignments and events and takes their share out of the statistics, in
/// one transaction, so the aggregates stay equal to what the remaining rows say.
pub fn delete_user(conn: &mut PgConnection, user_id: &str) -> Result<Erased, StoreError> {
    conn.transaction(|conn| {
        let removed: Vec<(i64, i64, DateTime<Utc>, Option<DateTime<Utc>>, f64)> =
            diesel::delete(assignments::table.filter(assignments::user_id.eq(user_id)))
                .returning((
                    assignments::experiment_id,
                    assignments::variant_id,
                    assignments::assigned_at,
                    assignments::converted_at,
                    assignments::value,
                ))
                .get_results(conn)?;
        let mut deltas = StatDeltas::default();
        for &(experiment_id, variant_id, assigned_at, converted_at, value) in &removed {
            deltas.add(experiment_id, variant_id, assigned_at, |d| {
                d.users -= 1;
                d.conversions -= i64::from(converted_at.is_some());
                d.value_sum -= value;
                d.value_sum_sq -= value * value;
                // The expected share stays: the user was assigned under that allocation, and the
                // sample-ratio check compares against what the policy intended at the time.
            });
        }
        apply_stat_deltas(conn, &deltas)?;
        let events =
            diesel::delete(events::table.filter(events::user_id.eq(user_id))).execute(conn)?;
        Ok(Erased {
            assignments: removed.len(),
            events,
        })
    })
}
