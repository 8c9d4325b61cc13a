//! How a new user's variant is chosen: fixed weights (for a factorial experiment, each
//! factor's level hashed on its own), or Thompson sampling over the posteriors of the goal
//! metric as of the last refresh (pooled, or per context; a factorial experiment's cells by a
//! model that shares strength across them), among the arms that take new users (a `drop`
//! guardrail takes an arm out: weight 0, no floor).

use super::factorial_results::cell_estimates;
use super::hashing;
use super::metric_sums::Arms;
use crate::domain::factorial;
use crate::domain::{Experiment, GoalMetric};
use crate::stats::beta::BetaPosterior;
use crate::stats::factorial::{self as model, Design, SharedModel};
use crate::stats::gaussian::MeanPosterior;
use crate::stats::thompson;
use crate::store::VariantStats;
use rand::SeedableRng;

/// How a new user's variant is chosen.
pub enum Policy {
    /// Fixed weights; the variant follows from a hash of the user.
    Ab { weights: Vec<f64> },
    /// A factorial experiment's fixed split: each factor's level from a hash of the user
    /// with a seed of its own, so the factors are balanced and independent; `weights`: each
    /// cell's probability (equal).
    Factorial {
        factors: Vec<FactorHash>,
        weights: Vec<f64>,
    },
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
    /// The model of the open arms only.
    model: ArmModel,
    /// Each open arm's position among the variants.
    open: Vec<usize>,
    /// How many variants the experiment has.
    variants: usize,
}

/// One factor of a factorial split: its seed and how many levels it has.
pub struct FactorHash {
    pub seed: u64,
    pub levels: usize,
}

/// The cell of `user_id` (mixed radix, the last factor fastest, as the cells are numbered).
pub fn factorial_cell(factors: &[FactorHash], user_id: &str) -> usize {
    factors.iter().fold(0, |cell, factor| {
        let u = hashing::unit_interval(factor.seed, user_id);
        let level = ((u * factor.levels as f64) as usize).min(factor.levels - 1);
        cell * factor.levels + level
    })
}

impl OpenArms {
    /// The model of every variant; `dropped[i]`: variant `i` takes no new users.
    pub fn new(model: impl Into<ArmModel>, dropped: &[bool]) -> Self {
        let model = model.into();
        let variants = model.len();
        let mut open: Vec<usize> = (0..variants)
            .filter(|&i| !dropped.get(i).copied().unwrap_or(false))
            .collect();
        if open.is_empty() {
            // The server never drops the control; should a hand-edited row drop every arm,
            // sample from all rather than fail the hot path.
            open = (0..variants).collect();
        }
        // Only a model that lost arms is rebuilt (the shared model's probabilities cost a
        // few milliseconds).
        let model = if open.len() == variants {
            model
        } else {
            model.only(&open)
        };
        OpenArms {
            model,
            open,
            variants,
        }
    }

    /// The exact probability that [`OpenArms::sample`] picks each variant (0 for a dropped one).
    pub fn allocation(&self, floor: f64) -> Vec<f64> {
        let mut all = vec![0.0; self.variants];
        for (&i, p) in self.open.iter().zip(self.model.allocation(floor)) {
            all[i] = p;
        }
        all
    }

    /// One Thompson-sampling decision: the position of a variant that takes new users.
    pub fn sample(&self, floor: f64, rng: &mut (impl rand::Rng + ?Sized)) -> usize {
        self.open[self.model.sample(floor, rng)]
    }
}

/// The bandit's model of each arm, by goal metric.
pub enum Posteriors {
    /// Conversion: Beta(1 + converted users, 1 + users − converted users).
    Conversion(Vec<BetaPosterior>),
    /// Revenue: Gaussian model of the mean value per user.
    Revenue(Vec<MeanPosterior>),
}

/// What a bandit samples from: a posterior per arm, or a factorial experiment's cells under
/// one model of all of them (main effects plus shrunken interactions), so that what a level
/// does in one cell informs the others.
pub enum ArmModel {
    PerArm(Posteriors),
    Shared(SharedArms),
}

impl From<Posteriors> for ArmModel {
    fn from(posteriors: Posteriors) -> Self {
        ArmModel::PerArm(posteriors)
    }
}

