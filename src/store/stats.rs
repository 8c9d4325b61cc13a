//! Reading the sufficient statistics, and erasing a user while keeping them consistent.

use super::StoreError;
use super::batch::{StatDeltas, apply_stat_deltas};
use super::prepared::Prepared;
use super::schema::{assignments, erasures, events};
use crate::domain::Erased;
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

/// How long an erasure waits for the event transactions in flight.
const ERASURE_LOCK_TIMEOUT_MS: u32 = 3000;

/// Erases a user's assignments and events and takes their share out of the statistics, in
/// one transaction, so the aggregates stay equal to what the remaining rows say. The erasure
/// is logged by `user_key` (the hash the user cache uses, never the id) so that every
/// instance forgets the user at its next refresh. `shard` is the statistics shard the caller
/// adds to (a writer's own, so it never waits on another writer's row locks).
pub fn delete_user(
    conn: &mut PgConnection,
    user_id: &str,
    user_key: u128,
    shard: i16,
) -> Result<Erased, StoreError> {
    conn.transaction(|conn| {
        // First wait for every event transaction in flight (of any instance) to end, and hold
        // new ones back until this erasure commits: an event the database took in before the
        // erasure cannot slip past it. Event intake pauses for the erasure's few milliseconds;
        // if a transaction holds the table longer, the erasure gives up (503, retry) rather
        // than stall intake behind it.
        diesel::sql_query(format!(
            "SET LOCAL lock_timeout = '{ERASURE_LOCK_TIMEOUT_MS}ms'"
        ))
        .execute(conn)?;
        diesel::sql_query("LOCK TABLE events IN SHARE MODE")
            .execute(conn)
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(_, ref info)
                    if info.message().contains("lock timeout") =>
                {
                    StoreError::Unavailable(
                        "event writes in flight did not finish in time; retry the erasure".into(),
                    )
                }
                other => other.into(),
            })?;
        type Removed = (
            i64,
            i64,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            f64,
            Option<String>,
            Option<f64>,
        );
        let removed: Vec<Removed> =
            diesel::delete(assignments::table.filter(assignments::user_id.eq(user_id)))
                .returning((
                    assignments::experiment_id,
                    assignments::variant_id,
                    assignments::assigned_at,
                    assignments::converted_at,
                    assignments::value,
                    assignments::context_key,
                    assignments::counted_value,
                ))
                .get_results(conn)?;
        let mut deltas = StatDeltas::default();
        for (experiment_id, variant_id, assigned_at, converted_at, value, context, counted) in
            &removed
        {
            // What the statistics hold of the user (the goal's total, capped when added).
            let value = counted.unwrap_or(*value);
            let converted = converted_at.is_some();
            let change = |d: &mut super::batch::StatDelta| {
                d.users -= 1;
                d.conversions -= i64::from(converted);
                d.value_sum -= value;
                d.value_sum_sq -= value * value;
                // The expected share stays: the user was assigned under that allocation, and the
                // sample-ratio check compares against what the policy intended at the time.
            };
            deltas.add(*experiment_id, *variant_id, *assigned_at, change);
            if let Some(context) = context {
                deltas.add_context(*experiment_id, *variant_id, context, change);
            }
        }
        apply_stat_deltas(conn, &deltas, shard)?;
        let events =
            diesel::delete(events::table.filter(events::user_id.eq(user_id))).execute(conn)?;
        diesel::delete(
            super::schema::holdout_users::table
                .filter(super::schema::holdout_users::user_id.eq(user_id)),
        )
        .execute(conn)?;
        diesel::insert_into(erasures::table)
            .values(erasures::user_key.eq(user_key.to_be_bytes().to_vec()))
            .execute(conn)?;
        Ok(Erased {
            assignments: removed.len(),
            events,
        })
    })
}

/// Totals of one variant in one context (summed over the writers' shards).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct ContextStats {
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub context_key: String,
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

