//! Off-policy evaluation of an experiment's log: what other policies would have earned.
//!
//! One aggregation over the experiment's raw assignments (`store::ope_cells`: per context
//! and variant, sums of the outcome and of the inverse propensities) gives the IPS and
//! self-normalized IPS estimates (`stats::ope`) of:
//!
//! - `logging`: the policy that assigned the users (its estimate is the logged mean);
//! - `current`: the policy as it stands now (A/B weights, or the bandit's current
//!   allocation in each context);
//! - `fixed`: each variant for everyone;
//! - `per_segment_winners` (contextual experiments): every context its most probably best
//!   variant.
//!
//! It scans raw rows, so it stays off the results path: answers are cached per experiment
//! and reused while the statistics are unchanged or for [`MAX_AGE`].

use super::cache::SummaryCache;
use super::{Engine, EngineError, context_results};
use crate::domain::{Experiment, GoalMetric, PolicyKind};
use crate::stats::Interval;
use crate::stats::ope::{self, Cell};
use crate::stats::special::norm_quantile;
use crate::store::{self, OpeCell, VariantStats};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A cached estimate is reused this long even when new users arrived meanwhile.
pub const MAX_AGE: Duration = Duration::from_secs(10);
pub const LEVEL: f64 = 0.95;

/// The estimated value per user of one policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyEstimate {
    /// `logging`, `current`, `fixed` or `per_segment_winners`.
    pub policy: String,
    /// The variant, for `fixed`.
    pub variant: Option<String>,
    /// What the policy does, in words.
    pub description: String,
    /// Inverse propensity scoring: mean and 95% normal interval.
    pub ips: Interval,
    /// Self-normalized IPS: mean and 95% delta-method interval (`null` when the policy
    /// never chooses a logged action).
    pub snips: Option<Interval>,
    /// Kish's effective sample size of the importance weights.
    pub effective_sample_size: f64,
}

/// `GET /api/v1/experiments/{key}/ope`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpeReport {
    pub experiment: String,
    pub metric: GoalMetric,
    /// Logged assignments used.
    pub rows: i64,
    pub interval_level: f64,
    /// The logged mean outcome (conversion rate, or value per user).
    pub logged_value: Option<f64>,
    pub policies: Vec<PolicyEstimate>,
    pub notes: Vec<String>,
    pub computed_at: DateTime<Utc>,
}

/// Computed estimates, with the experiment's version and per-variant totals they were computed
/// from.
pub(super) type OpeCache = SummaryCache<(i64, Vec<VariantStats>), Arc<OpeReport>>;

