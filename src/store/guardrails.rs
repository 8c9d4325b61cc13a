//! Guardrail firings: each (experiment, guardrail metric, variant) fires at most once, with
//! the evidence that fired it; and the arms that a `drop` firing took out of a bandit.

use super::StoreError;
use super::schema::{experiments, guardrail_firings, metrics, variants};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;

/// A firing to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = guardrail_firings)]
pub struct NewFiring {
    pub experiment_id: i64,
    pub metric_id: i64,
    pub variant_id: i64,
    pub action: String,
    pub lift_mean: f64,
    pub lift_low: f64,
    pub lift_high: f64,
    pub threshold: f64,
    pub users: i64,
}

/// A recorded firing, with the metric's and the variant's keys.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct FiringRow {
    pub metric: String,
    pub variant: String,
    pub action: String,
    pub lift_mean: f64,
    pub lift_low: f64,
    pub lift_high: f64,
    pub threshold: f64,
    pub users: i64,
    pub fired_at: DateTime<Utc>,
}

/// Records a firing; `false` when this guardrail had fired already for the variant.
pub fn record_firing(conn: &mut PgConnection, firing: &NewFiring) -> Result<bool, StoreError> {
    let inserted = diesel::insert_into(guardrail_firings::table)
        .values(firing)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

/// Takes a variant out of its bandit's allocation (`variants.dropped_at`); `None` when it was
/// out already, else when. Bumps the experiment's version, so that every instance's snapshot
/// and every cache of the experiment recompile at their next refresh.
pub fn drop_variant(
    conn: &mut PgConnection,
    experiment_id: i64,
    variant_id: i64,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let dropped: Option<Option<DateTime<Utc>>> = diesel::update(
        variants::table
            .filter(variants::id.eq(variant_id))
            .filter(variants::experiment_id.eq(experiment_id))
            .filter(variants::dropped_at.is_null()),
    )
    .set(variants::dropped_at.eq(diesel::dsl::now))
    .returning(variants::dropped_at)
    .get_result(conn)
    .optional()?;
    let Some(at) = dropped.flatten() else {
        return Ok(None);
    };
    diesel::update(experiments::table.find(experiment_id))
        .set(experiments::version.eq(experiments::version + 1))
        .execute(conn)?;
    Ok(Some(at))
}

/// The (metric id, variant id) pairs that fired in these experiments.
pub fn fired(conn: &mut PgConnection, experiment_id: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(guardrail_firings::table
        .filter(guardrail_firings::experiment_id.eq(experiment_id))
        .select((guardrail_firings::metric_id, guardrail_firings::variant_id))
        .load(conn)?)
}

/// An experiment's firings, oldest first.
pub fn firings_of(
    conn: &mut PgConnection,
    experiment_id: i64,
) -> Result<Vec<FiringRow>, StoreError> {
    Ok(guardrail_firings::table
        .inner_join(metrics::table.on(metrics::id.eq(guardrail_firings::metric_id)))
        .inner_join(variants::table.on(variants::id.eq(guardrail_firings::variant_id)))
        .filter(guardrail_firings::experiment_id.eq(experiment_id))
        .order(guardrail_firings::fired_at.asc())
        .select((
            metrics::key,
            variants::key,
            guardrail_firings::action,
            guardrail_firings::lift_mean,
            guardrail_firings::lift_low,
            guardrail_firings::lift_high,
            guardrail_firings::threshold,
            guardrail_firings::users,
            guardrail_firings::fired_at,
        ))
        .load(conn)?)
}
