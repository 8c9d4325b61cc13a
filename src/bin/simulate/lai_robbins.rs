//! Plain Thompson sampling on fixed arms: regret growth against the Lai–Robbins constant.

use crate::runs::{mean_and_se, parallel_map, run_rng};
use posterior::stats::beta::BetaPosterior;
use posterior::stats::thompson::sample_arm_beta;
use rand::RngExt;
use rand::rngs::SmallRng;

/// Bernoulli Kullback–Leibler divergence KL(p, q).
pub fn bernoulli_kl(p: f64, q: f64) -> f64 {
    let term = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// Lai & Robbins (1985) constant C = Σ_{suboptimal i} (p* − p_i) / KL(p_i, p*): regret
/// grows at least like C·ln T.
pub fn lai_robbins_constant(rates: &[f64]) -> f64 {
    let best = rates.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    rates
        .iter()
        .filter(|&&p| p < best)
        .map(|&p| (best - p) / bernoulli_kl(p, best))
        .sum()
}

/// Result for one gap ε.
#[derive(Clone, Debug)]
pub struct StaticRow {
    pub epsilon: f64,
    pub arms: usize,
    pub runs: usize,
    pub t_short: u64,
    pub t_long: u64,
    pub regret_short: (f64, f64),
    pub regret_long: (f64, f64),
    /// (R(t_long) − R(t_short)) / ln(t_long / t_short), with its standard error.
    pub slope: (f64, f64),
    pub lai_robbins: f64,
}

/// One run of plain Thompson sampling on fixed arms; returns the expected regret at each
/// checkpoint (checkpoints ascending).
pub fn static_arms_run(rates: &[f64], checkpoints: &[u64], rng: &mut SmallRng) -> Vec<f64> {
    let best = rates.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut posteriors = vec![BetaPosterior::PRIOR; rates.len()];
    let mut regret = 0.0;
    let mut out = Vec::with_capacity(checkpoints.len());
    let horizon = checkpoints.last().copied().unwrap_or(0);
    let mut next = 0;
    for t in 1..=horizon {
        let arm = sample_arm_beta(&posteriors, 0.0, rng);
        regret += best - rates[arm];
        let converted = rng.random::<f64>() < rates[arm];
        posteriors[arm].update(converted);
        while next < checkpoints.len() && checkpoints[next] == t {
            out.push(regret);
            next += 1;
        }
    }
    out
}

/// `arms` arms, the best at 0.5 and the others at 0.5 − ε, for each ε; regret at `t_short`
/// and `t_long` from the same runs, and the slope per unit of ln T between them.
pub fn static_arms(
    arms: usize,
    epsilons: &[f64],
    runs: usize,
    t_short: u64,
    t_long: u64,
    seed: u64,
) -> Vec<StaticRow> {
    epsilons
        .iter()
        .enumerate()
        .map(|(index, &epsilon)| {
            let mut rates = vec![0.5 - epsilon; arms];
            rates[0] = 0.5;
            let per_run = parallel_map(runs, |run| {
                let mut rng = run_rng(seed, 2_000 + index as u64, run);
                static_arms_run(&rates, &[t_short, t_long], &mut rng)
            });
            let short: Vec<f64> = per_run.iter().map(|r| r[0]).collect();
            let long: Vec<f64> = per_run.iter().map(|r| r[1]).collect();
            let log_span = (t_long as f64 / t_short as f64).ln();
            let slopes: Vec<f64> = per_run.iter().map(|r| (r[1] - r[0]) / log_span).collect();
            StaticRow {
                epsilon,
                arms,
                runs,
                t_short,
                t_long,
                regret_short: mean_and_se(&short),
                regret_long: mean_and_se(&long),
                slope: mean_and_se(&slopes),
                lai_robbins: lai_robbins_constant(&rates),
            }
        })
        .collect()
}

/// Markdown table: regret levels and the slope against the Lai–Robbins constant (target
/// ratio within [0.75, 1.10]).
pub fn render_static(rows: &[StaticRow]) -> String {
    let mut out = String::from(
        "| setting | ours (mean ± s.e.) | paper/target | ratio |\n| --- | --- | --- | --- |\n",
    );
    for r in rows {
        let name = format!(
            "K = {}, p* = 0.5, others 0.5 − {}, {} runs",
            r.arms, r.epsilon, r.runs
        );
        out.push_str(&format!(
            "| {name}: R({:.0e}) | {:.1} ± {:.1} | C·ln T = {:.1} (a lower bound only asymptotically) | {:.3} |\n",
            r.t_short as f64,
            r.regret_short.0,
            r.regret_short.1,
            r.lai_robbins * (r.t_short as f64).ln(),
            r.regret_short.0 / (r.lai_robbins * (r.t_short as f64).ln())
        ));
        out.push_str(&format!(
            "| {name}: R({:.0e}) | {:.1} ± {:.1} | C·ln T = {:.1} (a lower bound only asymptotically) | {:.3} |\n",
            r.t_long as f64,
            r.regret_long.0,
            r.regret_long.1,
            r.lai_robbins * (r.t_long as f64).ln(),
            r.regret_long.0 / (r.lai_robbins * (r.t_long as f64).ln())
        ));
        out.push_str(&format!(
            "| {name}: slope (R({:.0e}) − R({:.0e}))/ln {} | {:.1} ± {:.1} | Lai–Robbins C = {:.2}, target ratio in [0.75, 1.10] | {:.3} |\n",
            r.t_long as f64,
            r.t_short as f64,
            r.t_long / r.t_short,
            r.slope.0,
            r.slope.1,
            r.lai_robbins,
            r.slope.0 / r.lai_robbins
        ));
    }
    out
}
