//! Effects over time: each metric's cumulative figures (users, value, the lift's confidence
//! sequence and its always-valid p-value) as they stood at the end of each day since the
//! start, so that a novelty effect (a lift that fades) shows.
//!
//! The cheap, exact design: the statistics are cumulative sums, so the figures of a past day
//! are the results as they were computed that day. The background tick (every five refresh
//! intervals, with the guardrails) writes today's row per metric × variant of every running
//! experiment from its current results, the last write of a day standing for the day; and
//! once more when an experiment stops (its final day). The results' `over_time` is the stored
//! days plus today's point from the live results, so today is always current.
//!
//! The rows are aggregates without user ids: erasing a user leaves them be (the day's figures
//! were true that day; the live results follow the erasure).

use super::metric_results::{MetricResults, MetricVariant};
use super::{Engine, EngineError};
use crate::domain::{Experiment, Status};
use crate::stats::Interval;
use crate::store::{self, metric_history::HistoryRow};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// One day of a metric's `over_time`: the cumulative figures at the end of the day (today:
/// now).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverTimePoint {
    /// The day (UTC).
    #[schema(value_type = String, format = Date, example = "2026-12-06")]
    pub day: NaiveDate,
    /// Days since the start: 1 is the day the experiment started.
    pub day_number: i64,
    /// In the experiment's variant order.
    pub variants: Vec<OverTimeVariant>,
}

/// One variant on one day.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverTimeVariant {
    pub key: String,
    /// Users compared so far.
    pub users: i64,
    /// The metric's value so far (rate, value per user or ratio).
    pub value: f64,
    /// The lift over control with its 95% confidence sequence (the `sequential` view; `null`
    /// for the control and while there is none).
    pub lift: Option<Interval>,
    /// The always-valid p-value against control.
    pub p_value: Option<f64>,
}

/// The day the live results stand for: today while the experiment runs (or is paused), the
/// day it stopped once stopped; none before it started.
pub fn live_day(experiment: &Experiment, now: DateTime<Utc>) -> Option<NaiveDate> {
    experiment.started_at?;
    Some(match (experiment.status, experiment.stopped_at) {
        (Status::Stopped, Some(at)) => at.date_naive(),
        _ => now.date_naive(),
    })
}

/// The rows of `day` from the current results' metrics.
pub fn rows_of(
    experiment: &Experiment,
    metrics: &[MetricResults],
    day: NaiveDate,
) -> Vec<HistoryRow> {
    metrics
        .iter()
        .flat_map(|m| {
            m.variants.iter().filter_map(move |v| {
                let i = experiment.spec.variant_index(&v.key)?;
                let lift = v.sequential.map(|s| s.lift);
                Some(HistoryRow {
                    experiment_id: experiment.id,
                    metric_key: m.key.clone(),
                    variant_id: *experiment.variant_ids.get(i)?,
                    day,
                    users: v.users,
                    value_mean: v.value.mean,
                    lift_mean: lift.map(|l| l.mean),
                    lift_low: lift.map(|l| l.low),
                    lift_high: lift.map(|l| l.high),
                    p_value: v.sequential.map(|s| s.p_value),
                })
            })
        })
        .collect()
}

/// Fills every metric's `over_time`: the stored days before `live_day`, then the live point
/// of `live_day` from the metric's own figures (nothing before the experiment started).
pub fn fill(
    experiment: &Experiment,
    stored: &[HistoryRow],
    metrics: &mut [MetricResults],
    live_day: Option<NaiveDate>,
) {
    let (Some(started), Some(live_day)) = (experiment.started_at, live_day) else {
        return;
    };
    let day_number = |day: NaiveDate| (day - started.date_naive()).num_days() + 1;
    let position = |variant_id: i64| {
        experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
    };
    for m in metrics {
        let mut days: BTreeMap<NaiveDate, Vec<(usize, OverTimeVariant)>> = BTreeMap::new();
        for row in stored
            .iter()
            .filter(|r| r.metric_key == m.key && r.day < live_day)
        {
            let Some(i) = position(row.variant_id) else {
                continue;
            };
            days.entry(row.day).or_default().push((
                i,
                OverTimeVariant {
                    key: experiment.spec.variants[i].key.to_string(),
                    users: row.users,
                    value: row.value_mean,
                    lift: row.lift_mean.map(|mean| Interval {
                        mean,
                        low: row.lift_low.unwrap_or(f64::NEG_INFINITY),
                        high: row.lift_high.unwrap_or(f64::INFINITY),
                    }),
                    p_value: row.p_value,
                },
            ));
        }
        let mut points: Vec<OverTimePoint> = days
            .into_iter()
            .map(|(day, mut variants)| {
                variants.sort_by_key(|(i, _)| *i);
                OverTimePoint {
                    day,
                    day_number: day_number(day),
                    variants: variants.into_iter().map(|(_, v)| v).collect(),
                }
            })
            .collect();
        points.push(OverTimePoint {
            day: live_day,
            day_number: day_number(live_day),
            variants: m.variants.iter().map(live_variant).collect(),
        });
        m.over_time = points;
    }
}

fn live_variant(v: &MetricVariant) -> OverTimeVariant {
    OverTimeVariant {
        key: v.key.clone(),
        users: v.users,
        value: v.value.mean,
        lift: v.sequential.map(|s| s.lift),
        p_value: v.sequential.map(|s| s.p_value),
    }
}

