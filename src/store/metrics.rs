//! The metric library and the metrics of experiments: which metrics an experiment declares
//! (goal, secondary, guardrails), which it keeps per-user values of (those and the parts of
//! its ratios), and whether those values are up to date with the metric's definition.

use super::StoreError;
use super::schema::{
    experiment_metrics, experiments, metric_stats, metric_values, metrics, tracked_metrics,
};
use crate::domain::{
    Cap, Conflict, Direction, Duration, EventName, ExperimentMetrics, Guardrail, GuardrailAction,
    MeanOf, Metric, MetricDefinition, MetricKey, MetricRole, MetricSpec, MetricType, Status,
    ValidationError, Violation,
};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = metrics, check_for_backend(diesel::pg::Pg))]
struct MetricRow {
    id: i64,
    key: String,
    name: String,
    description: String,
    metric_type: String,
    event: Option<String>,
    of_count: bool,
    cap_value: Option<f64>,
    cap_percentile: Option<f64>,
    numerator_id: Option<i64>,
    denominator_id: Option<i64>,
    window_seconds: Option<i64>,
    from_seconds: Option<i64>,
    to_seconds: Option<i64>,
    direction: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        format!("stored {what} {value:?} is not valid").into(),
    ))
}

/// Rows to domain metrics; a ratio's parts are named by the keys of their rows.
fn to_domain(rows: Vec<MetricRow>) -> Result<Vec<Metric>, StoreError> {
    let keys: HashMap<i64, String> = rows.iter().map(|r| (r.id, r.key.clone())).collect();
    let key_of = |id: Option<i64>| -> Result<MetricKey, StoreError> {
        let key = id
            .and_then(|id| keys.get(&id))
            .ok_or_else(|| corrupt("ratio part", &format!("{id:?}")))?;
        MetricKey::parse(key.clone()).map_err(|_| corrupt("metric key", key))
    };
    rows.iter()
        .map(|r| {
            let event = || -> Result<EventName, StoreError> {
                let e = r.event.clone().unwrap_or_default();
                EventName::parse(e.clone()).map_err(|_| corrupt("metric event", &e))
            };
            let kind = MetricType::parse(&r.metric_type)
                .ok_or_else(|| corrupt("metric type", &r.metric_type))?;
            let definition = match kind {
                MetricType::Conversion => MetricDefinition::Conversion { event: event()? },
                MetricType::Mean => MetricDefinition::Mean {
                    event: event()?,
                    of: if r.of_count {
                        MeanOf::Count
                    } else {
                        MeanOf::Value
                    },
                    cap: match (r.cap_value, r.cap_percentile) {
                        (Some(v), _) => Some(Cap::Value(v)),
                        (None, Some(q)) => Some(Cap::Percentile(q)),
                        (None, None) => None,
                    },
                },
                MetricType::Ratio => MetricDefinition::Ratio {
                    numerator: key_of(r.numerator_id)?,
                    denominator: key_of(r.denominator_id)?,
                },
                MetricType::Retention => MetricDefinition::Retention {
                    event: event()?,
                    from: Duration::from_seconds(r.from_seconds.unwrap_or(0)),
                    to: Duration::from_seconds(r.to_seconds.unwrap_or(0)),
                },
            };
            Ok(Metric {
                id: r.id,
                spec: MetricSpec {
                    key: MetricKey::parse(r.key.clone()).map_err(|_| corrupt("key", &r.key))?,
                    name: r.name.clone(),
                    description: r.description.clone(),
                    definition,
                    window: r.window_seconds.map(Duration::from_seconds),
                    direction: Direction::parse(&r.direction)
                        .ok_or_else(|| corrupt("direction", &r.direction))?,
                },
                version: r.version,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// Every metric in the library, by key.
pub fn list_metrics(conn: &mut PgConnection) -> Result<Vec<Metric>, StoreError> {
    let rows: Vec<MetricRow> = metrics::table
        .order(metrics::key.asc())
        .select(MetricRow::as_select())
        .load(conn)?;
    to_domain(rows)
}

pub fn get_metric(conn: &mut PgConnection, key: &str) -> Result<Metric, StoreError> {
    list_metrics(conn)?
        .into_iter()
        .find(|m| m.spec.key.as_str() == key)
        .ok_or(StoreError::NotFound)
}

/// The columns of a definition; a ratio's parts must exist and must not be ratios.
struct Columns {
    event: Option<String>,
    of_count: bool,
    cap_value: Option<f64>,
    cap_percentile: Option<f64>,
    numerator_id: Option<i64>,
    denominator_id: Option<i64>,
    from_seconds: Option<i64>,
    to_seconds: Option<i64>,
}

fn columns(conn: &mut PgConnection, spec: &MetricSpec) -> Result<Columns, StoreError> {
    let mut c = Columns {
        event: spec.definition.event().map(|e| e.to_string()),
        of_count: false,
        cap_value: None,
        cap_percentile: None,
        numerator_id: None,
        denominator_id: None,
        from_seconds: None,
        to_seconds: None,
    };
    match &spec.definition {
        MetricDefinition::Conversion { .. } => {}
        MetricDefinition::Mean { of, cap, .. } => {
            c.of_count = *of == MeanOf::Count;
            match cap {
                Some(Cap::Value(v)) => c.cap_value = Some(*v),
                Some(Cap::Percentile(q)) => c.cap_percentile = Some(*q),
                None => {}
            }
        }
        MetricDefinition::Retention { from, to, .. } => {
            c.from_seconds = Some(from.seconds());
            c.to_seconds = Some(to.seconds());
        }
        MetricDefinition::Ratio {
            numerator,
            denominator,
        } => {
            let mut part = |field: &str, key: &MetricKey| -> Result<i64, StoreError> {
                let found: Option<(i64, String)> = metrics::table
                    .filter(metrics::key.eq(key.as_str()))
                    .select((metrics::id, metrics::metric_type))
                    .for_key_share()
                    .first(conn)
                    .optional()?;
                match found {
                    None => Err(ValidationError::new(
                        field,
                        Violation::UnknownMetric {
                            key: key.to_string(),
                        },
                    )
                    .into()),
                    Some((_, t)) if t == "ratio" => Err(ValidationError::new(
                        field,
                        Violation::RatioOfRatio {
                            key: key.to_string(),
                        },
                    )
                    .into()),
                    Some((id, _)) => Ok(id),
                }
            };
            c.numerator_id = Some(part("numerator", numerator)?);
            c.denominator_id = Some(part("denominator", denominator)?);
        }
    }
    Ok(c)
}

pub fn insert_metric(conn: &mut PgConnection, spec: &MetricSpec) -> Result<Metric, StoreError> {
    conn.transaction(|conn| {
        let c = columns(conn, spec)?;
        diesel::insert_into(metrics::table)
            .values((
                metrics::key.eq(spec.key.as_str()),
                metrics::name.eq(&spec.name),
                metrics::description.eq(&spec.description),
                metrics::metric_type.eq(spec.definition.metric_type().as_str()),
                metrics::event.eq(&c.event),
                metrics::of_count.eq(c.of_count),
                metrics::cap_value.eq(c.cap_value),
                metrics::cap_percentile.eq(c.cap_percentile),
                metrics::numerator_id.eq(c.numerator_id),
                metrics::denominator_id.eq(c.denominator_id),
                metrics::window_seconds.eq(spec.window.map(Duration::seconds)),
                metrics::from_seconds.eq(c.from_seconds),
                metrics::to_seconds.eq(c.to_seconds),
                metrics::direction.eq(spec.direction.as_str()),
            ))
            .execute(conn)
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(Conflict::Duplicate(_)) => {
                    StoreError::Conflict(Conflict::KeyTaken {
                        what: "a metric",
                        key: spec.key.to_string(),
                    })
                }
                other => other,
            })?;
        get_metric(conn, spec.key.as_str())
    })
}

/// Replaces a metric's definition under its row lock and bumps its version (experiments
/// using it recompute it); `NotFound` when there is none. A metric that is a ratio's part
/// cannot become a ratio itself.
pub fn update_metric(conn: &mut PgConnection, spec: &MetricSpec) -> Result<Metric, StoreError> {
    conn.transaction(|conn| {
        let (id, version): (i64, i64) = metrics::table
            .filter(metrics::key.eq(spec.key.as_str()))
            .select((metrics::id, metrics::version))
            .for_update()
            .first(conn)?;
        if spec.definition.metric_type() == MetricType::Ratio {
            let ratios = ratios_using(conn, id)?;
            if !ratios.is_empty() {
                return Err(ValidationError::new(
                    "type",
                    Violation::RatioOfRatio {
                        key: spec.key.to_string(),
                    },
                )
                .into());
            }
        }
        let c = columns(conn, spec)?;
        diesel::update(metrics::table.find(id))
            .set((
                metrics::name.eq(&spec.name),
                metrics::description.eq(&spec.description),
                metrics::metric_type.eq(spec.definition.metric_type().as_str()),
                metrics::event.eq(&c.event),
                metrics::of_count.eq(c.of_count),
                metrics::cap_value.eq(c.cap_value),
                metrics::cap_percentile.eq(c.cap_percentile),
                metrics::numerator_id.eq(c.numerator_id),
                metrics::denominator_id.eq(c.denominator_id),
                metrics::window_seconds.eq(spec.window.map(Duration::seconds)),
                metrics::from_seconds.eq(c.from_seconds),
                metrics::to_seconds.eq(c.to_seconds),
                metrics::direction.eq(spec.direction.as_str()),
                metrics::version.eq(version + 1),
                metrics::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        get_metric(conn, spec.key.as_str())
    })
}

/// The keys of the ratio metrics that have this metric as a part.
fn ratios_using(conn: &mut PgConnection, id: i64) -> Result<Vec<String>, StoreError> {
    Ok(metrics::table
        .filter(
            metrics::numerator_id
                .eq(id)
                .or(metrics::denominator_id.eq(id)),
        )
        .select(metrics::key)
        .order(metrics::key.asc())
        .load(conn)?)
}

/// The experiments that use a metric (declared, or through a ratio they declare), with their
/// status, by key.
pub fn experiments_using_metric(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Vec<(i64, String, Status)>, StoreError> {
    let rows: Vec<(i64, String, String)> = experiments::table
        .filter(
            experiments::id.eq_any(
                tracked_metrics::table
                    .filter(tracked_metrics::metric_id.eq(id))
                    .select(tracked_metrics::experiment_id),
            ),
        )
        .select((experiments::id, experiments::key, experiments::status))
        .order(experiments::key.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|(id, key, status)| {
            let s = Status::parse(&status).ok_or_else(|| corrupt("status", &status))?;
            Ok((id, key, s))
        })
        .collect()
}

/// Deletes a metric: refused while an experiment that is not stopped uses it, or while it is
/// a ratio's part. Stopped experiments that used it lose it (with its values).
pub fn delete_metric(conn: &mut PgConnection, key: &str) -> Result<Metric, StoreError> {
    conn.transaction(|conn| {
        let id: i64 = metrics::table
            .filter(metrics::key.eq(key))
            .select(metrics::id)
            .for_update()
            .first(conn)?;
        let before = get_metric(conn, key)?;
        let ratios = ratios_using(conn, id)?;
        if !ratios.is_empty() {
            return Err(StoreError::Conflict(Conflict::MetricIsPart {
                metric: key.to_string(),
                ratios,
            }));
        }
        let users = experiments_using_metric(conn, id)?;
        let live: Vec<String> = users
            .iter()
            .filter(|(_, _, s)| *s != Status::Stopped)
            .map(|(_, k, _)| k.clone())
            .collect();
        if !live.is_empty() {
            return Err(StoreError::Conflict(Conflict::MetricInUse {
                metric: key.to_string(),
                experiments: live,
            }));
        }
        diesel::update(experiments::table.filter(experiments::goal_metric_id.eq(id)))
            .set(experiments::goal_metric_id.eq(None::<i64>))
            .execute(conn)?;
        diesel::delete(experiment_metrics::table.filter(experiment_metrics::metric_id.eq(id)))
            .execute(conn)?;
        forget_tracked(conn, None, id)?;
        diesel::delete(metrics::table.find(id)).execute(conn)?;
        Ok(before)
    })
}

/// Drops the per-user values and statistics of a tracked metric, for one experiment or all.
fn forget_tracked(
    conn: &mut PgConnection,
    experiment_id: Option<i64>,
    metric_id: i64,
) -> Result<(), StoreError> {
    macro_rules! delete_from {
        ($table:ident) => {
            match experiment_id {
                Some(e) => diesel::delete(
                    $table::table
                        .filter($table::metric_id.eq(metric_id))
                        .filter($table::experiment_id.eq(e)),
                )
                .execute(conn)?,
                None => diesel::delete($table::table.filter($table::metric_id.eq(metric_id)))
                    .execute(conn)?,
            }
        };
    }
    delete_from!(metric_values);
    delete_from!(metric_stats);
    super::covariates::forget(conn, experiment_id, metric_id)?;
    delete_from!(tracked_metrics);
    Ok(())
}

/// Looks library metrics up by key (for validating experiments in the same transaction).
pub fn metrics_by_key(conn: &mut PgConnection) -> Result<HashMap<MetricKey, Metric>, StoreError> {
    Ok(list_metrics(conn)?
        .into_iter()
        .map(|m| (m.spec.key.clone(), m))
        .collect())
}

/// The declared metrics of these experiments, by experiment id.
pub fn experiment_metrics_of(
    conn: &mut PgConnection,
    experiment_ids: &[i64],
) -> Result<HashMap<i64, ExperimentMetrics>, StoreError> {
    let rows: Vec<(i64, String, String, i32, f64, String)> = experiment_metrics::table
        .inner_join(metrics::table)
        .filter(experiment_metrics::experiment_id.eq_any(experiment_ids))
        .order((
            experiment_metrics::experiment_id.asc(),
            experiment_metrics::position.asc(),
        ))
        .select((
            experiment_metrics::experiment_id,
            experiment_metrics::role,
            metrics::key,
            experiment_metrics::position,
            experiment_metrics::threshold,
            experiment_metrics::action,
        ))
        .load(conn)?;
    let mut out: HashMap<i64, ExperimentMetrics> = HashMap::new();
    for (experiment_id, role, key, _, threshold, action) in rows {
        let key = MetricKey::parse(key.clone()).map_err(|_| corrupt("metric key", &key))?;
        let m = out.entry(experiment_id).or_default();
        match MetricRole::parse(&role).ok_or_else(|| corrupt("role", &role))? {
            MetricRole::Goal => m.goal = Some(key),
            MetricRole::Secondary => m.secondary.push(key),
            MetricRole::Guardrail => m.guardrails.push(Guardrail {
                metric: key,
                threshold,
                action: GuardrailAction::parse(&action)
                    .ok_or_else(|| corrupt("action", &action))?,
            }),
        }
    }
    Ok(out)
}

/// Saves an experiment's declared metrics and brings the tracked set in line: the declared
/// metrics and their ratios' parts. Newly tracked metrics start uncomputed (the background
/// job computes them from the raw rows) unless the experiment has never run, and metrics no
/// longer tracked lose their values.
pub fn save_experiment_metrics(
    conn: &mut PgConnection,
    experiment_id: i64,
    metrics: &ExperimentMetrics,
    never_ran: bool,
) -> Result<(), StoreError> {
    let library = metrics_by_key(conn)?;
    let id_of = |key: &MetricKey| -> Result<i64, StoreError> {
        library.get(key).map(|m| m.id).ok_or_else(|| {
            ValidationError::new(
                "metrics",
                Violation::UnknownMetric {
                    key: key.to_string(),
                },
            )
            .into()
        })
    };
    diesel::delete(
        experiment_metrics::table.filter(experiment_metrics::experiment_id.eq(experiment_id)),
    )
    .execute(conn)?;
    let mut wanted: BTreeSet<i64> = BTreeSet::new();
    let mut rows = Vec::new();
    for (role, position, key, threshold) in metrics.declared() {
        let id = id_of(key)?;
        rows.push((
            experiment_metrics::experiment_id.eq(experiment_id),
            experiment_metrics::role.eq(role.as_str()),
            experiment_metrics::metric_id.eq(id),
            experiment_metrics::position.eq(position as i32),
            experiment_metrics::threshold.eq(threshold),
            experiment_metrics::action.eq(match role {
                MetricRole::Guardrail => metrics.guardrails[position].action.as_str(),
                _ => GuardrailAction::Alert.as_str(),
            }),
        ));
        wanted.insert(id);
        if let MetricDefinition::Ratio {
            numerator,
            denominator,
        } = &library[key].spec.definition
        {
            wanted.insert(id_of(numerator)?);
            wanted.insert(id_of(denominator)?);
        }
    }
    diesel::insert_into(experiment_metrics::table)
        .values(&rows)
        .execute(conn)?;
    let tracked: BTreeSet<i64> = tracked_metrics::table
        .filter(tracked_metrics::experiment_id.eq(experiment_id))
        .select(tracked_metrics::metric_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    for gone in tracked.difference(&wanted) {
        forget_tracked(conn, Some(experiment_id), *gone)?;
    }
    let versions: HashMap<i64, i64> = library.values().map(|m| (m.id, m.version)).collect();
    let new: Vec<_> = wanted
        .difference(&tracked)
        .map(|&id| {
            (
                tracked_metrics::experiment_id.eq(experiment_id),
                tracked_metrics::metric_id.eq(id),
                tracked_metrics::computed_version.eq(if never_ran { versions[&id] } else { 0 }),
            )
        })
        .collect();
    diesel::insert_into(tracked_metrics::table)
        .values(&new)
        .execute(conn)?;
    Ok(())
}
