//! What results read of an experiment's metrics: the per-variant sums the writer keeps, and
//! the figures that need the per-user values (a percentile cap, a retention window that has
//! to have closed, a ratio's cross products), computed by PostgreSQL over `metric_values`.

use super::StoreError;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};

/// One tracked metric's sums in one variant (summed over the writers' shards), with the
/// metric's type, its version and the version its values reflect. `variant_id` is `None` for a metric
/// with no statistics yet.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct MetricSumRow {
    #[diesel(sql_type = BigInt)]
    pub metric_id: i64,
    #[diesel(sql_type = Text)]
    pub metric_type: String,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = BigInt)]
    pub computed_version: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub variant_id: Option<i64>,
    /// Users with a value.
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = Double)]
    pub total: f64,
    #[diesel(sql_type = Double)]
    pub total_sq: f64,
    /// CUPED: every user assigned up to here has their covariate, computed with this lookback.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub covariates_through: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub covariates_lookback: Option<i64>,
}

/// The sums of every metric an experiment tracks, by metric and variant.
pub fn tracked_metric_sums(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Vec<MetricSumRow>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT tm.metric_id, m.type AS metric_type, m.version, tm.computed_version, s.variant_id, \
           coalesce(sum(s.users), 0)::int8 AS users, coalesce(sum(s.total), 0) AS total, \
           coalesce(sum(s.total_sq), 0) AS total_sq, tm.covariates_through, tm.covariates_lookback \
         FROM tracked_metrics tm JOIN metrics m ON m.id = tm.metric_id \
         LEFT JOIN metric_stats s ON s.experiment_id = tm.experiment_id AND s.metric_id = tm.metric_id \
         WHERE tm.experiment_id = $1 \
         GROUP BY tm.metric_id, m.type, m.version, tm.computed_version, s.variant_id, \
           tm.covariates_through, tm.covariates_lookback \
         ORDER BY tm.metric_id, s.variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .load(conn)?)
}

#[derive(QueryableByName)]
struct Quantile {
    #[diesel(sql_type = Nullable<Double>)]
    q: Option<f64>,
}

/// The `p`-quantile (linear interpolation) of the values of the users who have one; `None`
/// when nobody has.
pub fn value_quantile(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_id: i64,
    p: f64,
) -> Result<Option<f64>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT percentile_cont($3) WITHIN GROUP (ORDER BY value) AS q \
         FROM metric_values WHERE experiment_id = $1 AND metric_id = $2",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(metric_id)
    .bind::<Double, _>(p)
    .get_result::<Quantile>(conn)?
    .q)
}

/// Per variant: users with a value, Σx and Σx² of their values held to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct VariantSums {
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = Double)]
    pub total: f64,
    #[diesel(sql_type = Double)]
    pub total_sq: f64,
}

/// The sums of one metric's values held to `cap` (none: as stored), over the users assigned
/// at or before `assigned_by` (none: all of them).
pub fn capped_sums(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_id: i64,
    cap: Option<f64>,
    assigned_by: Option<DateTime<Utc>>,
) -> Result<Vec<VariantSums>, StoreError> {
    // least() ignores a NULL cap.
    Ok(diesel::sql_query(
        "SELECT variant_id, count(*)::int8 AS users, sum(least(value, $3)) AS total, \
           sum(least(value, $3) * least(value, $3)) AS total_sq \
         FROM metric_values \
         WHERE experiment_id = $1 AND metric_id = $2 AND ($4::timestamptz IS NULL OR assigned_at <= $4) \
         GROUP BY variant_id ORDER BY variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(metric_id)
    .bind::<Nullable<Double>, _>(cap)
    .bind::<Nullable<Timestamptz>, _>(assigned_by)
    .load(conn)?)
}

/// Per variant, the users assigned at or before `assigned_by` (their retention window has
/// closed).
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct AssignedCount {
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = BigInt)]
    pub users: i64,
}

pub fn assigned_by(
    conn: &mut PgConnection,
    experiment_id: i64,
    assigned_by: DateTime<Utc>,
) -> Result<Vec<AssignedCount>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT variant_id, count(*)::int8 AS users FROM assignments \
         WHERE experiment_id = $1 AND assigned_at <= $2 GROUP BY variant_id ORDER BY variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<Timestamptz, _>(assigned_by)
    .load(conn)?)
}

/// Per variant, Σ x·y over users of two metrics' values (each held to its cap): what a
/// ratio's delta-method variance needs besides its parts' own sums.
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct CrossProduct {
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = Double)]
    pub sum_xy: f64,
}

pub fn cross_products(
    conn: &mut PgConnection,
    experiment_id: i64,
    (numerator, numerator_cap): (i64, Option<f64>),
    (denominator, denominator_cap): (i64, Option<f64>),
) -> Result<Vec<CrossProduct>, StoreError> {
    // A user without a value in either part adds 0: the inner join leaves them out.
    Ok(diesel::sql_query(
        "SELECT x.variant_id, sum(least(x.value, $3) * least(y.value, $5)) AS sum_xy \
         FROM metric_values x JOIN metric_values y \
           ON y.experiment_id = x.experiment_id AND y.metric_id = $4 AND y.user_id = x.user_id \
         WHERE x.experiment_id = $1 AND x.metric_id = $2 \
         GROUP BY x.variant_id ORDER BY x.variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(numerator)
    .bind::<Nullable<Double>, _>(numerator_cap)
    .bind::<BigInt, _>(denominator)
    .bind::<Nullable<Double>, _>(denominator_cap)
    .load(conn)?)
}
