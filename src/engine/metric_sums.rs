//! The sufficient statistics of an experiment's declared metrics, per variant, as results
//! compare them: counts for conversion and retention, Σx and Σx² for a mean, the five sums
//! of a ratio. Most come from the sums the writer keeps; a percentile cap, a retention
//! window that must have closed and a ratio's cross products are computed from the per-user
//! values when results are read.

use crate::domain::{
    Cap, Direction, Duration, Experiment, GoalMetric, Metric, MetricDefinition, MetricKey,
    MetricRole, MetricType,
};
use crate::stats::gaussian::MeanPosterior;
use crate::stats::ratio::RatioStats;
use crate::store::covariates;
use crate::store::metric_sums::{self, MetricSumRow, VariantSums};
use crate::store::{StoreError, VariantStats};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use std::collections::HashMap;

/// One declared metric of an experiment with what results compare, per variant in the
/// experiment's order.
#[derive(Debug, Clone)]
pub struct MetricInput {
    /// The library key (`goal` for the inline goal).
    pub key: String,
    pub name: String,
    pub metric_type: MetricType,
    pub direction: Direction,
    pub role: MetricRole,
    /// Guardrails: the relative harm that matters.
    pub threshold: f64,
    /// The stored values lag the metric's definition: it is being computed from the raw rows.
    pub computing: bool,
    pub arms: Arms,
    /// CUPED: the pre-assignment covariate's sums, when the experiment adjusts this metric
    /// and they have been computed.
    pub covariates: Option<Covariates>,
}

/// A metric's pre-assignment covariate per variant, in the experiment's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariates {
    pub lookback: Duration,
    pub arms: Vec<CovariateArm>,
}

/// Sums over one variant's users who had activity in the lookback window (every other user
/// has x = 0 and adds nothing to them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CovariateArm {
    pub users: u64,
    pub x: f64,
    pub x_sq: f64,
    /// Σ x·y, y the user's value after the assignment.
    pub xy: f64,
}

/// Per variant, in the experiment's order.
#[derive(Debug, Clone, PartialEq)]
pub enum Arms {
    /// (users, users with a value): conversion and retention.
    Proportions(Vec<(u64, u64)>),
    Means(Vec<MeanPosterior>),
    Ratios(Vec<RatioStats>),
}

