//! Off-policy evaluation: what another policy would have earned, from a log of
//! (context x_i, action a_i, propensity p_i, reward r_i) collected under the logging policy.
//!
//! - Inverse propensity scoring (Horvitz & Thompson 1952; for bandits Dudík, Langford & Li,
//!   "Doubly Robust Policy Evaluation and Learning", ICML 2011, eq. 1):
//!   IPS = (1/n) Σ_i t_i with t_i = r_i·π(a_i|x_i)/p_i. Unbiased when p_i > 0 wherever π > 0.
//!   Normal interval from the sample variance of the terms: IPS ± z·s_t/√n.
//! - Self-normalized IPS (Swaminathan & Joachims, "The Self-Normalized Estimator for
//!   Counterfactual Learning", NeurIPS 2015): SNIPS = Σ w_i r_i / Σ w_i, w_i = π(a_i|x_i)/p_i.
//!   Slightly biased, far smaller variance, and always inside the range of the rewards.
//!   Interval by the delta method for a ratio of means:
//!   Var(SNIPS) ≈ Σ w_i² (r_i − SNIPS)² / (Σ w_i)².
//! - Effective sample size (Kish 1965): (Σ w_i)² / Σ w_i².
//!
//! The policies evaluated here are constant per (context, variant) cell, so every sum above
//! is a combination of per-cell aggregates of the log: n, Σr, Σr², Σ1/p, Σr/p, Σ1/p²,
//! Σr/p², Σr²/p² ([`Cell`]). One SQL aggregation over the raw rows gives them all.

use super::Interval;

/// Aggregates of the logged rows of one (context, variant) cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cell {
    pub n: f64,
    pub sum_r: f64,
    pub sum_r2: f64,
    /// Σ 1/p
    pub sum_w: f64,
    /// Σ r/p
    pub sum_rw: f64,
    /// Σ 1/p²
    pub sum_w2: f64,
    /// Σ r/p²
    pub sum_rw2: f64,
    /// Σ r²/p²
    pub sum_r2w2: f64,
}

impl Cell {
    /// The aggregates of a list of (propensity, reward) rows (for tests and simulations).
    pub fn of(rows: &[(f64, f64)]) -> Cell {
        let mut c = Cell::default();
        for &(p, r) in rows {
            c.n += 1.0;
            c.sum_r += r;
            c.sum_r2 += r * r;
            c.sum_w += 1.0 / p;
            c.sum_rw += r / p;
            c.sum_w2 += 1.0 / (p * p);
            c.sum_rw2 += r / (p * p);
            c.sum_r2w2 += r * r / (p * p);
        }
        c
    }
}

/// An estimate of a policy's value per user.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub ips: Interval,
    /// `None` when the target policy puts no weight on any logged action (Σw = 0).
    pub snips: Option<Interval>,
    /// Kish's effective sample size of the importance weights.
    pub effective_sample_size: f64,
}

fn normal(mean: f64, se: f64, z: f64) -> Interval {
    Interval {
        mean,
        low: mean - z * se,
        high: mean + z * se,
    }
}

/// IPS and SNIPS of a target policy. `cells` pairs each cell's aggregates with π(v|x), the
/// target policy's probability of that cell's variant in that cell's context; every logged
/// row must be in some cell (cells with π = 0 still count in n). `z`: the normal quantile of
/// the interval (1.96 for 95%).
pub fn estimate(cells: &[(Cell, f64)], z: f64) -> Option<Estimate> {
    let n: f64 = cells.iter().map(|(c, _)| c.n).sum();
    if n <= 0.0 {
        return None;
    }
    // IPS terms t_i = π r_i / p_i: Σt = Σ π Σr/p; Σt² = Σ π² Σr²/p².
    let sum_t: f64 = cells.iter().map(|(c, pi)| pi * c.sum_rw).sum();
    let sum_t2: f64 = cells.iter().map(|(c, pi)| pi * pi * c.sum_r2w2).sum();
    let ips = sum_t / n;
    let ips_se = if n > 1.0 {
        let var = ((sum_t2 - n * ips * ips) / (n - 1.0)).max(0.0);
        (var / n).sqrt()
    } else {
        f64::INFINITY
    };
    // SNIPS: w_i = π / p_i.
    let sum_w: f64 = cells.iter().map(|(c, pi)| pi * c.sum_w).sum();
    let sum_w2: f64 = cells.iter().map(|(c, pi)| pi * pi * c.sum_w2).sum();
    // Rows the target policy could have produced: with fewer than two, SNIPS has no
    // variance estimate (its interval is unbounded, not a point).
    let supported: f64 = cells
        .iter()
        .filter(|(_, pi)| *pi > 0.0)
        .map(|(c, _)| c.n)
        .sum();
    let snips = (sum_w > 0.0).then(|| {
        let s = sum_t / sum_w;
        if supported < 2.0 {
            return normal(s, f64::INFINITY, z);
        }
        // Σ w²(r − s)² = Σ π² (Σr²/p² − 2s Σr/p² + s² Σ1/p²)
        let spread: f64 = cells
            .iter()
            .map(|(c, pi)| pi * pi * (c.sum_r2w2 - 2.0 * s * c.sum_rw2 + s * s * c.sum_w2))
            .sum::<f64>()
            .max(0.0);
        normal(s, spread.sqrt() / sum_w, z)
    });
    Some(Estimate {
        ips: normal(ips, ips_se, z),
        snips,
        effective_sample_size: if sum_w2 > 0.0 {
            sum_w * sum_w / sum_w2
        } else {
            0.0
        },
    })
}

