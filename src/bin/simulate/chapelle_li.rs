//! Chapelle & Li (2011), "An Empirical Evaluation of Thompson Sampling", Table 1: delayed
//! feedback, arms replaced over time.

use crate::runs::{mean_and_se, parallel_map, run_rng};
use posterior::stats::beta::BetaPosterior;
use posterior::stats::thompson::{sample_arm_beta, sample_beta};
use rand::RngExt;
use rand::rngs::SmallRng;

/// Chapelle & Li (2011), Table 1, Thompson sampling row: (δ, regret).
pub const CHAPELLE_LI_THOMPSON: [(u64, f64); 7] = [
    (1, 9105.0),
    (3, 9199.0),
    (10, 9049.0),
    (32, 9451.0),
    (100, 11550.0),
    (316, 21594.0),
    (1000, 59256.0),
];

/// Setting of the Chapelle & Li delayed-feedback experiment.
#[derive(Clone, Copy, Debug)]
pub struct ChapelleLiSetting {
    pub arms: usize,
    pub steps: u64,
    /// Probability per step that one uniformly chosen arm is replaced.
    pub replace_probability: f64,
    /// Rates are drawn from Beta(rate_prior.0, rate_prior.1).
    pub rate_prior: (f64, f64),
}

impl Default for ChapelleLiSetting {
    fn default() -> Self {
        ChapelleLiSetting {
            arms: 10,
            steps: 1_000_000,
            replace_probability: 1e-3,
            rate_prior: (4.0, 4.0),
        }
    }
}

/// Result for one feedback delay δ.
#[derive(Clone, Debug)]
pub struct DelayRow {
    pub delta: u64,
    pub runs: usize,
    pub mean_regret: f64,
    pub std_error: f64,
    /// The paper's number, when δ is one of its columns.
    pub paper: Option<f64>,
}

/// One run: expected regret Σ_t (max_k p_k(t) − p_{a_t}(t)) of Thompson sampling when the
/// posterior updates are delivered in batches every `delta` steps.
///
/// A replaced arm gets a fresh rate and a fresh Beta(1, 1) posterior; feedback still
/// pending for the arm it replaced belongs to an arm that no longer exists and is dropped
/// (each slot carries a generation number).
pub fn chapelle_li_run(setting: &ChapelleLiSetting, delta: u64, rng: &mut SmallRng) -> f64 {
    let k = setting.arms;
    let (ra, rb) = setting.rate_prior;
    let mut rates: Vec<f64> = (0..k).map(|_| sample_beta(ra, rb, rng)).collect();
    let mut best_rate = rates.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut posteriors = vec![BetaPosterior::PRIOR; k];
    let mut generation = vec![0u32; k];
    let mut pending: Vec<(usize, u32, bool)> = Vec::with_capacity(delta as usize);
    let mut regret = 0.0;
    for t in 0..setting.steps {
        if rng.random::<f64>() < setting.replace_probability {
            let slot = rng.random_range(0..k);
            rates[slot] = sample_beta(ra, rb, rng);
            posteriors[slot] = BetaPosterior::PRIOR;
            generation[slot] = generation[slot].wrapping_add(1);
            best_rate = rates.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        }
        let arm = sample_arm_beta(&posteriors, 0.0, rng);
        regret += best_rate - rates[arm];
        let converted = rng.random::<f64>() < rates[arm];
        pending.push((arm, generation[arm], converted));
        if (t + 1) % delta == 0 {
            for &(slot, gen_at_play, converted) in &pending {
                if generation[slot] == gen_at_play {
                    posteriors[slot].update(converted);
                }
            }
            pending.clear();
        }
    }
    regret
}

/// Chapelle & Li's Table 1 setting (10 arms, rates ~ Beta(4, 4), replacement probability
/// 1e-3) with `steps` steps: mean regret over `runs` runs for each δ in `deltas`. The paper
/// uses 100 runs of 1e6 steps and δ ∈ {1, 3, 10, 32, 100, 316, 1000}.
pub fn chapelle_li(runs: usize, steps: u64, deltas: &[u64], seed: u64) -> Vec<DelayRow> {
    let setting = ChapelleLiSetting {
        steps,
        ..Default::default()
    };
    chapelle_li_with(&setting, runs, deltas, seed)
}

/// [`chapelle_li`] with any setting.
pub fn chapelle_li_with(
    setting: &ChapelleLiSetting,
    runs: usize,
    deltas: &[u64],
    seed: u64,
) -> Vec<DelayRow> {
    deltas
        .iter()
        .map(|&delta| {
            let regrets = parallel_map(runs, |run| {
                let mut rng = run_rng(seed, 1_000 + delta, run);
                chapelle_li_run(setting, delta.max(1), &mut rng)
            });
            let (mean_regret, std_error) = mean_and_se(&regrets);
            let paper = CHAPELLE_LI_THOMPSON
                .iter()
                .find(|(d, _)| *d == delta)
                .map(|(_, r)| *r);
            DelayRow {
                delta,
                runs,
                mean_regret,
                std_error,
                paper,
            }
        })
        .collect()
}

/// Markdown table: setting, ours (± s.e.), paper, ratio.
pub fn render_chapelle_li(rows: &[DelayRow]) -> String {
    let mut out = String::from(
        "| setting | ours (mean ± s.e.) | paper (Chapelle & Li 2011, Table 1) | ratio |\n",
    );
    out.push_str("| --- | --- | --- | --- |\n");
    for r in rows {
        let (paper, ratio) = match r.paper {
            Some(p) => (format!("{p:.0}"), format!("{:.3}", r.mean_regret / p)),
            None => ("–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| δ = {}, {} runs | {:.0} ± {:.0} | {} | {} |\n",
            r.delta, r.runs, r.mean_regret, r.std_error, paper, ratio
        ));
    }
    out
}
