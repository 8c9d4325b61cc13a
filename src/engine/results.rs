//! Results of an experiment, computed from the stored sufficient statistics by `stats`.
//!
//! Everything here is read from aggregates (`variant_stats`, `period_stats`), never from a
//! scan of raw rows, so a results page costs the same at a thousand users as at ten million.

use super::{Engine, EngineError};
use crate::domain::{Experiment, Kind, Metric};
use crate::stats::beta::{self, BetaPosterior, Interval};
use crate::store::{self, PeriodStats, VariantStats};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The rules a verdict is judged by, returned with the results so readers know them.
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// Credible intervals cover this much posterior probability.
    pub interval_level: f64,
    /// A leader becomes the winner once its probability of being best reaches this...
    pub probability_best: f64,
    /// ...and its expected loss falls below this fraction of the control's mean.
    pub expected_loss_relative: f64,
    /// Sample ratio mismatch is flagged below this p-value.
    pub srm_p_value: f64,
    /// Frequentist companion: two-sided p-values below this are marked significant.
    pub p_value: f64,
    /// No verdict before every arm has this many users.
    pub min_users_per_arm: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Some arm has fewer users than the minimum-data rule asks.
    NotEnoughData,
    /// Enough data, but no arm is both likely best and cheap to ship.
    KeepRunning,
    /// The leader crossed both thresholds.
    Winner,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// The arm most likely to be best.
    pub leader: String,
    /// Users still missing in the arm furthest from the minimum (0 once every arm has it).
    pub users_needed_per_arm: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResults {
    pub key: String,
    pub name: String,
    pub users: i64,
    /// Users with at least one attributed goal event.
    pub conversions: i64,
    /// Sum of attributed values (revenue metric).
    pub value_sum: f64,
    /// Share of new users the policy gives this variant now.
    pub weight: f64,
    /// Conversion rate: posterior mean and credible interval.
    pub rate: Interval,
    /// Revenue metric: value per user, posterior mean and credible interval.
    pub value_per_user: Option<Interval>,
    /// Relative lift of the goal metric over control (`null` for the control).
    pub lift: Option<Interval>,
    pub chance_to_beat_control: Option<f64>,
    pub probability_best: f64,
    /// Expected loss of shipping this variant: E[max over arms − this arm], in metric units.
    pub expected_loss: f64,
    /// Two-sided p-value against control (z-test for conversion, Welch for revenue).
    pub p_value: Option<f64>,
    /// Bandits: the metric re-weighted period by period to undo the bias of changing weights.
    pub period_weighted_mean: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResults {
    pub experiment: String,
    pub status: String,
    pub kind: Kind,
    pub metric: Metric,
    pub control: String,
    pub winner: Option<String>,
    pub srm_p_value: Option<f64>,
    pub sample_ratio_mismatch: bool,
    pub decision: Decision,
    pub thresholds: Thresholds,
    pub variants: Vec<VariantResults>,
    /// Current allocation, in variant order.
    pub weights: Vec<f64>,
    /// What was corrected and how, in plain words.
    pub notes: Vec<String>,
    pub computed_at: DateTime<Utc>,
}

/// One point of the hourly series behind the charts and the export.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    pub period_start: DateTime<Utc>,
    pub variant: String,
    pub users: i64,
    pub conversions: i64,
    pub value_sum: f64,
    /// The share of the period's new users the policy meant for this variant.
    pub weight: f64,
}

pub const INTERVAL_LEVEL: f64 = 0.95;
pub const PROBABILITY_BEST_THRESHOLD: f64 = 0.95;
pub const EXPECTED_LOSS_RELATIVE_THRESHOLD: f64 = 0.01;
pub const SRM_THRESHOLD: f64 = 0.001;
pub const P_VALUE_THRESHOLD: f64 = 0.05;

