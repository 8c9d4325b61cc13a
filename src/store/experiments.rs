//! Experiments and variants: create, read, and change under a row lock.

use super::StoreError;
use super::metrics::{experiment_metrics_of, save_experiment_metrics};
use super::models::{ExperimentRow, NewExperimentRow, NewVariantRow, VariantRow};
use super::schema::metrics;
use super::schema::{experiments, variant_stats, variants};
use crate::domain::{
    Analysis, Conflict, Cuped, Dimension, Duration, EventName, Experiment, ExperimentKey,
    ExperimentMetrics, ExperimentSpec, Goal, GoalCounting, GoalMetric, Kind, Layer, PinnedRule,
    PolicyKind, SegmentKey, Status, Targeting, Variant, VariantKey,
};
use diesel::pg::PgConnection;
use diesel::prelude::*;

/// Rows in the database were written by us; a value that fails to parse means corruption.
fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        format!("stored {what} {value:?} is not valid").into(),
    ))
}

fn to_domain(
    row: ExperimentRow,
    mut variant_rows: Vec<VariantRow>,
    metrics: ExperimentMetrics,
) -> Result<Experiment, StoreError> {
    variant_rows.sort_by_key(|v| v.position);
    let variant_ids = variant_rows.iter().map(|v| v.id).collect();
    let dropped_at = variant_rows.iter().map(|v| v.dropped_at).collect();
    let variants = variant_rows
        .into_iter()
        .map(|v| {
            Ok(Variant {
                key: VariantKey::parse(v.key.clone())
                    .map_err(|_| corrupt("variant key", &v.key))?,
                name: v.name,
                payload: v.payload,
                weight: v.weight,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let targeting: Targeting = serde_json::from_value(row.targeting.clone())
        .map_err(|_| corrupt("targeting", &row.targeting.to_string()))?;
    let rules: Vec<PinnedRule> = serde_json::from_value(row.rules.clone())
        .map_err(|_| corrupt("rules", &row.rules.to_string()))?;
    let layer: Option<Layer> = row
        .layer
        .as_ref()
        .map(|l| serde_json::from_value(l.clone()).map_err(|_| corrupt("layer", &l.to_string())))
        .transpose()?;
    Ok(Experiment {
        id: row.id,
        spec: ExperimentSpec {
            key: ExperimentKey::parse(row.key.clone()).map_err(|_| corrupt("key", &row.key))?,
            name: row.name,
            description: row.description,
            dimension: Dimension::parse(&row.dimension)
                .ok_or_else(|| corrupt("dimension", &row.dimension))?,
            kind: Kind::parse(&row.kind).ok_or_else(|| corrupt("kind", &row.kind))?,
            policy: PolicyKind::parse(&row.policy).ok_or_else(|| corrupt("policy", &row.policy))?,
            factors: serde_json::from_value(row.factors.clone())
                .map_err(|_| corrupt("factors", &row.factors.to_string()))?,
            variants,
            control: VariantKey::parse(row.control_key.clone())
                .map_err(|_| corrupt("control", &row.control_key))?,
            goal: Goal {
                event: EventName::parse(row.goal_event.clone())
                    .map_err(|_| corrupt("goal", &row.goal_event))?,
                metric: GoalMetric::parse(&row.goal_metric)
                    .ok_or_else(|| corrupt("metric", &row.goal_metric))?,
                counting: GoalCounting {
                    window: row.goal_window_seconds.map(Duration::from_seconds),
                    retention: row
                        .goal_from_seconds
                        .zip(row.goal_to_seconds)
                        .map(|(f, t)| (Duration::from_seconds(f), Duration::from_seconds(t))),
                    of_count: row.goal_of_count,
                    cap_value: row.goal_cap_value,
                },
            },
            metrics,
            targeting,
            traffic: row.traffic,
            floor: row.floor,
            min_users_per_arm: row.min_users_per_arm.max(0) as u32,
            analysis: Analysis::parse(&row.analysis)
                .ok_or_else(|| corrupt("analysis", &row.analysis))?,
            cuped: Cuped::from_seconds(row.cuped_lookback_seconds),
            min_runtime: Duration::from_seconds(row.min_runtime_seconds),
            minimum_effect: row.minimum_effect,
            pinned_rules: rules,
            layer,
            context: row.context,
            context_segments: row
                .context_segments
                .iter()
                .map(|k| SegmentKey::parse(k.as_str()).map_err(|_| corrupt("context_segments", k)))
                .collect::<Result<_, _>>()?,
        },
        variant_ids,
        dropped_at,
        status: Status::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
        winner: row
            .winner_key
            .map(VariantKey::parse)
            .transpose()
            .map_err(|_| corrupt("winner", "?"))?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        started_at: row.started_at,
        stopped_at: row.stopped_at,
    })
}

fn with_variants(
    conn: &mut PgConnection,
    rows: Vec<ExperimentRow>,
) -> Result<Vec<Experiment>, StoreError> {
    let all_variants: Vec<VariantRow> = VariantRow::belonging_to(&rows)
        .select(VariantRow::as_select())
        .load(conn)?;
    let grouped = all_variants.grouped_by(&rows);
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut metrics = experiment_metrics_of(conn, &ids)?;
    rows.into_iter()
        .zip(grouped)
        .map(|(row, vs)| {
            let m = metrics.remove(&row.id).unwrap_or_default();
            to_domain(row, vs, m)
        })
        .collect()
}

pub fn insert_experiment(
    conn: &mut PgConnection,
    spec: &ExperimentSpec,
) -> Result<Experiment, StoreError> {
    conn.transaction(|conn| {
        super::segments::check_references(conn, spec)?;
        super::segments::check_layer(conn, spec, None)?;
        let targeting = serde_json::to_value(&spec.targeting).expect("targeting serializes");
        let goal = GoalColumns::of(conn, spec)?;
        let row: ExperimentRow = diesel::insert_into(experiments::table)
            .values(NewExperimentRow {
                key: spec.key.as_str(),
                name: &spec.name,
                description: &spec.description,
                dimension: spec.dimension.as_str(),
                kind: spec.kind.as_str(),
                policy: spec.policy.as_str(),
                factors: serde_json::to_value(&spec.factors).expect("factors serialize"),
                control_key: spec.control.as_str(),
                goal_event: spec.goal.event.as_str(),
                goal_metric: spec.goal.metric.as_str(),
                targeting,
                traffic: spec.traffic,
                floor: spec.floor,
                min_users_per_arm: spec.min_users_per_arm as i32,
                analysis: spec.analysis.as_str(),
                cuped_lookback_seconds: spec.cuped.lookback().map(|d| d.seconds()),
                min_runtime_seconds: spec.min_runtime.seconds(),
                minimum_effect: spec.minimum_effect,
                rules: serde_json::to_value(&spec.pinned_rules).expect("rules serialize"),
                layer: spec
                    .layer
                    .as_ref()
                    .map(|l| serde_json::to_value(l).expect("a layer serializes")),
                context: &spec.context,
                context_segments: spec.context_segments.iter().map(|k| k.as_str()).collect(),
                goal_metric_id: goal.metric_id,
                goal_window_seconds: goal.window_seconds,
                goal_of_count: goal.of_count,
                goal_cap_value: goal.cap_value,
                goal_from_seconds: goal.from_seconds,
                goal_to_seconds: goal.to_seconds,
            })
            .returning(ExperimentRow::as_returning())
            .get_result(conn)
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(Conflict::Duplicate(_)) => {
                    StoreError::Conflict(Conflict::KeyTaken {
                        what: "an experiment",
                        key: spec.key.to_string(),
                    })
                }
                other => other,
            })?;
        let new_variants: Vec<NewVariantRow> = spec
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| NewVariantRow {
                experiment_id: row.id,
                position: i as i32,
                key: v.key.as_str(),
                name: &v.name,
                payload: &v.payload,
                weight: v.weight,
            })
            .collect();
        let variant_rows: Vec<VariantRow> = diesel::insert_into(variants::table)
            .values(&new_variants)
            .returning(VariantRow::as_returning())
            .get_results(conn)?;
        let stats: Vec<_> = variant_rows
            .iter()
            .map(|v| {
                (
                    variant_stats::variant_id.eq(v.id),
                    variant_stats::shard.eq(0i16),
                    variant_stats::experiment_id.eq(row.id),
                )
            })
            .collect();
        diesel::insert_into(variant_stats::table)
            .values(&stats)
            .execute(conn)?;
        save_experiment_metrics(conn, row.id, &spec.metrics, true)?;
        Ok(with_variants(conn, vec![row])?.remove(0))
    })
}

pub fn list_experiments(conn: &mut PgConnection) -> Result<Vec<Experiment>, StoreError> {
    let rows: Vec<ExperimentRow> = experiments::table
        .order(experiments::id.asc())
        .select(ExperimentRow::as_select())
        .load(conn)?;
    with_variants(conn, rows)
}

pub fn get_experiment(conn: &mut PgConnection, key: &str) -> Result<Experiment, StoreError> {
    let row: ExperimentRow = experiments::table
        .filter(experiments::key.eq(key))
        .select(ExperimentRow::as_select())
        .first(conn)?;
    Ok(with_variants(conn, vec![row])?.remove(0))
}

/// Why an update did not happen: the store failed, or the caller's rule refused the change.
#[derive(Debug)]
pub enum UpdateError<E> {
    Store(StoreError),
    Rejected(E),
}

impl<E> From<StoreError> for UpdateError<E> {
    fn from(e: StoreError) -> Self {
        UpdateError::Store(e)
    }
}

impl<E> From<diesel::result::Error> for UpdateError<E> {
    fn from(e: diesel::result::Error) -> Self {
        UpdateError::Store(e.into())
    }
}

/// Locks the experiment's row, lets `change` compute its new state from the current one, and
/// saves it (with a new version, so every instance recompiles it on its next refresh).
pub fn update_experiment<E>(
    conn: &mut PgConnection,
    key: &str,
    change: impl FnOnce(&Experiment) -> Result<Experiment, E>,
) -> Result<Experiment, UpdateError<E>> {
    conn.transaction(|conn| {
        let row: ExperimentRow = experiments::table
            .filter(experiments::key.eq(key))
            .select(ExperimentRow::as_select())
            .for_update()
            .first(conn)
            .map_err(StoreError::from)?;
        let current = with_variants(conn, vec![row])?.remove(0);
        let next = change(&current).map_err(UpdateError::Rejected)?;
        let spec = &next.spec;
        if next.status != Status::Stopped {
            super::segments::check_references(conn, spec)?;
            super::segments::check_layer(conn, spec, Some(current.id))?;
        }
        let targeting = serde_json::to_value(&spec.targeting).expect("targeting serializes");
        let goal = GoalColumns::of(conn, spec)?;
        let saved: ExperimentRow = diesel::update(experiments::table.find(current.id))
            .set((
                experiments::name.eq(&spec.name),
                experiments::description.eq(&spec.description),
                experiments::traffic.eq(spec.traffic),
                experiments::floor.eq(spec.floor),
                experiments::min_users_per_arm.eq(spec.min_users_per_arm as i32),
                experiments::analysis.eq(spec.analysis.as_str()),
                experiments::cuped_lookback_seconds.eq(spec.cuped.lookback().map(|d| d.seconds())),
                experiments::min_runtime_seconds.eq(spec.min_runtime.seconds()),
                experiments::minimum_effect.eq(spec.minimum_effect),
                experiments::targeting.eq(targeting),
                experiments::rules
                    .eq(serde_json::to_value(&spec.pinned_rules).expect("rules serialize")),
                experiments::layer.eq(spec
                    .layer
                    .as_ref()
                    .map(|l| serde_json::to_value(l).expect("a layer serializes"))),
                experiments::status.eq(next.status.as_str()),
                experiments::winner_key.eq(next.winner.as_ref().map(|w| w.as_str())),
                experiments::started_at.eq(next.started_at),
                experiments::stopped_at.eq(next.stopped_at),
                experiments::version.eq(current.version + 1),
                experiments::updated_at.eq(diesel::dsl::now),
                experiments::goal_event.eq(spec.goal.event.as_str()),
                experiments::goal_metric.eq(spec.goal.metric.as_str()),
                experiments::goal_metric_id.eq(goal.metric_id),
                experiments::goal_window_seconds.eq(goal.window_seconds),
                experiments::goal_of_count.eq(goal.of_count),
                experiments::goal_cap_value.eq(goal.cap_value),
                experiments::goal_from_seconds.eq(goal.from_seconds),
                experiments::goal_to_seconds.eq(goal.to_seconds),
            ))
            .returning(ExperimentRow::as_returning())
            .get_result(conn)?;
        for (variant, (old, id)) in spec
            .variants
            .iter()
            .zip(current.spec.variants.iter().zip(&current.variant_ids))
        {
            if variant.weight != old.weight {
                diesel::update(variants::table.find(id))
                    .set(variants::weight.eq(variant.weight))
                    .execute(conn)?;
            }
        }
        save_experiment_metrics(
            conn,
            current.id,
            &spec.metrics,
            current.started_at.is_none(),
        )?;
        Ok(with_variants(conn, vec![saved])?.remove(0))
    })
}

/// The goal as the experiment row keeps it for the writer.
struct GoalColumns {
    metric_id: Option<i64>,
    window_seconds: Option<i64>,
    of_count: bool,
    cap_value: Option<f64>,
    from_seconds: Option<i64>,
    to_seconds: Option<i64>,
}

impl GoalColumns {
    fn of(conn: &mut PgConnection, spec: &ExperimentSpec) -> Result<GoalColumns, StoreError> {
        let metric_id = match &spec.metrics.goal {
            Some(key) => Some(
                metrics::table
                    .filter(metrics::key.eq(key.as_str()))
                    .select(metrics::id)
                    .first::<i64>(conn)?,
            ),
            None => None,
        };
        let c = &spec.goal.counting;
        Ok(GoalColumns {
            metric_id,
            window_seconds: c.window.map(Duration::seconds),
            of_count: c.of_count,
            cap_value: c.cap_value,
            from_seconds: c.retention.map(|(f, _)| f.seconds()),
            to_seconds: c.retention.map(|(_, t)| t.seconds()),
        })
    }
}
