//! Reading the sufficient statistics, and erasing a user while keeping them consistent.

use super::StoreError;
use super::batch::{StatDeltas, apply_stat_deltas};
use super::prepared::Prepared;
use super::schema::{assignments, events};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Timestamptz};

/// Totals of one variant (summed over the writers' shards).
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct VariantStats {
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = BigInt)]
    pub experiment_id: i64,
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = BigInt)]
    pub conversions: i64,
    #[diesel(sql_type = Double)]
    pub value_sum: f64,
    #[diesel(sql_type = Double)]
    pub value_sum_sq: f64,
}

/// One variant in one hour (summed over the writers' shards).
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct PeriodStats {
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub period_start: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub experiment_id: i64,
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = BigInt)]
    pub conversions: i64,
    #[diesel(sql_type = Double)]
    pub value_sum: f64,
    #[diesel(sql_type = Double)]
    pub value_sum_sq: f64,
    #[diesel(sql_type = Double)]
    pub expected_users: f64,
}

/// Totals per variant for the given experiments (all experiments when `None`).
pub fn load_variant_stats(
    conn: &mut PgConnection,
    experiment_ids: Option<&[i64]>,
) -> Result<Vec<VariantStats>, StoreError> {
    const SUMS: &str = "SELECT variant_id, experiment_id, sum(users)::int8 AS users, \
        sum(conversions)::int8 AS conversions, sum(value_sum) AS value_sum, sum(value_sum_sq) AS value_sum_sq \
        FROM variant_stats";
    let rows = match experiment_ids {
        Some(ids) => diesel::sql_query(format!(
            "{SUMS} WHERE experiment_id = ANY($1) GROUP BY variant_id, experiment_id ORDER BY variant_id"
        ))
        .bind::<Array<BigInt>, _>(ids)
        .load(conn)?,
        None => diesel::sql_query(format!("{SUMS} GROUP BY variant_id, experiment_id ORDER BY variant_id")).load(conn)?,
    };
    Ok(rows)
}

/// How many of the most recent hours stay hourly in [`load_period_stats`]; older ones are
/// merged into UTC days.
pub const HOURLY_WINDOW_HOURS: i32 = 48;

/// Statistics of one experiment by period, oldest first: hours for the last
/// [`HOURLY_WINDOW_HOURS`] hours (when bandit weights move fastest and charts zoom in),
/// UTC days before. A month-long experiment then reads ~80 periods per variant, not 720.
pub fn load_period_stats(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Vec<PeriodStats>, StoreError> {
    Ok(Prepared::new(
        "SELECT variant_id, \
           CASE WHEN period_start >= date_trunc('hour', now()) - make_interval(hours => $2 - 1) \
                THEN period_start ELSE date_trunc('day', period_start, 'UTC') END AS period_start, \
           experiment_id, sum(users)::int8 AS users, \
           sum(conversions)::int8 AS conversions, sum(value_sum) AS value_sum, \
           sum(value_sum_sq) AS value_sum_sq, sum(expected_users) AS expected_users \
         FROM period_stats WHERE experiment_id = $1 \
         GROUP BY 1, 2, 3 ORDER BY 2, 1",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<diesel::sql_types::Integer, _>(HOURLY_WINDOW_HOURS)
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
        // Shard 0: a rare admin action may wait briefly on a writer using the same shard.
        apply_stat_deltas(conn, &deltas, 0)?;
        let events =
            diesel::delete(events::table.filter(events::user_id.eq(user_id))).execute(conn)?;
        diesel::delete(
            super::schema::holdout_users::table
                .filter(super::schema::holdout_users::user_id.eq(user_id)),
        )
        .execute(conn)?;
        Ok(Erased {
            assignments: removed.len(),
            events,
        })
    })
}
