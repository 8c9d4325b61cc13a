//! `simulate`: the bandit simulations of docs/simulation.md, a research harness beside the
//! server. They drive the server's own sampler and updates from `posterior::stats`
//! (`thompson::sample_arm_beta` with `BetaPosterior::update`, `thompson::sample_arm_gaussian`
//! with `MeanPosterior::update`, `contextual::context_beta`, `factorial::SharedModel`) and
//! print Markdown tables. Runs
//! are seeded from (seed, setting, run index), so results do not depend on the number of
//! threads.
//!
//! `cargo run --release --bin simulate -- [--quick] [--only <table>] [--seed <n>]`

mod chapelle_li;
mod contextual;
mod cuped;
mod factorial;
mod gaussian;
mod lai_robbins;
mod peeking;
mod runs;
mod timing;

use clap::{Parser, ValueEnum};
use contextual::{ContextualPolicy, ContextualScenario};
use posterior::stats::factorial::TauChoice;
use std::time::Instant;

/// Measure Thompson sampling against the literature (prints Markdown tables).
#[derive(Debug, Parser)]
#[command(name = "simulate")]
struct Args {
    /// Small runs (seconds) instead of the full-size ones (tens of minutes on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Which table; all of them by default.
    #[arg(long, value_enum)]
    only: Option<Simulation>,
    #[arg(long, default_value_t = 20110101)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Simulation {
    /// Lattimore & Szepesvári, Experiment 36.1: Gaussian arms.
    Gaussian,
    /// Regret slope against the Lai–Robbins constant.
    LaiRobbins,
    /// Chapelle & Li (2011), Table 1: delayed feedback, arms replaced over time.
    ChapelleLi,
    /// Contextual bandit (posteriors per context, pooled prior) against pooled Thompson.
    Contextual,
    /// Peeking: false positives of A/A tests looked at every 100 users per arm, and power.
    Peeking,
    /// CUPED: bias, interval width and coverage with pre-assignment data (ρ = 0.7).
    Cuped,
    /// Send times: each user's own best hour (the `personal` variant) against fixed hours.
    Timing,
    /// Factorial bandit: the shared model (main effects + shrunk interactions) against plain
    /// Thompson sampling over the cells.
    Factorial,
}