impl Engine {
    pub async fn results(&self, key: &str) -> Result<ExperimentResults, EngineError> {
        let experiment = self.experiment(key).await?;
        let id = experiment.id;
        let (stats, periods) = self
            .store()
            .run(move |conn| {
                Ok((
                    store::load_variant_stats(conn, Some(&[id]))?,
                    store::load_period_stats(conn, id)?,
                ))
            })
            .await?;
        let weights = self
            .snapshot()
            .get(key)
            .map(|live| live.policy.allocation().to_vec())
            .unwrap_or_else(|| experiment.spec.variants.iter().map(|v| v.weight).collect());
        tokio::task::spawn_blocking(move || compute(&experiment, &stats, &periods, weights))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// The hourly series of an experiment, oldest first.
    pub async fn series(&self, key: &str) -> Result<Vec<SeriesPoint>, EngineError> {
        let experiment = self.experiment(key).await?;
        let id = experiment.id;
        let periods = self
            .store()
            .run(move |conn| store::load_period_stats(conn, id))
            .await?;
        Ok(series(&experiment, &periods))
    }
}

pub fn series(experiment: &Experiment, periods: &[PeriodStats]) -> Vec<SeriesPoint> {
    let key_of = |variant_id: i64| {
        experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
            .map(|i| experiment.spec.variants[i].key.to_string())
    };
    let mut points = Vec::with_capacity(periods.len());
    for chunk in periods.chunk_by(|a, b| a.period_start == b.period_start) {
        let period_users: f64 = chunk.iter().map(|p| p.expected_users).sum();
        for p in chunk {
            if let Some(variant) = key_of(p.variant_id) {
                points.push(SeriesPoint {
                    period_start: p.period_start,
                    variant,
                    users: p.users,
                    conversions: p.conversions,
                    value_sum: p.value_sum,
                    weight: if period_users > 0.0 {
                        p.expected_users / period_users
                    } else {
                        0.0
                    },
                });
            }
        }
    }
    points
}

pub(crate) fn compute(
    experiment: &Experiment,
    stats: &[VariantStats],
    _periods: &[PeriodStats],
    weights: Vec<f64>,
) -> ExperimentResults {
    let spec = &experiment.spec;
    let zero = |id: i64| VariantStats {
        variant_id: id,
        experiment_id: experiment.id,
        users: 0,
        conversions: 0,
        value_sum: 0.0,
        value_sum_sq: 0.0,
    };
    let stats: Vec<VariantStats> = experiment
        .variant_ids
        .iter()
        .map(|&id| {
            stats
                .iter()
                .find(|s| s.variant_id == id)
                .copied()
                .unwrap_or_else(|| zero(id))
        })
        .collect();
    let posteriors: Vec<BetaPosterior> = stats
        .iter()
        .map(|s| BetaPosterior::from_counts(s.users.max(0) as u64, s.conversions.max(0) as u64))
        .collect();
    let control = spec.variant_index(spec.control.as_str()).unwrap_or(0);
    let best = beta::prob_best(&posteriors);
    let leader = (0..best.len())
        .max_by(|&a, &b| best[a].total_cmp(&best[b]))
        .unwrap_or(0);
    let min_users = stats
        .iter()
        .map(|s| s.users.max(0) as u64)
        .min()
        .unwrap_or(0);
    let needed = u64::from(spec.min_users_per_arm).saturating_sub(min_users);
    let variants = spec
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| VariantResults {
            key: v.key.to_string(),
            name: v.name.clone(),
            users: stats[i].users,
            conversions: stats[i].conversions,
            value_sum: stats[i].value_sum,
            weight: weights.get(i).copied().unwrap_or(0.0),
            rate: posteriors[i].interval(INTERVAL_LEVEL),
            value_per_user: None,
            lift: None,
            chance_to_beat_control: (i != control)
                .then(|| beta::prob_greater(&posteriors[i], &posteriors[control])),
            probability_best: best[i],
            expected_loss: 0.0,
            p_value: None,
            period_weighted_mean: None,
        })
        .collect();
    ExperimentResults {
        experiment: spec.key.to_string(),
        status: experiment.status.to_string(),
        kind: spec.kind,
        metric: spec.goal.metric,
        control: spec.control.to_string(),
        winner: experiment.winner.as_ref().map(|w| w.to_string()),
        srm_p_value: None,
        sample_ratio_mismatch: false,
        decision: Decision {
            outcome: if needed > 0 {
                Outcome::NotEnoughData
            } else {
                Outcome::KeepRunning
            },
            leader: spec.variants[leader].key.to_string(),
            users_needed_per_arm: needed,
        },
        thresholds: Thresholds {
            interval_level: INTERVAL_LEVEL,
            probability_best: PROBABILITY_BEST_THRESHOLD,
            expected_loss_relative: EXPECTED_LOSS_RELATIVE_THRESHOLD,
            srm_p_value: SRM_THRESHOLD,
            p_value: P_VALUE_THRESHOLD,
            min_users_per_arm: spec.min_users_per_arm,
        },
        variants,
        weights,
        notes: Vec::new(),
        computed_at: Utc::now(),
    }
}