impl Engine {
    /// The off-policy estimates of an experiment (cached; see the module documentation).
    pub async fn ope(&self, key: &str) -> Result<Arc<OpeReport>, EngineError> {
        let (experiment, stats) = self.experiment_and_stats(key).await?;
        let still_good = |(version, cached): &(i64, Vec<VariantStats>), age| {
            *version == experiment.version && (*cached == stats || age < MAX_AGE)
        };
        if let Some(hit) = self.ope_cache().get(experiment.id, still_good) {
            return Ok(hit);
        }
        let id = experiment.id;
        let revenue = experiment.spec.goal.metric == GoalMetric::Revenue;
        let contextual = !experiment.spec.context_names().is_empty();
        let (cells, context_stats) = self
            .store()
            .run(move |conn| {
                let cells = store::ope_cells(conn, id, revenue)?;
                let context_stats = if contextual {
                    store::load_context_stats(conn, Some(&[id]))?
                } else {
                    Vec::new()
                };
                Ok((cells, context_stats))
            })
            .await?;
        // The current policy per context, as the snapshot holds it.
        let snapshot = self.snapshot();
        let live = snapshot.get(key).cloned();
        // A stopped experiment's winner goes to everyone.
        let winner = experiment
            .winner
            .as_ref()
            .and_then(|w| experiment.spec.variant_index(w.as_str()));
        let k = experiment.spec.variants.len();
        let current: HashMap<String, Vec<f64>> = cells
            .iter()
            .map(|c| {
                let weights = match (&live, winner) {
                    (_, Some(w)) => (0..k).map(|v| if v == w { 1.0 } else { 0.0 }).collect(),
                    (Some(l), None) => l.allocation_in(&c.context_key).to_vec(),
                    (None, None) => experiment.spec.variants.iter().map(|v| v.weight).collect(),
                };
                (c.context_key.clone(), weights)
            })
            .collect();
        let cached_stats = stats.clone();
        let (experiment, report) = tokio::task::spawn_blocking(move || {
            let (contexts, _) = context_results::contexts(&experiment, &stats, &context_stats);
            let winners: HashMap<String, usize> = contexts
                .iter()
                .filter_map(|s| {
                    let v = experiment.spec.variant_index(&s.best_variant)?;
                    Some((s.key.clone(), v))
                })
                .collect();
            let report = evaluate(
                &experiment,
                &cells,
                &current,
                contextual.then_some(&winners),
            );
            (experiment, Arc::new(report))
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        self.ope_cache().insert(
            experiment.id,
            (experiment.version, cached_stats),
            report.clone(),
        );
        Ok(report)
    }

    /// The last computed estimates of an experiment, if any (no database work).
    pub fn cached_ope(&self, experiment_id: i64) -> Option<Arc<OpeReport>> {
        self.ope_cache().last(experiment_id)
    }
}

/// The estimates of every policy from the per-cell aggregates.
///
/// `current` maps each logged context to the current policy's probabilities (variant
/// order); `winners`, for contextual experiments, each context's best variant.
pub fn evaluate(
    experiment: &Experiment,
    cells: &[OpeCell],
    current: &HashMap<String, Vec<f64>>,
    winners: Option<&HashMap<String, usize>>,
) -> OpeReport {
    let spec = &experiment.spec;
    let z = norm_quantile(0.5 + 0.5 * LEVEL);
    let position = |variant_id: i64| {
        experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
    };
    let as_cell = |c: &OpeCell| Cell {
        n: c.n as f64,
        sum_r: c.sum_r,
        sum_r2: c.sum_r2,
        sum_w: c.sum_w,
        sum_rw: c.sum_rw,
        sum_w2: c.sum_w2,
        sum_rw2: c.sum_rw2,
        sum_r2w2: c.sum_r2w2,
    };
    // π(variant | context) of a target policy, for every cell.
    let with_policy = |pi: &dyn Fn(&str, usize) -> f64| -> Vec<(Cell, f64)> {
        cells
            .iter()
            .map(|c| {
                let p = position(c.variant_id).map_or(0.0, |v| pi(&c.context_key, v));
                (as_cell(c), p)
            })
            .collect()
    };
    let all: Vec<Cell> = cells.iter().map(as_cell).collect();
    let mut policies = Vec::new();
    let mut push =
        |policy: &str, variant: Option<String>, description: String, e: Option<ope::Estimate>| {
            if let Some(e) = e {
                policies.push(PolicyEstimate {
                    policy: policy.to_string(),
                    variant,
                    description,
                    ips: e.ips,
                    snips: e.snips,
                    effective_sample_size: e.effective_sample_size,
                });
            }
        };
    let logged = ope::on_policy(&all, z);
    push(
        "logging",
        None,
        "the policy that assigned the logged users (its estimate is their mean outcome)".into(),
        logged,
    );
    let current_description = match spec.policy {
        _ if experiment.winner.is_some() => "the declared winner for everyone".to_string(),
        PolicyKind::Ab => "the current fixed weights".to_string(),
        PolicyKind::Bandit if !spec.context_names().is_empty() => {
            "the bandit's current allocation in each context".to_string()
        }
        PolicyKind::Bandit => "the bandit's current allocation".to_string(),
    };
    push(
        "current",
        None,
        current_description,
        ope::estimate(
            &with_policy(&|context, v| {
                current
                    .get(context)
                    .and_then(|w| w.get(v))
                    .copied()
                    .unwrap_or(0.0)
            }),
            z,
        ),
    );
    for (i, variant) in spec.variants.iter().enumerate() {
        push(
            "fixed",
            Some(variant.key.to_string()),
            format!("{} for everyone", variant.key),
            ope::estimate(&with_policy(&|_, v| if v == i { 1.0 } else { 0.0 }), z),
        );
    }
    if let Some(winners) = winners {
        push(
            "per_segment_winners",
            None,
            "every context gets its most probably best variant".into(),
            ope::estimate(
                &with_policy(&|context, v| {
                    if winners.get(context) == Some(&v) {
                        1.0
                    } else {
                        0.0
                    }
                }),
                z,
            ),
        );
    }
    let rows: i64 = cells.iter().map(|c| c.n).sum();
    OpeReport {
        experiment: spec.key.to_string(),
        metric: spec.goal.metric,
        rows,
        interval_level: LEVEL,
        logged_value: logged.map(|e| e.ips.mean),
        policies,
        notes: vec![
            "IPS = (1/n) Σ r·π(a|x)/p with a normal interval from the variance of its terms; SNIPS = \
             Σ w·r / Σ w (w = π(a|x)/p) with a delta-method interval. r is a user's outcome after \
             assignment (converted or not, or their value), p the propensity logged at assignment. \
             Estimates of policies far from the logging policy rest on few effective users: see \
             effective_sample_size."
                .to_string(),
        ],
        computed_at: Utc::now(),
    }
}
