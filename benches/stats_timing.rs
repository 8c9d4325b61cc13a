//! Wall time of the exact posterior summaries (release mode):
//! `cargo bench --bench stats_timing`.
use posterior::stats::beta::{self, BetaPosterior};
use posterior::stats::gaussian::{self, MeanPosterior};
use std::hint::black_box;
use std::time::Instant;

fn time<T>(repeats: u32, mut f: impl FnMut() -> T) -> f64 {
    let start = Instant::now();
    for _ in 0..repeats {
        black_box(f());
    }
    start.elapsed().as_secs_f64() * 1e3 / repeats as f64
}

fn main() {
    println!("| function | inputs | ms per call |\n| --- | --- | --- |");
    for users in [1_000u64, 100_000, 10_000_000] {
        let x = BetaPosterior::from_counts(users, users / 10);
        let y = BetaPosterior::from_counts(users, users / 10 + users / 200);
        println!(
            "| beta::prob_greater | {users} users per arm | {:.3} |",
            time(20, || beta::prob_greater(&x, &y))
        );
        println!(
            "| beta::lift (95%) | {users} users per arm | {:.3} |",
            time(5, || beta::lift(&y, &x, 0.95))
        );
    }
    for k in [2usize, 5, 10, 20] {
        let same: Vec<BetaPosterior> = (0..k)
            .map(|i| BetaPosterior::from_counts(10_000, 1_000 + 10 * i as u64))
            .collect();
        let mixed: Vec<BetaPosterior> = (0..k)
            .map(|i| {
                let n = [30u64, 1_000, 100_000, 10_000_000][i % 4];
                BetaPosterior::from_counts(n, n / 10 + (i as u64 * n) / 1000)
            })
            .collect();
        println!(
            "| beta::prob_best | {k} arms, 10,000 users each | {:.2} |",
            time(5, || beta::prob_best(&same))
        );
        println!(
            "| beta::prob_best | {k} arms, 30 to 1e7 users | {:.2} |",
            time(3, || beta::prob_best(&mixed))
        );
        println!(
            "| beta::expected_loss | {k} arms, 30 to 1e7 users | {:.2} |",
            time(3, || beta::expected_loss(&mixed))
        );
        let revenue: Vec<MeanPosterior> = (0..k)
            .map(|i| {
                MeanPosterior::from_sums(5_000, 5_000.0 * (2.0 + 0.01 * i as f64), 5_000.0 * 30.0)
            })
            .collect();
        println!(
            "| gaussian::prob_best | {k} arms | {:.2} |",
            time(5, || gaussian::prob_best(&revenue))
        );
    }
}