impl ArmModel {
    /// The bandit's model of an experiment's arms: a posterior per arm, or for a factorial
    /// experiment the shared model of its cells.
    pub fn of_experiment(experiment: &Experiment, stats: &[VariantStats]) -> Self {
        let spec = &experiment.spec;
        let ids = &experiment.variant_ids;
        if spec.factors.is_empty() {
            return ArmModel::PerArm(Posteriors::from_stats(spec.goal.metric, ids, stats));
        }
        // The cells as the results see them (a cell without users carries no data).
        let cells = cell_estimates(&Arms::of_goal(spec.goal.metric, ids, stats));
        let model = SharedModel::fit(&Design::new(factorial::design(&spec.factors)), &cells);
        ArmModel::Shared(SharedArms::over(
            std::sync::Arc::new(model),
            (0..cells.len()).collect(),
        ))
    }

    fn len(&self) -> usize {
        match self {
            ArmModel::PerArm(posteriors) => posteriors.len(),
            ArmModel::Shared(arms) => arms.cells.len(),
        }
    }

    /// The model of the arms at these positions, in their order.
    fn only(self, positions: &[usize]) -> Self {
        match self {
            ArmModel::PerArm(posteriors) => ArmModel::PerArm(posteriors.only(positions)),
            ArmModel::Shared(arms) => {
                let cells = positions.iter().map(|&i| arms.cells[i]).collect();
                ArmModel::Shared(SharedArms::over(arms.model, cells))
            }
        }
    }

    /// The exact probability that the sampler picks each arm.
    fn allocation(&self, floor: f64) -> Vec<f64> {
        match self {
            ArmModel::PerArm(posteriors) => posteriors.allocation(floor),
            ArmModel::Shared(arms) => arms.allocation(floor),
        }
    }

    /// One decision: a Thompson draw with its floor (for the shared model, a draw from its
    /// allocation: the probabilities of being best with the floor).
    fn sample(&self, floor: f64, rng: &mut (impl rand::Rng + ?Sized)) -> usize {
        match self {
            ArmModel::PerArm(posteriors) => posteriors.sample(floor, rng),
            ArmModel::Shared(arms) => model::pick(&arms.allocation(floor), rng),
        }
    }
}

/// The cells a factorial bandit may pick, under the shared model. The probability that each
/// is best is estimated once, when the snapshot is built (every refresh that changed the
/// statistics), and each decision then draws a cell from it: the logged propensity is exactly
/// the probability the draw used.
pub struct SharedArms {
    model: std::sync::Arc<SharedModel>,
    /// The cells considered, as positions among all cells.
    cells: Vec<usize>,
    /// P(best among `cells`) of every cell (0 for the others).
    best: Vec<f64>,
}

impl SharedArms {
    fn over(model: std::sync::Arc<SharedModel>, cells: Vec<usize>) -> SharedArms {
        // Seeded by the data: the same statistics give the same allocation on every instance.
        let seed = model
            .means()
            .iter()
            .fold(0u64, |h, m| h.rotate_left(5) ^ m.to_bits());
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let best = model.prob_best(&cells, model::PROB_BEST_DRAWS, &mut rng);
        SharedArms { model, cells, best }
    }

    /// The probability of each considered cell, in `cells` order, with the floor.
    fn allocation(&self, floor: f64) -> Vec<f64> {
        let all = model::allocation(&self.best, &self.cells, floor);
        self.cells.iter().map(|&c| all[c]).collect()
    }
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
            Policy::Ab { weights } | Policy::Factorial { weights, .. } => weights,
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
    fn factorial_cells_are_balanced_and_the_factors_independent() {
        // 3 × 2 × 4 = 24 cells, 96,000 users: 4,000 expected in each.
        let factors: Vec<FactorHash> = [3, 2, 4]
            .iter()
            .enumerate()
            .map(|(i, &levels)| FactorHash {
                seed: hashing::seed("exp", &format!("factor/f{i}")),
                levels,
            })
            .collect();
        let users = 96_000;
        let mut cells = vec![0u32; 24];
        for u in 0..users {
            cells[factorial_cell(&factors, &format!("user-{u}"))] += 1;
        }
        // χ² with 23 degrees of freedom: 49.73 is the 0.001 critical value. Equal cells mean
        // every factor is uniform and the factors are independent of one another.
        let expected = users as f64 / 24.0;
        let chi2: f64 = cells
            .iter()
            .map(|&n| (f64::from(n) - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 49.73, "χ² = {chi2:.1}: {cells:?}");
        // The same user, the same cell.
        assert_eq!(
            factorial_cell(&factors, "user-7"),
            factorial_cell(&factors, "user-7")
        );
    }

    #[test]
    fn with_every_other_arm_dropped_the_control_takes_everyone() {
        let arms = OpenArms::new(three_arms(), &[false, true, true]);
        assert_eq!(arms.allocation(0.05), vec![1.0, 0.0, 0.0]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        assert!((0..500).all(|_| arms.sample(0.05, &mut rng) == 0));
    }
}
