//! Bandit simulations that check our Thompson sampler against published results.
//!
//! They drive the same code the server uses: [`thompson::sample_arm_beta`] with
//! [`BetaPosterior::update`], and [`thompson::sample_arm_gaussian`] with
//! [`MeanPosterior::update`]. Pure computation returning structs; `render_*` functions turn
//! results into Markdown tables. Runs are spread over threads and seeded from (seed,
//! setting, run index), so results do not depend on the number of threads.
//!
//! - [`chapelle_li`]: Chapelle & Li (2011), "An Empirical Evaluation of Thompson Sampling",
//!   Table 1 (delayed feedback, arms replaced over time).
//! - [`static_arms`]: regret growth against the Lai–Robbins constant.
//! - [`gaussian_two_arms`]: Lattimore & Szepesvári, "Bandit Algorithms", Experiment 36.1.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::stats::beta::BetaPosterior;
use crate::stats::gaussian::MeanPosterior;
use crate::stats::thompson::{sample_arm_beta, sample_arm_gaussian, sample_beta};

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

/// Lattimore & Szepesvári, Experiment 36.1: mean regret of flat-prior Gaussian Thompson
/// sampling, two unit-variance arms with means 0.2 and 0, horizon 2000.
pub const LATTIMORE_SZEPESVARI_REGRET: f64 = 29.9;

/// SplitMix64 (Steele, Lea & Flood 2014) to derive independent run seeds.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn run_rng(seed: u64, setting: u64, run: usize) -> SmallRng {
    SmallRng::seed_from_u64(splitmix64(
        splitmix64(seed ^ splitmix64(setting)) ^ run as u64,
    ))
}

/// Runs `f(0..count)` on all cores; results in index order.
fn parallel_map<T: Send, F: Fn(usize) -> T + Sync>(count: usize, f: F) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let chunks: Vec<Vec<(usize, T)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        done.push((i, f(i)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("simulation thread panicked"))
            .collect()
    });
    for (i, value) in chunks.into_iter().flatten() {
        results[i] = Some(value);
    }
    results
        .into_iter()
        .map(|r| r.expect("every run computed"))
        .collect()
}

/// Mean and standard error of the mean.
fn mean_and_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

// ---------------------------------------------------------------------------
// Chapelle & Li (2011), Table 1
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Static arms against Lai–Robbins
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Lattimore & Szepesvári, Experiment 36.1
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Contextual bandit: per-segment posteriors with a pooled prior against pooled Thompson
// ---------------------------------------------------------------------------

/// A population of segments whose best variants differ.
#[derive(Clone, Debug)]
pub struct ContextualScenario {
    /// Share of users in each segment.
    pub shares: Vec<f64>,
    /// Conversion rate of each variant in each segment: `rates[segment][variant]`.
    pub rates: Vec<Vec<f64>>,
    /// Posteriors are refreshed every `batch` users (the server refreshes every second).
    pub batch: u64,
    /// The server's default exploration floor.
    pub floor: f64,
}

impl Default for ContextualScenario {
    /// Four segments of 40%, 30%, 20% and 10% of users, three variants: the largest and the
    /// smallest segment prefer `a`, the second `b`, the third `c`. The pooled best (`a`,
    /// 7.5%) is 2.6 points below the per-segment oracle (10.1%).
    fn default() -> Self {
        ContextualScenario {
            shares: vec![0.4, 0.3, 0.2, 0.1],
            rates: vec![
                vec![0.10, 0.06, 0.04],
                vec![0.05, 0.09, 0.05],
                vec![0.04, 0.06, 0.11],
                vec![0.12, 0.05, 0.03],
            ],
            batch: 100,
            floor: 0.01,
        }
    }
}

