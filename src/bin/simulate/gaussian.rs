//! Lattimore & Szepesvári, "Bandit Algorithms", Experiment 36.1: two Gaussian arms.

use crate::runs::{mean_and_se, parallel_map, run_rng};
use posterior::stats::gaussian::MeanPosterior;
use posterior::stats::thompson::sample_arm_gaussian;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, StandardNormal};

/// Lattimore & Szepesvári, Experiment 36.1: mean regret of flat-prior Gaussian Thompson
/// sampling, two unit-variance arms with means 0.2 and 0, horizon 2000.
pub const LATTIMORE_SZEPESVARI_REGRET: f64 = 29.9;

/// Result of the two-armed Gaussian experiment.
#[derive(Clone, Debug)]
pub struct GaussianRow {
    pub means: [f64; 2],
    pub horizon: u64,
    pub runs: usize,
    pub mean_regret: f64,
    pub std_error: f64,
    pub target: f64,
}

/// One run: unit-variance Gaussian arms, Thompson sampling with a flat prior and known
/// variance 1 (the server's Gaussian sampler, [`sample_arm_gaussian`]): each arm is played
/// once, then μ_k ~ N(mean_k, 1/n_k) is sampled. Returns Σ_t (max μ − μ_{a_t}).
pub fn gaussian_two_arms_run(means: &[f64], horizon: u64, rng: &mut SmallRng) -> f64 {
    let best = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut posteriors = vec![MeanPosterior::with_known_variance(0, 0.0, 1.0); means.len()];
    let mut regret = 0.0;
    for _ in 0..horizon {
        let arm = sample_arm_gaussian(&posteriors, 0.0, rng);
        regret += best - means[arm];
        let noise: f64 = StandardNormal.sample(rng);
        posteriors[arm].update(means[arm] + noise);
    }
    regret
}

/// Lattimore & Szepesvári Experiment 36.1 (means 0.2 and 0, horizon 2000), over `runs` runs.
pub fn gaussian_two_arms(runs: usize, horizon: u64, seed: u64) -> GaussianRow {
    let means = [0.2, 0.0];
    let regrets = parallel_map(runs, |run| {
        let mut rng = run_rng(seed, 3_000, run);
        gaussian_two_arms_run(&means, horizon, &mut rng)
    });
    let (mean_regret, std_error) = mean_and_se(&regrets);
    GaussianRow {
        means,
        horizon,
        runs,
        mean_regret,
        std_error,
        target: LATTIMORE_SZEPESVARI_REGRET,
    }
}

/// Markdown table for [`gaussian_two_arms`].
pub fn render_gaussian(row: &GaussianRow) -> String {
    format!(
        "| setting | ours (mean ± s.e.) | paper/target | ratio |\n| --- | --- | --- | --- |\n\
         | two unit-variance Gaussian arms, means {} and {}, n = {}, flat prior, {} runs | {:.2} ± {:.2} | {:.1} (Lattimore & Szepesvári, Exp. 36.1; target 30 ± 1) | {:.3} |\n",
        row.means[0],
        row.means[1],
        row.horizon,
        row.runs,
        row.mean_regret,
        row.std_error,
        row.target,
        row.mean_regret / row.target
    )
}
