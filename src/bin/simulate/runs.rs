//! The harness the simulations share: run seeds, runs spread over threads, mean ± s.e.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::sync::atomic::{AtomicUsize, Ordering};

/// SplitMix64 (Steele, Lea & Flood 2014) to derive independent run seeds.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random source of run `run` of `setting`: independent of the other runs and of the
/// number of threads.
pub fn run_rng(seed: u64, setting: u64, run: usize) -> SmallRng {
    SmallRng::seed_from_u64(splitmix64(
        splitmix64(seed ^ splitmix64(setting)) ^ run as u64,
    ))
}

/// Runs `f(0..count)` on all cores; results in index order. (Scoped threads and a shared
/// counter: the simulations' one parallel loop needs no thread-pool crate.)
pub fn parallel_map<T: Send, F: Fn(usize) -> T + Sync>(count: usize, f: F) -> Vec<T> {
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
pub fn mean_and_se(values: &[f64]) -> (f64, f64) {
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
