//! CUPED covariates: each assigned user's value of a metric over the lookback window before
//! the assignment, computed from the raw events page by page of assignments, and the sums
//! results read (only over users who had pre-assignment activity: the others have x = 0).

use super::StoreError;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Nullable, Text, Timestamptz};

/// The `metric_id` of the inline goal's covariates (it has no library metric).
pub const INLINE_GOAL_METRIC_ID: i64 = 0;

/// A declared conversion or mean metric of a started experiment with CUPED on whose
/// covariates lag: new assignments to cover, or a lookback or definition changed (`stale`).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct CovariateJob {
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
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = BigInt)]
    pub lookback_seconds: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub through: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    pub stale: bool,
}

impl CovariateJob {
    fn is_inline_goal(&self) -> bool {
        self.metric_id == INLINE_GOAL_METRIC_ID
    }
}

/// Moves a job's mark (the inline goal's in `goal_covariates`, a metric's in
/// `tracked_metrics`).
fn set_mark(
    conn: &mut PgConnection,
    job: &CovariateJob,
    through: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let sql = if job.is_inline_goal() {
        "INSERT INTO goal_covariates (experiment_id, through, lookback) VALUES ($1, $3, $4) \
         ON CONFLICT (experiment_id) DO UPDATE SET through = $3, lookback = $4"
    } else {
        "UPDATE tracked_metrics SET covariates_through = $3, covariates_lookback = $4, \
         covariates_version = $5 WHERE experiment_id = $1 AND metric_id = $2"
    };
    diesel::sql_query(sql)
        .bind::<BigInt, _>(job.experiment_id)
        .bind::<BigInt, _>(job.metric_id)
        .bind::<Nullable<Timestamptz>, _>(through)
        .bind::<BigInt, _>(job.lookback_seconds)
        .bind::<BigInt, _>(job.version)
        .execute(conn)?;
    Ok(())
}

/// The covariates to compute for users assigned up to `upto`, by experiment and mark.
pub fn due(conn: &mut PgConnection, upto: DateTime<Utc>) -> Result<Vec<CovariateJob>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT * FROM ( \
           SELECT tm.experiment_id, m.id AS metric_id, m.type AS metric_type, m.event, m.of_count, \
             m.cap_value, m.version, e.cuped_lookback_seconds AS lookback_seconds, \
             tm.covariates_through AS through, \
             (tm.covariates_lookback IS DISTINCT FROM e.cuped_lookback_seconds \
              OR tm.covariates_version IS DISTINCT FROM m.version) AS stale \
           FROM tracked_metrics tm \
           JOIN metrics m ON m.id = tm.metric_id \
           JOIN experiments e ON e.id = tm.experiment_id \
           WHERE e.status <> 'draft' AND e.cuped_lookback_seconds IS NOT NULL \
             AND m.type IN ('conversion', 'mean') \
             AND EXISTS (SELECT 1 FROM experiment_metrics em \
                         WHERE em.experiment_id = tm.experiment_id AND em.metric_id = m.id) \
           UNION ALL \
           SELECT e.id, 0, CASE e.goal_metric WHEN 'conversion' THEN 'conversion' ELSE 'mean' END, \
             e.goal_event, e.goal_of_count, e.goal_cap_value, 0::int8, e.cuped_lookback_seconds, \
             g.through, g.lookback IS DISTINCT FROM e.cuped_lookback_seconds \
           FROM experiments e LEFT JOIN goal_covariates g ON g.experiment_id = e.id \
           WHERE e.status <> 'draft' AND e.cuped_lookback_seconds IS NOT NULL \
             AND e.goal_metric_id IS NULL) j \
         WHERE j.stale OR EXISTS (SELECT 1 FROM assignments a WHERE a.experiment_id = j.experiment_id \
           AND a.assigned_at > coalesce(j.through, '-infinity') AND a.assigned_at <= $1) \
         ORDER BY j.experiment_id, j.through NULLS FIRST, j.lookback_seconds, j.metric_id",
    )
    .bind::<Timestamptz, _>(upto)
    .load(conn)?)
}

