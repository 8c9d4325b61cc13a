//! Factorial bandit: Thompson sampling over the cells with the shared model
//! (`stats::factorial::SharedModel`: main effects plus shrunk interactions) against plain
//! Thompson sampling with an independent Beta posterior per cell.

use crate::runs::{mean_and_se, parallel_map, run_rng};
use posterior::stats::beta::BetaPosterior;
use posterior::stats::factorial::{
    self, CellEstimate, Design, PROB_BEST_DRAWS, SharedModel, TauChoice,
};
use posterior::stats::thompson::{self, sample_arm_beta};
use rand::RngExt;
use rand::rngs::SmallRng;

/// An interaction term of a scenario: ((factor f, level a), (factor g, level b), size).
pub type InteractionTerm = ((usize, usize), (usize, usize), f64);

/// A population: a design and the true conversion rate of every cell.
#[derive(Clone, Debug)]
pub struct FactorialScenario {
    pub name: &'static str,
    pub design: Design,
    pub rates: Vec<f64>,
}

impl FactorialScenario {
    /// Rates = base + Σ_f main[f][level_f] + Σ over `interactions` ((f, a), (g, b), size) of
    /// size where factor f is at level a and g at level b.
    pub fn new(
        name: &'static str,
        base: f64,
        main: &[&[f64]],
        interactions: &[InteractionTerm],
    ) -> Self {
        let design = Design::new(main.iter().map(|m| m.len()).collect());
        let rates = (0..design.cells())
            .map(|c| {
                let l = design.levels_of(c);
                let mut rate = base;
                for (f, effects) in main.iter().enumerate() {
                    rate += effects[l[f]];
                }
                for &((f, a), (g, b), size) in interactions {
                    if l[f] == a && l[g] == b {
                        rate += size;
                    }
                }
                rate
            })
            .collect();
        FactorialScenario {
            name,
            design,
            rates,
        }
    }

    pub fn best(&self) -> usize {
        (0..self.rates.len())
            .max_by(|&a, &b| self.rates[a].total_cmp(&self.rates[b]))
            .unwrap_or(0)
    }

