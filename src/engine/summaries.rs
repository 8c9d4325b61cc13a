//! What a list of experiments shows of each: its users and the variant ahead so far, read
//! from the per-variant totals of every experiment at once. One aggregate read and a posterior
//! mean per variant, so a list of hundreds of experiments costs what one results page does;
//! the exact comparisons (probability best, lift) are on each experiment's own page.

use super::{Engine, EngineError};
use crate::domain::{Experiment, GoalMetric, Status};
use crate::stats::beta::BetaPosterior;
use crate::stats::gaussian::MeanPosterior;
use crate::store::{self, VariantStats};
use std::collections::HashMap;

/// One experiment as a list shows it.
pub struct ExperimentSummary {
    pub experiment: Experiment,
    /// Users of all variants; `None` for a draft (nothing to count yet).
    pub users: Option<i64>,
    /// The variant whose goal metric has the highest posterior mean; `None` before any user.
    pub leader: Option<Leader>,
}

pub struct Leader {
    pub key: String,
    pub name: String,
    /// The posterior mean of the goal metric: the conversion rate, or the value per user.
    pub mean: f64,
}

impl Engine {
    /// Every experiment with its summary, newest first (as `list_experiments`).
    pub async fn experiment_summaries(&self) -> Result<Vec<ExperimentSummary>, EngineError> {
        let (experiments, stats) = self
            .inner
            .store
            .run(|conn| {
                Ok((
                    store::list_experiments(conn)?,
                    store::load_variant_stats(conn, None)?,
                ))
            })
            .await?;
        let mut by_variant: HashMap<i64, VariantStats> =
            stats.into_iter().map(|s| (s.variant_id, s)).collect();
        Ok(experiments
            .into_iter()
            .map(|experiment| {
                let totals: Vec<Option<VariantStats>> = experiment
                    .variant_ids
                    .iter()
                    .map(|id| by_variant.remove(id))
                    .collect();
                summary(experiment, &totals)
            })
            .collect())
    }
}

fn summary(experiment: Experiment, totals: &[Option<VariantStats>]) -> ExperimentSummary {
    if experiment.status == Status::Draft {
        return ExperimentSummary {
            experiment,
            users: None,
            leader: None,
        };
    }
    let users: i64 = totals.iter().flatten().map(|s| s.users).sum();
    let metric = experiment.spec.goal.metric;
    let leader = (users > 0)
        .then(|| {
            totals
                .iter()
                .map(|s| s.as_ref().map_or(0.0, |s| posterior_mean(metric, s)))
                .enumerate()
                .max_by(|(_, a), (_, b)| a.total_cmp(b))
        })
        .flatten()
        .map(|(i, mean)| {
            let v = &experiment.spec.variants[i];
            Leader {
                key: v.key.to_string(),
                name: v.name.clone(),
                mean,
            }
        });
    ExperimentSummary {
        experiment,
        users: Some(users),
        leader,
    }
}

/// The goal metric's posterior mean, by the models of the results page.
fn posterior_mean(metric: GoalMetric, s: &VariantStats) -> f64 {
    let n = s.users.max(0) as u64;
    match metric {
        GoalMetric::Conversion => BetaPosterior::from_counts(n, s.conversions.max(0) as u64).mean(),
        GoalMetric::Revenue => MeanPosterior::from_sums(n, s.value_sum, s.value_sum_sq).mean(),
    }
}