/// Totals per (variant, context) for the given experiments (all when `None`), ordered by
/// experiment, context and variant.
pub fn load_context_stats(
    conn: &mut PgConnection,
    experiment_ids: Option<&[i64]>,
) -> Result<Vec<ContextStats>, StoreError> {
    const SUMS: &str = "SELECT variant_id, context_key, experiment_id, sum(users)::int8 AS users, \
        sum(conversions)::int8 AS conversions, sum(value_sum) AS value_sum, sum(value_sum_sq) AS value_sum_sq \
        FROM context_stats";
    const GROUP: &str = "GROUP BY experiment_id, context_key, variant_id ORDER BY experiment_id, context_key, variant_id";
    Ok(match experiment_ids {
        Some(ids) => diesel::sql_query(format!("{SUMS} WHERE experiment_id = ANY($1) {GROUP}"))
            .bind::<Array<BigInt>, _>(ids)
            .load(conn)?,
        None => diesel::sql_query(format!("{SUMS} {GROUP}")).load(conn)?,
    })
}

/// Aggregates of the logged assignments of one (context, variant) cell for off-policy
/// evaluation (see `stats::ope::Cell`): r is the user's outcome after assignment (1 if
/// converted else 0, or the value for a revenue goal) and p the logged propensity.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct OpeCell {
    /// Empty for experiments without a context.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub context_key: String,
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = Double)]
    pub sum_r: f64,
    #[diesel(sql_type = Double)]
    pub sum_r2: f64,
    #[diesel(sql_type = Double)]
    pub sum_w: f64,
    #[diesel(sql_type = Double)]
    pub sum_rw: f64,
    #[diesel(sql_type = Double)]
    pub sum_w2: f64,
    #[diesel(sql_type = Double)]
    pub sum_rw2: f64,
    #[diesel(sql_type = Double)]
    pub sum_r2w2: f64,
}

/// One scan of an experiment's assignments, aggregated per (context, variant). Rows with a
/// non-positive propensity (never logged by the server) are left out.
pub fn ope_cells(
    conn: &mut PgConnection,
    experiment_id: i64,
    revenue: bool,
) -> Result<Vec<OpeCell>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT context_key, variant_id, count(*)::int8 AS n, \
           coalesce(sum(r), 0) AS sum_r, coalesce(sum(r * r), 0) AS sum_r2, \
           coalesce(sum(1 / p), 0) AS sum_w, coalesce(sum(r / p), 0) AS sum_rw, \
           coalesce(sum(1 / (p * p)), 0) AS sum_w2, coalesce(sum(r / (p * p)), 0) AS sum_rw2, \
           coalesce(sum(r * r / (p * p)), 0) AS sum_r2w2 \
         FROM (SELECT coalesce(context_key, '') AS context_key, variant_id, propensity AS p, \
                 CASE WHEN $2 THEN value ELSE (converted_at IS NOT NULL)::int::float8 END AS r \
               FROM assignments WHERE experiment_id = $1 AND propensity > 0) AS logged \
         GROUP BY context_key, variant_id ORDER BY context_key, variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<diesel::sql_types::Bool, _>(revenue)
    .load(conn)?)
}

/// The erasures logged after `after_id` or at `since` or later, oldest first: (id, user key).
pub fn erasures_since(
    conn: &mut PgConnection,
    after_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, u128)>, StoreError> {
    let rows: Vec<(i64, Vec<u8>)> = erasures::table
        .filter(erasures::id.gt(after_id).or(erasures::erased_at.ge(since)))
        .order(erasures::id)
        .select((erasures::id, erasures::user_key))
        .limit(100_000)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, key)| Some((id, u128::from_be_bytes(key.try_into().ok()?))))
        .collect())
}

/// The id of the latest logged erasure (0 when there is none).
pub fn latest_erasure(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(erasures::table
        .select(diesel::dsl::max(erasures::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Deletes the erasure log's rows older than `before` (every instance has long read them).
pub fn purge_erasures(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(
        diesel::delete(erasures::table.filter(erasures::erased_at.lt(before))).execute(conn)?
            as u64,
    )
}