impl ContextualScenario {
    /// Many small segments that mostly agree: 24 segments with Zipf shares (∝ 1/k), where
    /// every segment prefers `b` (5%, 8%, 5%) except segments 1 and 4, which prefer `a`
    /// (10%, 6%, 4%), and segment 2, which prefers `c` (4%, 6%, 10%) (counting from 0). The small segments
    /// have too few users to learn alone for a long time: the pooled prior is for them.
    pub fn many_small() -> Self {
        let k = 24;
        let total: f64 = (1..=k).map(|i| 1.0 / i as f64).sum();
        ContextualScenario {
            shares: (1..=k).map(|i| 1.0 / i as f64 / total).collect(),
            rates: (0..k)
                .map(|s| match s {
                    1 | 4 => vec![0.10, 0.06, 0.04],
                    2 => vec![0.04, 0.06, 0.10],
                    _ => vec![0.05, 0.08, 0.05],
                })
                .collect(),
            batch: 100,
            floor: 0.01,
        }
    }
}

/// A policy of the contextual comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ContextualPolicy {
    /// One set of posteriors for everyone (the non-contextual bandit).
    Pooled,
    /// Posteriors per segment with a prior centred on the pooled posterior of strength
    /// min(n, m_max) (`m_max` = 0: independent segments with flat priors).
    PerSegment { m_max: u64 },
}

impl ContextualPolicy {
    pub fn label(&self) -> String {
        match self {
            ContextualPolicy::Pooled => "non-contextual Thompson".into(),
            ContextualPolicy::PerSegment { m_max: 0 } => {
                "contextual, independent segments (flat prior)".into()
            }
            ContextualPolicy::PerSegment { m_max } => {
                format!("contextual, pooled prior m_max = {m_max}")
            }
        }
    }
}

