//! How a new user's variant is chosen: fixed weights, or Thompson sampling over the
//! posteriors of the goal metric as of the last refresh (pooled, or per context), among the
//! arms that take new users (a `drop` guardrail takes an arm out: weight 0, no floor).

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
        arms: OpenArms,
        floor: f64,
        allocation: Vec<f64>,
    },
}

/// The arms a bandit may give a new user: every variant but those a `drop` guardrail took
/// out. The sampler and its floor see only these, so they share all the traffic and a
/// dropped arm's probability is exactly 0. The control is never dropped, so one is left.
pub struct OpenArms {
    /// The posteriors of the open arms only.
    posteriors: Posteriors,
    /// Each open arm's position among the variants.
    open: Vec<usize>,
    /// How many variants the experiment has.
    variants: usize,
}

impl OpenArms {
    /// `posteriors` of every variant; `dropped[i]`: variant `i` takes no new users.
    pub fn new(posteriors: Posteriors, dropped: &[bool]) -> Self {
        let variants = posteriors.len();
        let mut open: Vec<usize> = (0..variants)
            .filter(|&i| !dropped.get(i).copied().unwrap_or(false))
            .collect();
        if open.is_empty() {
            // The server never drops the control; should a hand-edited row drop every arm,
            // sample from all rather than fail the hot path.
            open = (0..variants).collect();
        }
        OpenArms {
            posteriors: posteriors.only(&open),
            open,
            variants,
        }
    }

    /// The exact probability that [`OpenArms::sample`] picks each variant (0 for a dropped one).
    pub fn allocation(&self, floor: f64) -> Vec<f64> {
        let mut all = vec![0.0; self.variants];
        for (&i, p) in self.open.iter().zip(self.posteriors.allocation(floor)) {
            all[i] = p;
        }
        all
    }

    /// One Thompson-sampling decision: the position of a variant that takes new users.
    pub fn sample(&self, floor: f64, rng: &mut (impl rand::Rng + ?Sized)) -> usize {
        self.open[self.posteriors.sample(floor, rng)]
    }
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

    fn len(&self) -> usize {
        match self {
            Posteriors::Conversion(arms) => arms.len(),
            Posteriors::Revenue(arms) => arms.len(),
        }
    }

    /// The posteriors of the arms at these positions, in their order.
    fn only(self, positions: &[usize]) -> Self {
        fn pick<T: Clone>(arms: Vec<T>, positions: &[usize]) -> Vec<T> {
            positions.iter().map(|&i| arms[i].clone()).collect()
        }
        match self {
            Posteriors::Conversion(arms) => Posteriors::Conversion(pick(arms, positions)),
            Posteriors::Revenue(arms) => Posteriors::Revenue(pick(arms, positions)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn three_arms() -> Posteriors {
        // b is by far the best: undropped, it would take nearly all the traffic.
        Posteriors::Conversion(vec![
            BetaPosterior::from_counts(1000, 50),
            BetaPosterior::from_counts(1000, 150),
            BetaPosterior::from_counts(1000, 52),
        ])
    }

    #[test]
    fn a_dropped_arm_gets_weight_zero_and_the_others_share_the_traffic_and_the_floor() {
        let open = OpenArms::new(three_arms(), &[false, false, false]);
        assert!(open.allocation(0.01)[1] > 0.9);
        let arms = OpenArms::new(three_arms(), &[false, true, false]);
        let allocation = arms.allocation(0.01);
        assert_eq!(allocation[1], 0.0);
        assert!((allocation[0] + allocation[2] - 1.0).abs() < 1e-12);
        assert!(
            allocation[0] >= 0.01 && allocation[2] >= 0.01,
            "{allocation:?}"
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut picked = [0; 3];
        for _ in 0..2000 {
            picked[arms.sample(0.01, &mut rng)] += 1;
        }
        assert_eq!(picked[1], 0, "{picked:?}");
        assert!(picked[0] > 0 && picked[2] > 0, "{picked:?}");
    }

    #[test]
    fn with_every_other_arm_dropped_the_control_takes_everyone() {
        let arms = OpenArms::new(three_arms(), &[false, true, true]);
        assert_eq!(arms.allocation(0.05), vec![1.0, 0.0, 0.0]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        assert!((0..500).all(|_| arms.sample(0.05, &mut rng) == 0));
    }
}