/// The logging policy itself: every weight is 1, so IPS = SNIPS = the logged mean reward,
/// with the normal interval of a mean.
pub fn on_policy(cells: &[Cell], z: f64) -> Option<Estimate> {
    let n: f64 = cells.iter().map(|c| c.n).sum();
    if n <= 0.0 {
        return None;
    }
    let sum_r: f64 = cells.iter().map(|c| c.sum_r).sum();
    let sum_r2: f64 = cells.iter().map(|c| c.sum_r2).sum();
    let mean = sum_r / n;
    let se = if n > 1.0 {
        (((sum_r2 - n * mean * mean) / (n - 1.0)).max(0.0) / n).sqrt()
    } else {
        f64::INFINITY
    };
    let interval = normal(mean, se, z);
    Some(Estimate {
        ips: interval,
        snips: Some(interval),
        effective_sample_size: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    /// A log of 5 rows by hand: (context, variant) cells with (p, r).
    ///   cell A = (x0, v0): (0.5, 1), (0.5, 0)
    ///   cell B = (x0, v1): (0.25, 1)
    ///   cell C = (x1, v0): (0.8, 0), (0.8, 1)
    fn log() -> [Cell; 3] {
        [
            Cell::of(&[(0.5, 1.0), (0.5, 0.0)]),
            Cell::of(&[(0.25, 1.0)]),
            Cell::of(&[(0.8, 0.0), (0.8, 1.0)]),
        ]
    }

    #[test]
    fn ips_and_snips_by_hand() {
        let [a, b, c] = log();
        // Target: always v0 (π = 1 on cells A and C, 0 on B).
        let e = estimate(&[(a, 1.0), (b, 0.0), (c, 1.0)], 1.96).unwrap();
        // Terms t: 2, 0, 0, 0, 1.25 → IPS = 3.25/5 = 0.65.
        close(e.ips.mean, 0.65);
        // Sample variance of t: Σt² = 4 + 1.5625 = 5.5625; (5.5625 − 5·0.4225)/4 = 0.8625.
        let se = (0.8625f64 / 5.0).sqrt();
        close(e.ips.high - e.ips.mean, 1.96 * se);
        // SNIPS: Σw = 2 + 2 + 1.25 + 1.25 = 6.5 (the π = 0 row has w = 0); Σwr = 3.25 → 0.5.
        let s = e.snips.unwrap();
        close(s.mean, 0.5);
        // Σ w²(r − 0.5)² = 4·0.25·2 + 1.5625·0.25·2 = 2.78125; se = √2.78125 / 6.5.
        close(s.high - s.mean, 1.96 * 2.78125f64.sqrt() / 6.5);
        // ESS = 6.5² / (4 + 4 + 1.5625 + 1.5625).
        close(e.effective_sample_size, 42.25 / 11.125);
    }

    #[test]
    fn a_stochastic_target_policy() {
        let [a, b, c] = log();
        // π(v0|x0) = 0.3, π(v1|x0) = 0.7, π(v0|x1) = 1.
        let e = estimate(&[(a, 0.3), (b, 0.7), (c, 1.0)], 1.96).unwrap();
        // t: 0.6, 0, 2.8, 0, 1.25 → 4.65/5.
        close(e.ips.mean, 0.93);
        // w: 0.6, 0.6, 2.8, 1.25, 1.25; Σw = 6.5; Σwr = 4.65.
        close(e.snips.unwrap().mean, 4.65 / 6.5);
    }

    #[test]
    fn the_logging_policy_gets_the_logged_mean() {
        let cells = log();
        let e = on_policy(&cells, 1.96).unwrap();
        close(e.ips.mean, 3.0 / 5.0);
        // Sample variance of r: (3 − 5·0.36)/4 = 0.3.
        close(e.ips.high - e.ips.mean, 1.96 * (0.3f64 / 5.0).sqrt());
        // With π = p in every cell, IPS is the logged mean too.
        let [a, b, c] = cells;
        let same = estimate(&[(a, 0.5), (b, 0.25), (c, 0.8)], 1.96).unwrap();
        close(same.ips.mean, 0.6);
        close(same.snips.unwrap().mean, 0.6);
    }

    #[test]
    fn nothing_logged() {
        assert!(estimate(&[], 1.96).is_none());
        assert!(on_policy(&[], 1.96).is_none());
        let e = estimate(&[(Cell::of(&[(0.5, 1.0)]), 0.0)], 1.96).unwrap();
        assert!(e.snips.is_none());
        assert_eq!(e.ips.mean, 0.0);
        // One supported row: an estimate without a finite interval.
        let one = estimate(
            &[
                (Cell::of(&[(0.5, 1.0)]), 1.0),
                (Cell::of(&[(0.5, 0.0)]), 0.0),
            ],
            1.96,
        )
        .unwrap();
        let s = one.snips.unwrap();
        assert_eq!(s.mean, 1.0);
        assert!(s.low.is_infinite() && s.high.is_infinite());
        assert!(one.ips.low.is_finite());
    }
}