/// One run over one user stream: expected regret against the per-segment oracle at each
/// checkpoint. Segments are drawn by their shares; the posteriors the decisions use are
/// rebuilt every `batch` users from the counts so far, as the server's refresh does, with
/// the server's functions ([`crate::stats::contextual::context_beta`],
/// [`sample_arm_beta`]).
pub fn contextual_run(
    scenario: &ContextualScenario,
    policy: ContextualPolicy,
    checkpoints: &[u64],
    rng: &mut SmallRng,
) -> Vec<f64> {
    use crate::stats::contextual::context_beta;
    let segments = scenario.shares.len();
    let variants = scenario.rates[0].len();
    let oracle: Vec<f64> = scenario
        .rates
        .iter()
        .map(|r| r.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
        .collect();
    // counts[s][v] = (users, conversions)
    let mut counts = vec![vec![(0u64, 0u64); variants]; segments];
    let build = |counts: &Vec<Vec<(u64, u64)>>| -> Vec<Vec<BetaPosterior>> {
        let pooled: Vec<(u64, u64)> = (0..variants)
            .map(|v| {
                counts
                    .iter()
                    .fold((0, 0), |acc, seg| (acc.0 + seg[v].0, acc.1 + seg[v].1))
            })
            .collect();
        match policy {
            ContextualPolicy::Pooled => {
                let arms: Vec<BetaPosterior> = pooled
                    .iter()
                    .map(|&(n, c)| BetaPosterior::from_counts(n, c))
                    .collect();
                vec![arms; segments]
            }
            ContextualPolicy::PerSegment { m_max } => counts
                .iter()
                .map(|seg| {
                    (0..variants)
                        .map(|v| context_beta(pooled[v].0, pooled[v].1, seg[v].0, seg[v].1, m_max))
                        .collect()
                })
                .collect(),
        }
    };
    let mut posteriors = build(&counts);
    let cumulative: Vec<f64> = scenario
        .shares
        .iter()
        .scan(0.0, |acc, s| {
            *acc += s;
            Some(*acc)
        })
        .collect();
    let horizon = checkpoints.last().copied().unwrap_or(0);
    let mut regret = 0.0;
    let mut out = Vec::with_capacity(checkpoints.len());
    let mut next = 0;
    for t in 1..=horizon {
        let u: f64 = rng.random::<f64>() * cumulative[segments - 1];
        let s = cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(segments - 1);
        let arm = sample_arm_beta(&posteriors[s], scenario.floor, rng);
        regret += oracle[s] - scenario.rates[s][arm];
        let converted = rng.random::<f64>() < scenario.rates[s][arm];
        counts[s][arm].0 += 1;
        counts[s][arm].1 += u64::from(converted);
        if t % scenario.batch.max(1) == 0 {
            posteriors = build(&counts);
        }
        while next < checkpoints.len() && checkpoints[next] == t {
            out.push(regret);
            next += 1;
        }
    }
    out
}

/// Result of one policy: mean regret (± s.e.) at each checkpoint.
#[derive(Clone, Debug)]
pub struct ContextualRow {
    pub policy: ContextualPolicy,
    pub runs: usize,
    pub checkpoints: Vec<u64>,
    pub regret: Vec<(f64, f64)>,
}

/// Every policy over the same user streams (run i of every policy starts from the same
/// seed, so segments arrive in the same order until the policies' draws diverge).
pub fn contextual(
    scenario: &ContextualScenario,
    policies: &[ContextualPolicy],
    runs: usize,
    checkpoints: &[u64],
    seed: u64,
) -> Vec<ContextualRow> {
    policies
        .iter()
        .map(|&policy| {
            let per_run = parallel_map(runs, |run| {
                let mut rng = run_rng(seed, 4_000, run);
                contextual_run(scenario, policy, checkpoints, &mut rng)
            });
            let regret = (0..checkpoints.len())
                .map(|i| mean_and_se(&per_run.iter().map(|r| r[i]).collect::<Vec<_>>()))
                .collect();
            ContextualRow {
                policy,
                runs,
                checkpoints: checkpoints.to_vec(),
                regret,
            }
        })
        .collect()
}

/// Markdown table: one row per policy, regret at each checkpoint, and the ratio to the
/// non-contextual bandit at the last one.
pub fn render_contextual(rows: &[ContextualRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut out = String::from("| policy |");
    for t in &first.checkpoints {
        out.push_str(&format!(" R({t}) |"));
    }
    out.push_str(" vs non-contextual at the last T |\n| --- |");
    for _ in &first.checkpoints {
        out.push_str(" --- |");
    }
    out.push_str(" --- |\n");
    let baseline = rows
        .iter()
        .find(|r| r.policy == ContextualPolicy::Pooled)
        .and_then(|r| r.regret.last())
        .map(|r| r.0);
    for r in rows {
        out.push_str(&format!("| {} ({} runs) |", r.policy.label(), r.runs));
        for (mean, se) in &r.regret {
            out.push_str(&format!(" {mean:.1} ± {se:.1} |"));
        }
        let ratio = match (baseline, r.regret.last()) {
            (Some(b), Some(last)) if b > 0.0 => format!("{:.3}", last.0 / b),
            _ => "–".into(),
        };
        out.push_str(&format!(" {ratio} |\n"));
    }
    out
}

#[cfg(test)]
mod contextual_tests {
    use super::*;

    #[test]
    fn per_segment_posteriors_beat_the_pooled_bandit() {
        let scenario = ContextualScenario::default();
        let rows = contextual(
            &scenario,
            &[
                ContextualPolicy::Pooled,
                ContextualPolicy::PerSegment { m_max: 30 },
            ],
            8,
            &[20_000],
            7,
        );
        let pooled = rows[0].regret[0].0;
        let contextual = rows[1].regret[0].0;
        // The pooled bandit settles on `a` and loses 2.6 points per user on average (the
        // segments that prefer `b` or `c`): hundreds of conversions by 20,000 users.
        assert!(pooled > 300.0, "pooled regret {pooled}");
        assert!(
            contextual < 0.6 * pooled,
            "contextual {contextual} vs pooled {pooled}"
        );
    }
}