    /// The scenarios of docs/simulation.md: additive truths, an interaction that keeps the
    /// additive best, and interactions that move the best cell away from the one the main
    /// effects point to.
    pub fn all() -> Vec<FactorialScenario> {
        vec![
            FactorialScenario::new(
                "2×2×2, additive",
                0.10,
                &[&[0.0, 0.02], &[0.0, 0.01], &[0.0, -0.005]],
                &[],
            ),
            FactorialScenario::new(
                "2×2×2, interaction +1 point on the additive best",
                0.10,
                &[&[0.0, 0.02], &[0.0, 0.01], &[0.0, -0.005]],
                &[((0, 1), (1, 1), 0.01)],
            ),
            FactorialScenario::new(
                "2×2×2, interaction −3 points moves the best",
                0.10,
                &[&[0.0, 0.02], &[0.0, 0.015], &[0.0, 0.005]],
                &[((0, 1), (1, 1), -0.03)],
            ),
            FactorialScenario::new(
                "2×2×2×2, additive",
                0.10,
                &[&[0.0, 0.01], &[0.0, 0.008], &[0.0, 0.005], &[0.0, -0.004]],
                &[],
            ),
            FactorialScenario::new(
                "4×4, additive",
                0.10,
                &[&[0.0, 0.01, 0.02, 0.005], &[0.0, -0.005, 0.012, 0.006]],
                &[],
            ),
            FactorialScenario::new(
                "4×4, interaction −2.5 points moves the best",
                0.10,
                &[&[0.0, 0.01, 0.02, 0.005], &[0.0, -0.005, 0.012, 0.006]],
                &[((0, 2), (1, 2), -0.025)],
            ),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FactorialPolicy {
    /// Beta(1 + c, 1 + n − c) per cell, `thompson::sample_arm_beta` per user.
    Plain,
    /// `SharedModel::prob_best` per refresh with the floor, each user's cell drawn from it.
    Shared(TauChoice),
}

impl FactorialPolicy {
    pub fn label(&self) -> &'static str {
        match self {
            FactorialPolicy::Plain => "plain Thompson (Beta per cell)",
            FactorialPolicy::Shared(TauChoice::MaxLikelihood) => {
                "shared model, τ² by max. likelihood"
            }
            FactorialPolicy::Shared(TauChoice::Average) => "shared model, τ² averaged",
        }
    }
}

/// The server's default exploration floor and refresh (every second; here every 100 users).
pub const FLOOR: f64 = 0.01;
pub const BATCH: u64 = 100;

struct RunResult {
    regret: Vec<f64>,
    found_best: bool,
}

fn cell_estimates(counts: &[(u64, u64)]) -> Vec<CellEstimate> {
    counts
        .iter()
        .map(|&(n, c)| CellEstimate::from_counts(n, c))
        .collect()
}

/// The allocation each policy would use now: the exact Thompson allocation of the Beta
/// posteriors, or the floor-adjusted Monte Carlo P(best) of the shared model.
fn allocation(
    scenario: &FactorialScenario,
    policy: FactorialPolicy,
    counts: &[(u64, u64)],
    rng: &mut SmallRng,
) -> Vec<f64> {
    match policy {
        FactorialPolicy::Plain => {
            let arms: Vec<BetaPosterior> = counts
                .iter()
                .map(|&(n, c)| BetaPosterior::from_counts(n, c))
                .collect();
            thompson::allocation(&arms, FLOOR)
        }
        FactorialPolicy::Shared(choice) => shared_allocation(scenario, choice, counts, rng),
    }
}

fn shared_allocation(
    scenario: &FactorialScenario,
    choice: TauChoice,
    counts: &[(u64, u64)],
    rng: &mut SmallRng,
) -> Vec<f64> {
    let model = SharedModel::fit_with(&scenario.design, &cell_estimates(counts), choice);
    let all: Vec<usize> = (0..counts.len()).collect();
    let p = model.prob_best(&all, PROB_BEST_DRAWS, rng);
    factorial::allocation(&p, &all, FLOOR)
}

/// One run: users arrive one by one, get a cell from the policy and convert with the cell's
/// true rate; the posteriors (plain) or the allocation (shared) are rebuilt every `BATCH`
/// users. Expected regret Σ (p* − p_cell) at each checkpoint, and whether the final
/// allocation's largest share is the best cell's.
fn one_run(
    scenario: &FactorialScenario,
    policy: FactorialPolicy,
    checkpoints: &[u64],
    rng: &mut SmallRng,
) -> RunResult {
    let cells = scenario.design.cells();
    let best_rate = scenario.rates[scenario.best()];
    let mut counts = vec![(0u64, 0u64); cells];
    let mut arms = vec![BetaPosterior::PRIOR; cells];
    let mut shares = match policy {
        FactorialPolicy::Shared(choice) => shared_allocation(scenario, choice, &counts, rng),
        FactorialPolicy::Plain => Vec::new(),
    };
    let horizon = checkpoints.last().copied().unwrap_or(0);
    let mut regret = 0.0;
    let mut out = Vec::with_capacity(checkpoints.len());
    let mut next = 0;
    for t in 1..=horizon {
        let cell = match policy {
            FactorialPolicy::Plain => sample_arm_beta(&arms, FLOOR, rng),
            FactorialPolicy::Shared(_) => factorial::pick(&shares, rng),
        };
        regret += best_rate - scenario.rates[cell];
        let converted = rng.random::<f64>() < scenario.rates[cell];
        counts[cell].0 += 1;
        counts[cell].1 += u64::from(converted);
        if t % BATCH == 0 {
            match policy {
                FactorialPolicy::Plain => {
                    for (arm, &(n, c)) in arms.iter_mut().zip(&counts) {
                        *arm = BetaPosterior::from_counts(n, c);
                    }
                }
                FactorialPolicy::Shared(choice) => {
                    shares = shared_allocation(scenario, choice, &counts, rng);
                }
            }
        }
        while next < checkpoints.len() && checkpoints[next] == t {
            out.push(regret);
            next += 1;
        }
    }
    let last = allocation(scenario, policy, &counts, rng);
    let most = (0..cells)
        .max_by(|&a, &b| last[a].total_cmp(&last[b]))
        .unwrap_or(0);
    RunResult {
        regret: out,
        found_best: most == scenario.best(),
    }
}

/// One policy on one scenario.
#[derive(Clone, Debug)]
pub struct FactorialRow {
    pub scenario: &'static str,
    pub cells: usize,
    pub policy: FactorialPolicy,
    pub runs: usize,
    pub checkpoints: Vec<u64>,
    /// Mean cumulative regret ± s.e. at each checkpoint.
    pub regret: Vec<(f64, f64)>,
    /// Share of runs whose final most-allocated cell is the best one.
    pub found_best: f64,
    /// Expected regret of the floor alone by the last checkpoint: K·φ of users get a cell
    /// at random, T·K·φ·(p* − mean rate), the same for every policy.
    pub floor_cost: f64,
}

/// Both policies over every scenario; run i of both policies starts from the same seed.
pub fn factorial(
    scenarios: &[FactorialScenario],
    policies: &[FactorialPolicy],
    runs: usize,
    checkpoints: &[u64],
    seed: u64,
) -> Vec<FactorialRow> {
    let mut rows = Vec::new();
    for (s, scenario) in scenarios.iter().enumerate() {
        for &policy in policies {
            let per_run = parallel_map(runs, |run| {
                let mut rng = run_rng(seed, 5_000 + s as u64, run);
                one_run(scenario, policy, checkpoints, &mut rng)
            });
            let regret = (0..checkpoints.len())
                .map(|i| mean_and_se(&per_run.iter().map(|r| r.regret[i]).collect::<Vec<_>>()))
                .collect();
            let found = per_run.iter().filter(|r| r.found_best).count();
            let cells = scenario.rates.len() as f64;
            let mean_rate = scenario.rates.iter().sum::<f64>() / cells;
            let floor_cost = checkpoints.last().copied().unwrap_or(0) as f64
                * cells
                * thompson::effective_floor(FLOOR, scenario.rates.len())
                * (scenario.rates[scenario.best()] - mean_rate);
            rows.push(FactorialRow {
                scenario: scenario.name,
                cells: scenario.design.cells(),
                policy,
                runs,
                checkpoints: checkpoints.to_vec(),
                regret,
                found_best: found as f64 / runs as f64,
                floor_cost,
            });
        }
    }
    rows
}

/// Markdown table: per scenario a row per policy, regret at each checkpoint, the ratio
/// shared/plain at the last one (± s.e. by the delta method, runs independent) and the
/// share of runs that end with the best cell most allocated.
pub fn render_factorial(rows: &[FactorialRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut out = String::from("| scenario | policy |");
    for t in &first.checkpoints {
        out.push_str(&format!(" R({t}) |"));
    }
    out.push_str(
        " shared / plain at the last T | of which the floor | final most-allocated cell is the best |\n| --- | --- |",
    );
    for _ in &first.checkpoints {
        out.push_str(" ---: |");
    }
    out.push_str(" ---: | ---: | ---: |\n");
    for r in rows {
        out.push_str(&format!(
            "| {} ({} cells) | {} ({} runs) |",
            r.scenario,
            r.cells,
            r.policy.label(),
            r.runs
        ));
        for (mean, se) in &r.regret {
            out.push_str(&format!(" {mean:.1} ± {se:.1} |"));
        }
        let plain = rows
            .iter()
            .find(|p| p.scenario == r.scenario && p.policy == FactorialPolicy::Plain);
        let ratio = match (
            r.policy,
            plain.and_then(|p| p.regret.last()),
            r.regret.last(),
        ) {
            (FactorialPolicy::Shared(_), Some(&(pm, ps)), Some(&(sm, ss)))
                if pm > 0.0 && sm > 0.0 =>
            {
                let ratio = sm / pm;
                let se = ratio * ((ss / sm).powi(2) + (ps / pm).powi(2)).sqrt();
                format!("{ratio:.3} ± {se:.3}")
            }
            _ => "–".into(),
        };
        out.push_str(&format!(
            " {ratio} | {:.1} | {:.1}% |\n",
            r.floor_cost,
            100.0 * r.found_best
        ));
    }
    out
}

/// Wall time of `SharedModel::fit` and of `prob_best` with `PROB_BEST_DRAWS` draws over
/// every cell, for designs of 8, 16 and 625 cells with data in every cell (ms per call).
pub fn timing(seed: u64) -> String {
    use std::hint::black_box;
    use std::time::Instant;
    let mut out = String::from(
        "| design | cells | τ² | fit (ms) | prob_best, all cells, 10,000 draws (ms) |\n| --- | ---: | --- | ---: | ---: |\n",
    );
    for levels in [
        vec![2, 2, 2],
        vec![2, 2, 2, 2],
        vec![4, 4],
        vec![5, 5, 5, 5],
    ] {
        let design = Design::new(levels.clone());
        let mut rng = run_rng(seed, 5_999, design.cells());
        let cells: Vec<CellEstimate> = (0..design.cells())
            .map(|c| {
                let n = 500 + (c as u64 * 7919) % 5_000;
                let conversions = (n as f64 * (0.08 + 0.04 * rng.random::<f64>())) as u64;
                CellEstimate::from_beta(&BetaPosterior::from_counts(n, conversions))
            })
            .collect();
        let name = levels
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("×");
        for (label, choice) in [
            ("max. likelihood", TauChoice::MaxLikelihood),
            ("averaged", TauChoice::Average),
        ] {
            let repeats = if design.cells() > 100 { 3 } else { 200 };
            let start = Instant::now();
            for _ in 0..repeats {
                black_box(SharedModel::fit_with(&design, black_box(&cells), choice));
            }
            let fit_ms = start.elapsed().as_secs_f64() * 1e3 / repeats as f64;
            let model = SharedModel::fit_with(&design, &cells, choice);
            let all: Vec<usize> = (0..design.cells()).collect();
            let repeats = if design.cells() > 100 { 2 } else { 20 };
            let start = Instant::now();
            for _ in 0..repeats {
                black_box(model.prob_best(&all, PROB_BEST_DRAWS, &mut rng));
            }
            let best_ms = start.elapsed().as_secs_f64() * 1e3 / repeats as f64;
            out.push_str(&format!(
                "| {name} | {} | {label} | {fit_ms:.3} | {best_ms:.2} |\n",
                design.cells()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_have_the_documented_best_cells() {
        let s = FactorialScenario::all();
        let d = &s[0].design;
        assert_eq!(s[0].best(), d.cell_of(&[1, 1, 0]));
        assert!((s[0].rates[s[0].best()] - 0.13).abs() < 1e-12);
        assert_eq!(s[1].best(), d.cell_of(&[1, 1, 0]));
        assert_eq!(s[2].best(), d.cell_of(&[1, 0, 1]));
        assert!((s[2].rates[s[2].best()] - 0.125).abs() < 1e-12);
        assert_eq!(s[3].best(), s[3].design.cell_of(&[1, 1, 1, 0]));
        assert_eq!(s[4].best(), s[4].design.cell_of(&[2, 2]));
        assert_eq!(s[5].best(), s[5].design.cell_of(&[2, 3]));
    }

    #[test]
    fn a_short_run_is_deterministic_and_sane() {
        let scenarios = &FactorialScenario::all()[..1];
        let policies = [
            FactorialPolicy::Plain,
            FactorialPolicy::Shared(TauChoice::MaxLikelihood),
        ];
        let a = factorial(scenarios, &policies, 2, &[1_000], 5);
        let b = factorial(scenarios, &policies, 2, &[1_000], 5);
        assert_eq!(a[1].regret, b[1].regret);
        for r in &a {
            // At most the worst gap (3.5 points) on every user.
            assert!(r.regret[0].0 > 0.0 && r.regret[0].0 < 35.0, "{r:?}");
        }
        assert!(render_factorial(&a).contains(
            "| 2×2×2, additive (8 cells) | shared model, τ² by max. likelihood (2 runs) |"
        ));
    }
}