/// Starts a metric's covariates over for the job's lookback and metric version.
pub fn restart(conn: &mut PgConnection, job: &CovariateJob) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::sql_query(
            "DELETE FROM metric_covariates WHERE experiment_id = $1 AND metric_id = $2",
        )
        .bind::<BigInt, _>(job.experiment_id)
        .bind::<BigInt, _>(job.metric_id)
        .execute(conn)?;
        set_mark(conn, job, None)
    })
}

#[derive(QueryableByName)]
struct Through {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    through: Option<DateTime<Utc>>,
}

/// Computes the covariates of the next page of at most about `page` users assigned after the
/// jobs' mark and up to `upto` (users assigned at the same instant as the page's last one come
/// with it), and moves the mark; returns the new mark (`None`: nobody left). `jobs` are metrics
/// of one experiment at the same mark with the same lookback: each user's events are read
/// once for all of them.
pub fn compute_page(
    conn: &mut PgConnection,
    jobs: &[CovariateJob],
    upto: DateTime<Utc>,
    page: i64,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Some(first) = jobs.first() else {
        return Ok(None);
    };
    let from = first.through.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    conn.transaction(|conn| {
        let through = diesel::sql_query(
            "SELECT max(assigned_at) AS through FROM (SELECT assigned_at FROM assignments \
             WHERE experiment_id = $1 AND assigned_at > $2 AND assigned_at <= $3 \
             ORDER BY assigned_at LIMIT $4) p",
        )
        .bind::<BigInt, _>(first.experiment_id)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(upto)
        .bind::<BigInt, _>(page)
        .get_result::<Through>(conn)?
        .through;
        let Some(through) = through else {
            return Ok(None);
        };
        // Per metric, the user's value as it counts it (conversion: 1 once anything counted;
        // mean: the number of events or the sum of their values), held to the value cap.
        let rule = |j: &CovariateJob| match (j.metric_type.as_str(), j.of_count) {
            ("conversion", _) => "once",
            (_, true) => "count",
            _ => "sum",
        };
        let events: Vec<&str> = jobs.iter().map(|j| j.event.as_str()).collect();
        diesel::sql_query(
            "INSERT INTO metric_covariates (experiment_id, metric_id, user_id, variant_id, value) \
             SELECT a.experiment_id, m.metric_id, a.user_id, a.variant_id, \
               least(CASE m.rule WHEN 'once' THEN 1.0 WHEN 'count' THEN pre.events::float8 \
                 ELSE pre.total END, coalesce(m.cap, 'Infinity'::float8)) \
             FROM assignments a \
             CROSS JOIN LATERAL (SELECT e.name, count(*) AS events, coalesce(sum(e.value), 0) AS total \
               FROM events e WHERE e.user_id = a.user_id AND e.name = ANY($5) \
                 AND e.occurred_at >= a.assigned_at - make_interval(secs => $4) \
                 AND e.occurred_at < a.assigned_at GROUP BY e.name) pre \
             JOIN unnest($6::int8[], $5::text[], $7::text[], $8::float8[]) AS m(metric_id, event, rule, cap) \
               ON m.event = pre.name \
             WHERE a.experiment_id = $1 AND a.assigned_at > $2 AND a.assigned_at <= $3 \
             ON CONFLICT (experiment_id, metric_id, user_id) DO UPDATE SET value = excluded.value",
        )
        .bind::<BigInt, _>(first.experiment_id)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(through)
        .bind::<Double, _>(first.lookback_seconds as f64)
        .bind::<Array<Text>, _>(&events)
        .bind::<Array<BigInt>, _>(jobs.iter().map(|j| j.metric_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(jobs.iter().map(rule).collect::<Vec<_>>())
        .bind::<Array<Nullable<Double>>, _>(jobs.iter().map(|j| j.cap_value).collect::<Vec<_>>())
        .execute(conn)?;
        for job in jobs {
            set_mark(conn, job, Some(through))?;
        }
        Ok(Some(through))
    })
}

/// Per (metric, variant) over the users with a covariate: their number, Σx, Σx² and Σxy with
/// y the user's stored value (held to `caps` for a metric capped at a percentile).
#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct CovariateSumRow {
    #[diesel(sql_type = BigInt)]
    pub metric_id: i64,
    #[diesel(sql_type = BigInt)]
    pub variant_id: i64,
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = Double)]
    pub x: f64,
    #[diesel(sql_type = Double)]
    pub x_sq: f64,
    #[diesel(sql_type = Double)]
    pub xy: f64,
}