/// What this instance last wrote per experiment, to skip a write that would change nothing,
/// and the stopped experiments whose final day is written.
#[derive(Default)]
pub(super) struct Written {
    rows: Mutex<HashMap<i64, Vec<HistoryRow>>>,
    finished: Mutex<HashSet<i64>>,
}

impl Written {
    fn unchanged(&self, experiment_id: i64, rows: &[HistoryRow]) -> bool {
        let written = self.rows.lock().expect("history memory lock");
        written.get(&experiment_id).is_some_and(|last| {
            last.len() == rows.len() && last.iter().zip(rows).all(|(a, b)| same(a, b))
        })
    }

    fn remember(&self, experiment_id: i64, rows: Vec<HistoryRow>) {
        self.rows
            .lock()
            .expect("history memory lock")
            .insert(experiment_id, rows);
    }

    fn is_finished(&self, experiment_id: i64) -> bool {
        self.finished
            .lock()
            .expect("history memory lock")
            .contains(&experiment_id)
    }

    fn finish(&self, experiment_id: i64) {
        self.finished
            .lock()
            .expect("history memory lock")
            .insert(experiment_id);
        // A stopped experiment is written no more: its figures need not be kept.
        self.rows
            .lock()
            .expect("history memory lock")
            .remove(&experiment_id);
    }
}

/// The same row, figure for figure (bit for bit: an undefined mean, NaN, equals itself).
fn same(a: &HistoryRow, b: &HistoryRow) -> bool {
    let bits = |x: Option<f64>| x.map(f64::to_bits);
    a.experiment_id == b.experiment_id
        && a.metric_key == b.metric_key
        && a.variant_id == b.variant_id
        && a.day == b.day
        && a.users == b.users
        && a.value_mean.to_bits() == b.value_mean.to_bits()
        && bits(a.lift_mean) == bits(b.lift_mean)
        && bits(a.lift_low) == bits(b.lift_low)
        && bits(a.lift_high) == bits(b.lift_high)
        && bits(a.p_value) == bits(b.p_value)
}

impl Engine {
    /// Writes today's figures of every running experiment whose figures changed since this
    /// instance last wrote them, and the final day of every experiment stopped since its last
    /// write; returns the rows written.
    pub async fn record_history(&self) -> Result<usize, EngineError> {
        let written = &self.inner.history_written;
        let experiments = self.store().run(store::list_experiments).await?;
        let stopped: Vec<i64> = experiments
            .iter()
            .filter(|e| e.status == Status::Stopped && !written.is_finished(e.id))
            .map(|e| e.id)
            .collect();
        let last_recorded: HashMap<i64, DateTime<Utc>> = if stopped.is_empty() {
            HashMap::new()
        } else {
            self.store()
                .run(move |conn| store::metric_history::last_recorded(conn, &stopped))
                .await?
                .into_iter()
                .collect()
        };
        let now = Utc::now();
        let mut count = 0;
        for experiment in experiments {
            let stopped = experiment.status == Status::Stopped;
            if stopped {
                if written.is_finished(experiment.id) {
                    continue;
                }
                // Written after the stop (by this instance or another): its final day is in.
                let done = match (experiment.stopped_at, last_recorded.get(&experiment.id)) {
                    (Some(at), Some(last)) => *last >= at,
                    (None, _) => true,
                    (Some(_), None) => false,
                };
                if done || experiment.started_at.is_none() {
                    written.finish(experiment.id);
                    continue;
                }
            } else if experiment.status != Status::Running {
                continue;
            }
            let overview = self.overview(experiment.spec.key.as_str()).await?;
            let Some(day) = live_day(&overview.experiment, now) else {
                continue;
            };
            let rows = rows_of(&overview.experiment, &overview.results.metrics, day);
            if !stopped && written.unchanged(experiment.id, &rows) {
                continue;
            }
            let to_write = rows.clone();
            count += self
                .store()
                .run(move |conn| store::metric_history::upsert(conn, &to_write))
                .await?;
            if overview.experiment.status == Status::Stopped {
                written.finish(experiment.id);
            } else {
                written.remember(experiment.id, rows);
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: u32, lift: Option<f64>) -> HistoryRow {
        HistoryRow {
            experiment_id: 1,
            metric_key: "goal".into(),
            variant_id: 2,
            day: NaiveDate::from_ymd_opt(2026, 12, day).unwrap(),
            users: 10,
            value_mean: f64::NAN,
            lift_mean: lift,
            lift_low: lift,
            lift_high: lift,
            p_value: None,
        }
    }

    #[test]
    fn rows_are_the_same_figure_for_figure_even_when_undefined() {
        assert!(same(&row(6, None), &row(6, None)));
        assert!(same(&row(6, Some(0.1)), &row(6, Some(0.1))));
        assert!(!same(&row(6, Some(0.1)), &row(6, Some(0.2))));
        assert!(!same(&row(6, None), &row(7, None)));
    }

    #[test]
    fn memory_skips_only_what_it_wrote() {
        let written = Written::default();
        assert!(!written.unchanged(1, &[row(6, None)]));
        written.remember(1, vec![row(6, None)]);
        assert!(written.unchanged(1, &[row(6, None)]));
        assert!(!written.unchanged(1, &[row(6, Some(0.1))]));
        assert!(!written.unchanged(1, &[row(7, None)]));
        written.finish(1);
        assert!(written.is_finished(1));
        assert!(!written.unchanged(1, &[row(6, None)]));
    }
}
