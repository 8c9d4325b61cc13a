//! Microbenchmark: one Thompson-sampling decision plus one posterior update, with the very
//! sampler and update the server and the simulator use. `cargo bench --bench bandit`.
//! Prints `arms=K ns_per_decision_and_update=X` lines for bench/run to compare with MABWiser.

use posterior::stats::beta::BetaPosterior;
use posterior::stats::thompson;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

fn measure(arms: usize, rounds: usize) -> f64 {
    let rates: Vec<f64> = (0..arms).map(|k| 0.05 + 0.01 * k as f64).collect();
    let mut posteriors = vec![BetaPosterior::from_counts(0, 0); arms];
    let mut rng = SmallRng::seed_from_u64(7);
    let start = Instant::now();
    for _ in 0..rounds {
        let arm = thompson::sample_arm_beta(black_box(&posteriors), 0.01, &mut rng);
        let converted = rng.random::<f64>() < rates[arm];
        posteriors[arm].update(converted);
    }
    let elapsed = start.elapsed().as_nanos() as f64 / rounds as f64;
    black_box(&posteriors);
    elapsed
}

fn main() {
    for arms in [2, 3, 5, 10] {
        measure(arms, 100_000); // warm-up
        let best = (0..5)
            .map(|_| measure(arms, 1_000_000))
            .fold(f64::INFINITY, f64::min);
        println!("arms={arms} ns_per_decision_and_update={best:.1}");
    }
}