/// The covariate sums of one metric of an experiment; `cap` holds y to a percentile cap.
pub fn covariate_sums(
    conn: &mut PgConnection,
    experiment_id: i64,
    metric_id: i64,
    cap: Option<f64>,
) -> Result<Vec<CovariateSumRow>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT c.metric_id, c.variant_id, count(*)::int8 AS users, sum(c.value) AS x, \
           sum(c.value * c.value) AS x_sq, \
           coalesce(sum(c.value * CASE WHEN $3::float8 IS NULL THEN v.value ELSE least(v.value, $3) END), 0) AS xy \
         FROM metric_covariates c \
         LEFT JOIN metric_values v ON v.experiment_id = c.experiment_id \
           AND v.metric_id = c.metric_id AND v.user_id = c.user_id \
         WHERE c.experiment_id = $1 AND c.metric_id = $2 \
         GROUP BY c.metric_id, c.variant_id ORDER BY c.variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(metric_id)
    .bind::<Nullable<Double>, _>(cap)
    .load(conn)?)
}

/// The inline goal's covariate sums per variant, y as the assignment rows hold the goal (a
/// conversion, or the counted value).
pub fn goal_covariate_sums(
    conn: &mut PgConnection,
    experiment_id: i64,
    conversion: bool,
) -> Result<Vec<CovariateSumRow>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT c.metric_id, c.variant_id, count(*)::int8 AS users, sum(c.value) AS x, \
           sum(c.value * c.value) AS x_sq, \
           coalesce(sum(c.value * CASE WHEN $3 THEN (a.converted_at IS NOT NULL)::int::float8 \
             ELSE coalesce(a.counted_value, a.value) END), 0) AS xy \
         FROM metric_covariates c \
         JOIN assignments a ON a.experiment_id = c.experiment_id AND a.user_id = c.user_id \
         WHERE c.experiment_id = $1 AND c.metric_id = $2 \
         GROUP BY c.metric_id, c.variant_id ORDER BY c.variant_id",
    )
    .bind::<BigInt, _>(experiment_id)
    .bind::<BigInt, _>(INLINE_GOAL_METRIC_ID)
    .bind::<Bool, _>(conversion)
    .load(conn)?)
}

#[derive(Debug, Clone, Copy, PartialEq, QueryableByName)]
pub struct GoalMark {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub through: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub lookback: Option<i64>,
}

/// How far the inline goal's covariates have been computed, and for which lookback.
pub fn goal_mark(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Option<GoalMark>, StoreError> {
    Ok(
        diesel::sql_query("SELECT through, lookback FROM goal_covariates WHERE experiment_id = $1")
            .bind::<BigInt, _>(experiment_id)
            .get_result(conn)
            .optional()?,
    )
}

/// Drops a metric's covariates, for one experiment or all (the metric is no longer tracked).
pub fn forget(
    conn: &mut PgConnection,
    experiment_id: Option<i64>,
    metric_id: i64,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "DELETE FROM metric_covariates WHERE metric_id = $1 \
         AND ($2::int8 IS NULL OR experiment_id = $2)",
    )
    .bind::<BigInt, _>(metric_id)
    .bind::<Nullable<BigInt>, _>(experiment_id)
    .execute(conn)?;
    Ok(())
}

/// Deletes a user's covariates (erasure).
pub fn delete_user_covariates(conn: &mut PgConnection, user_id: &str) -> Result<u64, StoreError> {
    Ok(
        diesel::sql_query("DELETE FROM metric_covariates WHERE user_id = $1")
            .bind::<Text, _>(user_id)
            .execute(conn)? as u64,
    )
}