fn main() {
    let args = Args::parse();
    let wanted = |s: Simulation| args.only.is_none_or(|o| o == s);
    let q = args.quick;
    if wanted(Simulation::Gaussian) {
        let start = Instant::now();
        let row = gaussian::gaussian_two_arms(if q { 2_000 } else { 100_000 }, 2000, args.seed);
        println!(
            "## Gaussian Thompson sampling (Lattimore & Szepesvári, Experiment 36.1)\n\n{}",
            gaussian::render_gaussian(&row)
        );
        println!("({:.0} s)\n", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::LaiRobbins) {
        let start = Instant::now();
        let (t_short, t_long) = if q {
            (10_000, 100_000)
        } else {
            (100_000, 1_000_000)
        };
        let mut rows = lai_robbins::static_arms(
            10,
            &[0.1],
            if q { 8 } else { 500 },
            t_short,
            t_long,
            args.seed,
        );
        rows.extend(lai_robbins::static_arms(
            10,
            &[0.02],
            if q { 8 } else { 1000 },
            t_short,
            t_long,
            args.seed + 1,
        ));
        println!(
            "## Static arms against Lai–Robbins\n\n{}",
            lai_robbins::render_static(&rows)
        );
        println!("({:.0} s)\n", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::ChapelleLi) {
        let start = Instant::now();
        let (runs, steps) = if q { (4, 100_000) } else { (100, 1_000_000) };
        let rows =
            chapelle_li::chapelle_li(runs, steps, &[1, 3, 10, 32, 100, 316, 1000], args.seed);
        println!(
            "## Chapelle & Li (2011), Table 1 ({steps} steps)\n\n{}",
            chapelle_li::render_chapelle_li(&rows)
        );
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::Contextual) {
        let start = Instant::now();
        let (runs, checkpoints): (usize, &[u64]) = if q {
            (20, &[1_000, 10_000])
        } else {
            (100, &[1_000, 10_000, 50_000])
        };
        let policies = [
            ContextualPolicy::Pooled,
            ContextualPolicy::PerContext { m_max: 0 },
            ContextualPolicy::PerContext { m_max: 10 },
            ContextualPolicy::PerContext { m_max: 30 },
            ContextualPolicy::PerContext { m_max: 100 },
        ];
        for (name, scenario) in [
            (
                "4 contexts (40/30/20/10%), best variants a, b, c, a",
                ContextualScenario::default(),
            ),
            (
                "24 small contexts (Zipf shares), 21 prefer b, 3 differ",
                ContextualScenario::many_small(),
            ),
        ] {
            let rows = contextual::contextual(&scenario, &policies, runs, checkpoints, args.seed);
            println!(
                "## Contextual bandit: {name}; regret against the per-context oracle\n\n{}",
                contextual::render_contextual(&rows)
            );
        }
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::Peeking) {
        let start = Instant::now();
        let (runs, max) = if q { (100, 5_000) } else { (2_000, 20_000) };
        let rows = [
            peeking::peeking("A/A, 5% rate", runs, 0.05, 0.0, 100, max, args.seed),
            peeking::peeking(
                "A/B, 5% rate, +10% relative",
                runs,
                0.05,
                0.10,
                100,
                max,
                args.seed,
            ),
        ];
        println!(
            "## Peeking: looked at every 100 users per arm up to {max}; share of runs that ever declare a difference\n\n{}",
            peeking::render_peeking(&rows)
        );
        let guard_runs = if q { 50 } else { 200 };
        for (rate, threshold) in [(0.05, 0.0), (0.05, 0.02), (0.10, 0.02)] {
            let fired = peeking::guardrail_aa(guard_runs, rate, threshold, 100, max, args.seed);
            println!(
                "Guardrail in A/A tests ({:.0}% rate in both arms, threshold {:.0}%, checked every 100 users per arm up to {max}): fired in {fired} of {guard_runs}.",
                rate * 100.0,
                threshold * 100.0
            );
        }
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::Cuped) {
        let start = Instant::now();
        let (runs, users) = if q { (100, 1_000) } else { (1_000, 5_000) };
        let rows = [
            cuped::cuped("A/A, ρ = 0.7", runs, users, 0.7, 0.0, 1.0, args.seed),
            cuped::cuped("+2%, ρ = 0.7", runs, users, 0.7, 0.02, 1.0, args.seed),
            cuped::cuped(
                "+2%, ρ = 0.7, 60% of users with history",
                runs,
                users,
                0.7,
                0.02,
                0.6,
                args.seed,
            ),
            cuped::cuped("+2%, ρ = 0.3", runs, users, 0.3, 0.02, 1.0, args.seed),
        ];
        println!(
            "## CUPED: {users} users per arm, relative lift of a mean, 95% intervals\n\n{}",
            cuped::render_cuped(&rows)
        );
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::Timing) {
        let start = Instant::now();
        let (runs, users) = if q { (4, 20_000) } else { (10, 200_000) };
        let blocks = [
            timing::timing(runs, users, 8.0, args.seed),
            timing::timing(runs, users, 2.0, args.seed),
        ];
        println!(
            "## Send times: each user's own best hour against fixed hours (every arm on the same users)\n\n{}",
            timing::render_timing(&blocks)
        );
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
    if wanted(Simulation::Factorial) {
        let start = Instant::now();
        let (runs, checkpoints): (usize, &[u64]) = if q {
            (8, &[1_000, 4_000])
        } else {
            (200, &[2_000, 20_000])
        };
        let rows = factorial::factorial(
            &factorial::FactorialScenario::all(),
            &[
                factorial::FactorialPolicy::Plain,
                factorial::FactorialPolicy::Shared(TauChoice::MaxLikelihood),
                factorial::FactorialPolicy::Shared(TauChoice::Average),
            ],
            runs,
            checkpoints,
            args.seed,
        );
        println!(
            "## Factorial bandit: shared strength against plain Thompson sampling\n\n{}",
            factorial::render_factorial(&rows)
        );
        println!(
            "Time of the shared model (release build, one thread):\n\n{}",
            factorial::timing(args.seed)
        );
        println!("({:.0} s)", start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulations_are_deterministic_and_sane() {
        let a = chapelle_li::chapelle_li(2, 20_000, &[1, 100], 9);
        let b = chapelle_li::chapelle_li(2, 20_000, &[1, 100], 9);
        assert_eq!(a[0].mean_regret, b[0].mean_regret);
        assert!(
            a.iter()
                .all(|r| r.mean_regret > 0.0 && r.mean_regret < 20_000.0)
        );
        assert!(chapelle_li::render_chapelle_li(&a).contains("| δ = 1, 2 runs |"));
        let g = gaussian::gaussian_two_arms(50, 200, 1);
        assert!(g.mean_regret > 0.0 && g.mean_regret < 40.0);
        let s = lai_robbins::static_arms(3, &[0.1], 2, 1_000, 2_000, 4);
        assert!(s[0].regret_long.0 >= s[0].regret_short.0);
        // Lai–Robbins constants quoted in statistics.md
        let c = |eps: f64| {
            let mut rates = vec![0.5 - eps; 10];
            rates[0] = 0.5;
            lai_robbins::lai_robbins_constant(&rates)
        };
        assert!((c(0.1) - 44.70).abs() < 0.01, "{}", c(0.1));
        assert!((c(0.02) - 224.9).abs() < 0.1, "{}", c(0.02));
        // Peeking: a tiny A/A run is deterministic and the sequential rule is the stricter.
        let p = peeking::peeking("A/A", 40, 0.05, 0.0, 100, 2_000, 3);
        let again = peeking::peeking("A/A", 40, 0.05, 0.0, 100, 2_000, 3);
        assert_eq!(p.fixed, again.fixed);
        assert!(p.sequential.0 <= p.fixed.0, "{p:?}");
        let fired = peeking::guardrail_aa(20, 0.05, 0.02, 100, 2_000, 3);
        assert_eq!(fired, peeking::guardrail_aa(20, 0.05, 0.02, 100, 2_000, 3));
        assert!(fired <= 20);
        // CUPED: deterministic, and narrower with a correlated covariate.
        let c = cuped::cuped("c", 20, 500, 0.7, 0.02, 1.0, 3);
        assert_eq!(
            c.estimate,
            cuped::cuped("c", 20, 500, 0.7, 0.02, 1.0, 3).estimate
        );
        assert!(c.width[1] < c.width[0], "{c:?}");
    }
}
