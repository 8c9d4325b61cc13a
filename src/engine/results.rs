//! Results of an experiment, computed from the stored sufficient statistics by `stats`.

use super::{Engine, EngineError};
use crate::domain::{Experiment, Metric};
use crate::stats::beta::{self, BetaPosterior, Interval};
use crate::store::{self, VariantStats};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct VariantResults {
    pub key: String,
    pub users: i64,
    pub conversions: i64,
    /// Share of new users the policy gives this variant now.
    pub weight: f64,
    pub rate: Interval,
    pub chance_to_beat_control: Option<f64>,
    pub probability_best: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResults {
    pub experiment: String,
    pub status: String,
    pub metric: Metric,
    pub control: String,
    pub variants: Vec<VariantResults>,
    pub weights: Vec<f64>,
}

impl Engine {
    pub async fn results(&self, key: &str) -> Result<ExperimentResults, EngineError> {
        let experiment = self.experiment(key).await?;
        let id = experiment.id;
        let stats = self
            .store()
            .run(move |conn| store::load_variant_stats(conn, Some(&[id])))
            .await?;
        let weights = self
            .snapshot()
            .get(key)
            .map(|live| live.policy.allocation().to_vec())
            .unwrap_or_else(|| experiment.spec.variants.iter().map(|v| v.weight).collect());
        let results = tokio::task::spawn_blocking(move || compute(&experiment, &stats, weights))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(results)
    }
}

fn compute(
    experiment: &Experiment,
    stats: &[VariantStats],
    weights: Vec<f64>,
) -> ExperimentResults {
    let spec = &experiment.spec;
    let counts: Vec<(i64, i64)> = experiment
        .variant_ids
        .iter()
        .map(|id| {
            stats
                .iter()
                .find(|s| s.variant_id == *id)
                .map_or((0, 0), |s| (s.users, s.conversions))
        })
        .collect();
    let posteriors: Vec<BetaPosterior> = counts
        .iter()
        .map(|&(n, c)| BetaPosterior::from_counts(n.max(0) as u64, c.max(0) as u64))
        .collect();
    let control = spec.variant_index(spec.control.as_str()).unwrap_or(0);
    let best = beta::prob_best(&posteriors);
    let variants = spec
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| VariantResults {
            key: v.key.to_string(),
            users: counts[i].0,
            conversions: counts[i].1,
            weight: weights.get(i).copied().unwrap_or(0.0),
            rate: posteriors[i].interval(0.95),
            chance_to_beat_control: (i != control)
                .then(|| beta::prob_greater(&posteriors[i], &posteriors[control])),
            probability_best: best[i],
        })
        .collect();
    ExperimentResults {
        experiment: spec.key.to_string(),
        status: experiment.status.to_string(),
        metric: spec.goal.metric,
        control: spec.control.to_string(),
        variants,
        weights,
    }
}
