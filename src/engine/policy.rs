//! How a new user's variant is chosen: fixed weights, or Thompson sampling over the
//! posteriors of the goal metric as of the last refresh (pooled, or per context).

use crate::domain::GoalMetric;
use crate::stats::beta::BetaPosterior;
use crate::stats::gaussian::MeanPosterior;
use crate::stats::thompson;
use crate::store::VariantStats;

/// How a new user's variant is chosen.
pub enum Policy {
    /// Fixed weights; the variant follows from a hash of the user.
    Ab { weights: Vec<f64> },
    /// Thompson sampling over the posteriors as of the last refresh. `allocation` is the exact
    /// probability that the sampler (with its floor) picks each arm: the logged propensity.
    Bandit {
        posteriors: Posteriors,
        floor: f64,
        allocation: Vec<f64>,
    },
}

/// The bandit's model of each arm, by goal metric.
pub enum Posteriors {
    /// Conversion: Beta(1 + converted users, 1 + users − converted users).
    Conversion(Vec<BetaPosterior>),
    /// Revenue: Gaussian model of the mean value per user.
    Revenue(Vec<MeanPosterior>),
}

impl Posteriors {
    pub fn from_stats(metric: GoalMetric, variant_ids: &[i64], stats: &[VariantStats]) -> Self {
        let of = |id: &i64| stats.iter().find(|s| s.variant_id == *id);
        match metric {
            GoalMetric::Conversion => Posteriors::Conversion(
                variant_ids
                    .iter()
                    .map(|id| {
                        let (n, c) = of(id).map_or((0, 0), |s| {
                            (s.users.max(0) as u64, s.conversions.max(0) as u64)
                        });
                        BetaPosterior::from_counts(n, c)
                    })
                    .collect(),
            ),
            GoalMetric::Revenue => Posteriors::Revenue(
                variant_ids
                    .iter()
                    .map(|id| {
                        let (n, sum, sum_sq) = of(id).map_or((0, 0.0, 0.0), |s| {
                            (s.users.max(0) as u64, s.value_sum, s.value_sum_sq)
                        });
                        MeanPosterior::from_sums(n, sum, sum_sq)
                    })
                    .collect(),
            ),
        }
    }

    /// The exact probability that the sampler picks each arm.
    pub fn allocation(&self, floor: f64) -> Vec<f64> {
        match self {
            Posteriors::Conversion(arms) => thompson::allocation(arms, floor),
            Posteriors::Revenue(arms) => thompson::allocation_gaussian(arms, floor),
        }
    }

    /// One Thompson-sampling decision.
    pub fn sample(&self, floor: f64, rng: &mut (impl rand::Rng + ?Sized)) -> usize {
        match self {
            Posteriors::Conversion(arms) => thompson::sample_arm_beta(arms, floor, rng),
            Posteriors::Revenue(arms) => thompson::sample_arm_gaussian(arms, floor, rng),
        }
    }
}

impl Policy {
    /// The probability of each variant for a new user, as the policy stands now.
    pub fn allocation(&self) -> &[f64] {
        match self {
            Policy::Ab { weights } => weights,
            Policy::Bandit { allocation, .. } => allocation,
        }
    }
}