impl Arms {
    /// The goal as the assignment rows follow it (`variant_stats`), per variant in the order
    /// of `variant_ids` (a variant without statistics has no users).
    pub fn of_goal(goal: GoalMetric, variant_ids: &[i64], stats: &[VariantStats]) -> Arms {
        let of = |id: &i64| stats.iter().find(|s| s.variant_id == *id);
        let n = |s: &VariantStats| s.users.max(0) as u64;
        match goal {
            GoalMetric::Conversion => Arms::Proportions(
                variant_ids
                    .iter()
                    .map(|id| {
                        of(id).map_or((0, 0), |s| (n(s), (s.conversions.max(0) as u64).min(n(s))))
                    })
                    .collect(),
            ),
            GoalMetric::Revenue => Arms::Means(
                variant_ids
                    .iter()
                    .map(|id| {
                        of(id).map_or_else(
                            || MeanPosterior::from_sums(0, 0.0, 0.0),
                            |s| MeanPosterior::from_sums(n(s), s.value_sum, s.value_sum_sq),
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// Whether results of these tracked metrics change with the clock alone (a retention window
/// closes for more users as time passes), so that a cached computation must also age out.
pub fn depend_on_time(sums: &[MetricSumRow]) -> bool {
    sums.iter().any(|r| r.metric_type == "retention")
}

/// Reads the statistics of every declared metric. `stats` are the variants' totals (every
/// assigned user counts, with 0 when they have no value); `sums` what
/// [`metric_sums::tracked_metric_sums`] read; `now` closes retention windows.
#[allow(clippy::too_many_arguments)]
pub fn load(
    conn: &mut PgConnection,
    experiment: &Experiment,
    library: &HashMap<MetricKey, Metric>,
    stats: &[VariantStats],
    sums: &[MetricSumRow],
    covariate_sums: Option<&CovariateSums>,
    now: DateTime<Utc>,
) -> Result<Vec<MetricInput>, StoreError> {
    let reader = Reader {
        experiment,
        library,
        sums,
        covariate_sums,
        users: experiment
            .variant_ids
            .iter()
            .map(|id| {
                stats
                    .iter()
                    .find(|s| s.variant_id == *id)
                    .map_or(0, |s| s.users.max(0) as u64)
            })
            .collect(),
    };
    let mut out = Vec::new();
    for (role, _, key, threshold) in experiment.spec.metrics.declared() {
        let Some(metric) = library.get(key) else {
            continue;
        };
        out.push(MetricInput {
            key: key.to_string(),
            name: metric.spec.name.clone(),
            metric_type: metric.spec.definition.metric_type(),
            direction: metric.spec.direction,
            role,
            threshold,
            computing: reader.computing(metric),
            arms: reader.arms(conn, metric, now)?,
            covariates: reader.covariates(metric),
        });
    }
    Ok(out)
}

struct Reader<'a> {
    experiment: &'a Experiment,
    library: &'a HashMap<MetricKey, Metric>,
    sums: &'a [MetricSumRow],
    covariate_sums: Option<&'a CovariateSums>,
    /// Assigned users per variant.
    users: Vec<u64>,
}

/// A part's per-user values summed per variant, and the cap they were held to.
struct PartSums {
    per_variant: Vec<(u64, f64, f64)>,
    cap: Option<f64>,
}

impl Reader<'_> {
    fn position(&self, variant_id: i64) -> Option<usize> {
        self.experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
    }

    fn computing(&self, metric: &Metric) -> bool {
        if let MetricDefinition::Ratio {
            numerator,
            denominator,
        } = &metric.spec.definition
        {
            return [numerator, denominator]
                .into_iter()
                .any(|k| self.library.get(k).is_some_and(|m| self.computing(m)));
        }
        self.sums
            .iter()
            .find(|r| r.metric_id == metric.id)
            .is_none_or(|r| r.computed_version < r.version)
    }

    /// Per variant (users with a value, Σx, Σx²) from rows of `variant_id`s.
    fn spread<R>(
        &self,
        rows: impl Iterator<Item = R>,
        of: impl Fn(&R) -> (i64, i64, f64, f64),
    ) -> Vec<(u64, f64, f64)> {
        let mut out = vec![(0, 0.0, 0.0); self.users.len()];
        for row in rows {
            let (variant_id, users, total, total_sq) = of(&row);
            if let Some(i) = self.position(variant_id) {
                out[i] = (users.max(0) as u64, total, total_sq);
            }
        }
        out
    }

    fn part(&self, conn: &mut PgConnection, metric: &Metric) -> Result<PartSums, StoreError> {
        let id = self.experiment.id;
        if let MetricDefinition::Mean {
            cap: Some(Cap::Percentile(p)),
            ..
        } = metric.spec.definition
        {
            let cap = metric_sums::value_quantile(conn, id, metric.id, p)?;
            let rows = metric_sums::capped_sums(conn, id, metric.id, cap, None)?;
            return Ok(PartSums {
                per_variant: self.spread(rows.into_iter(), sums_of),
                cap,
            });
        }
        let rows = self.sums.iter().filter(|r| r.metric_id == metric.id);
        Ok(PartSums {
            per_variant: self.spread(rows, |r| {
                (r.variant_id.unwrap_or(0), r.users, r.total, r.total_sq)
            }),
            cap: None,
        })
    }

    fn arms(
        &self,
        conn: &mut PgConnection,
        metric: &Metric,
        now: DateTime<Utc>,
    ) -> Result<Arms, StoreError> {
        let id = self.experiment.id;
        Ok(match &metric.spec.definition {
            MetricDefinition::Conversion { .. } => {
                let part = self.part(conn, metric)?;
                Arms::Proportions(
                    self.users
                        .iter()
                        .zip(&part.per_variant)
                        .map(|(&n, &(with, _, _))| (n, with.min(n)))
                        .collect(),
                )
            }
            MetricDefinition::Retention { to, .. } => {
                // Only users whose window has closed count, in both numerator and denominator.
                let closed = now - to.as_time_delta();
                let eligible = self.spread(
                    metric_sums::assigned_by(conn, id, closed)?.into_iter(),
                    |r| (r.variant_id, r.users, 0.0, 0.0),
                );
                let retained = self.spread(
                    metric_sums::capped_sums(conn, id, metric.id, None, Some(closed))?.into_iter(),
                    sums_of,
                );
                Arms::Proportions(
                    eligible
                        .iter()
                        .zip(&retained)
                        .map(|(&(n, _, _), &(with, _, _))| (n, with.min(n)))
                        .collect(),
                )
            }
            MetricDefinition::Mean { .. } => {
                let part = self.part(conn, metric)?;
                Arms::Means(
                    self.users
                        .iter()
                        .zip(&part.per_variant)
                        .map(|(&n, &(_, total, total_sq))| {
                            MeanPosterior::from_sums(n, total, total_sq)
                        })
                        .collect(),
                )
            }
            MetricDefinition::Ratio {
                numerator,
                denominator,
            } => {
                let (Some(x_metric), Some(y_metric)) =
                    (self.library.get(numerator), self.library.get(denominator))
                else {
                    return Ok(Arms::Ratios(vec![RatioStats::default(); self.users.len()]));
                };
                let x = self.part(conn, x_metric)?;
                let y = self.part(conn, y_metric)?;
                let mut xy = vec![0.0; self.users.len()];
                for row in metric_sums::cross_products(
                    conn,
                    id,
                    (x_metric.id, x.cap),
                    (y_metric.id, y.cap),
                )? {
                    if let Some(i) = self.position(row.variant_id) {
                        xy[i] = row.sum_xy;
                    }
                }
                Arms::Ratios(
                    (0..self.users.len())
                        .map(|i| RatioStats {
                            n: self.users[i],
                            sum_x: x.per_variant[i].1,
                            sum_x_sq: x.per_variant[i].2,
                            sum_y: y.per_variant[i].1,
                            sum_y_sq: y.per_variant[i].2,
                            sum_xy: xy[i],
                        })
                        .collect(),
                )
            }
        })
    }

    /// The covariate sums of a conversion or mean metric of an experiment with CUPED on, as
    /// the background last read them.
    fn covariates(&self, metric: &Metric) -> Option<Covariates> {
        let adjustable = matches!(
            metric.spec.definition,
            MetricDefinition::Conversion { .. } | MetricDefinition::Mean { .. }
        );
        if !adjustable {
            return None;
        }
        self.covariate_sums?.of(self.experiment, metric.id)
    }
}

/// An experiment's covariate sums as the background last read them (`engine::covariates`):
/// results adjust with these and never scan the covariates themselves, which at a million
/// users with earlier activity takes seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct CovariateSums {
    /// The lookback they were computed with.
    pub lookback_seconds: i64,
    pub read_at: DateTime<Utc>,
    /// Per metric (the inline goal as `covariates::INLINE_GOAL_METRIC_ID`) and variant.
    pub rows: Vec<covariates::CovariateSumRow>,
}

impl CovariateSums {
    /// Reads the sums of every adjustable declared metric and the inline goal whose covariates
    /// have been computed with the experiment's lookback.
    pub fn read(
        conn: &mut PgConnection,
        experiment: &Experiment,
        library: &HashMap<MetricKey, Metric>,
    ) -> Result<Option<CovariateSums>, StoreError> {
        let Some(lookback) = experiment.spec.cuped.lookback() else {
            return Ok(None);
        };
        let sums = metric_sums::tracked_metric_sums(conn, experiment.id)?;
        let mut rows = Vec::new();
        for (_, _, key, _) in experiment.spec.metrics.declared() {
            let Some(metric) = library.get(key) else {
                continue;
            };
            let computed = sums.iter().any(|r| {
                r.metric_id == metric.id
                    && r.covariates_through.is_some()
                    && r.covariates_lookback == Some(lookback.seconds())
            });
            let cap = match metric.spec.definition {
                MetricDefinition::Conversion { .. } => None,
                MetricDefinition::Mean {
                    cap: Some(Cap::Percentile(p)),
                    ..
                } => metric_sums::value_quantile(conn, experiment.id, metric.id, p)?,
                MetricDefinition::Mean { .. } => None,
                _ => continue,
            };
            if computed {
                rows.extend(covariates::covariate_sums(
                    conn,
                    experiment.id,
                    metric.id,
                    cap,
                )?);
            }
        }
        if experiment.spec.metrics.goal.is_none() {
            let mark = covariates::goal_mark(conn, experiment.id)?;
            if mark.is_some_and(|m| m.through.is_some() && m.lookback == Some(lookback.seconds())) {
                let conversion =
                    experiment.spec.goal.metric == crate::domain::GoalMetric::Conversion;
                rows.extend(covariates::goal_covariate_sums(
                    conn,
                    experiment.id,
                    conversion,
                )?);
            }
        }
        Ok(Some(CovariateSums {
            lookback_seconds: lookback.seconds(),
            read_at: Utc::now(),
            rows,
        }))
    }

    /// One metric's covariates per variant, when read with the experiment's lookback.
    pub fn of(&self, experiment: &Experiment, metric_id: i64) -> Option<Covariates> {
        let lookback = experiment.spec.cuped.lookback()?;
        if lookback.seconds() != self.lookback_seconds {
            return None;
        }
        let mut arms = vec![CovariateArm::default(); experiment.variant_ids.len()];
        let mut any = false;
        for row in self.rows.iter().filter(|r| r.metric_id == metric_id) {
            if let Some(i) = experiment
                .variant_ids
                .iter()
                .position(|&id| id == row.variant_id)
            {
                any = true;
                arms[i] = CovariateArm {
                    users: row.users.max(0) as u64,
                    x: row.x,
                    x_sq: row.x_sq,
                    xy: row.xy,
                };
            }
        }
        any.then_some(Covariates { lookback, arms })
    }
}

fn sums_of(r: &VariantSums) -> (i64, i64, f64, f64) {
    (r.variant_id, r.users, r.total, r.total_sq)
}
