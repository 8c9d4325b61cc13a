//! Invariants (proptest) and behaviour checks of the statistics module.
//!
//! Case counts are kept small so that `cargo test` in debug mode stays well under a minute;
//! `PROPTEST_CASES=1000 cargo test --release --test stats` runs more.

use posterior::stats::beta::{self, BetaPosterior};
use posterior::stats::gaussian::{self, MeanPosterior};
use posterior::stats::special::{self, norm_cdf, norm_pdf};
use posterior::stats::{srm, thompson};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::support::{config, counts};

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn prob_greater_is_a_probability_and_symmetric(x in counts(1000), y in counts(1000)) {
        let (x, y) = (BetaPosterior::from_counts(x.0, x.1), BetaPosterior::from_counts(y.0, y.1));
        let p = beta::prob_greater(&x, &y);
        let q = beta::prob_greater(&y, &x);
        prop_assert!((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&q));
        prop_assert!((p + q - 1.0).abs() < 1e-12, "p={} q={}", p, q);
    }

    #[test]
    fn prob_greater_symmetric_at_large_counts(x in counts(100_000), y in counts(100_000)) {
        let (x, y) = (BetaPosterior::from_counts(x.0, x.1), BetaPosterior::from_counts(y.0, y.1));
        let p = beta::prob_greater(&x, &y);
        let q = beta::prob_greater(&y, &x);
        prop_assert!((0.0..=1.0).contains(&p));
        prop_assert!((p + q - 1.0).abs() < 1e-9, "p={} q={}", p, q);
    }

    #[test]
    fn more_conversions_never_lower_prob_greater(x in counts(2000), y in counts(2000)) {
        prop_assume!(x.1 < x.0);
        let y = BetaPosterior::from_counts(y.0, y.1);
        let before = beta::prob_greater(&BetaPosterior::from_counts(x.0, x.1), &y);
        let after = beta::prob_greater(&BetaPosterior::from_counts(x.0, x.1 + 1), &y);
        prop_assert!(after >= before - 1e-13, "before {} after {}", before, after);
    }

    #[test]
    fn prob_best_sums_to_one(arms in prop::collection::vec(counts(5000), 2..7)) {
        let arms: Vec<BetaPosterior> = arms.iter().map(|&(n, c)| BetaPosterior::from_counts(n, c)).collect();
        let p = beta::prob_best(&arms);
        prop_assert_eq!(p.len(), arms.len());
        prop_assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let loss = beta::expected_loss(&arms);
        prop_assert!(loss.iter().all(|v| v.is_finite() && *v >= 0.0 && *v <= 1.0));
    }

    #[test]
    fn prob_best_of_two_is_prob_greater(x in counts(3000), y in counts(3000)) {
        let (x, y) = (BetaPosterior::from_counts(x.0, x.1), BetaPosterior::from_counts(y.0, y.1));
        let p = beta::prob_best(&[x, y]);
        prop_assert!((p[0] - beta::prob_greater(&x, &y)).abs() < 1e-12);
    }

    #[test]
    fn credible_interval_brackets_the_mean(x in counts(1_000_000), level in 0.8f64..0.99) {
        let post = BetaPosterior::from_counts(x.0, x.1);
        let i = post.interval(level);
        prop_assert!(0.0 <= i.low && i.low <= i.mean && i.mean <= i.high && i.high <= 1.0, "{:?}", i);
    }

    #[test]
    fn lift_interval_brackets_the_mean(v in counts(500), c in counts(500)) {
        let (v, c) = (BetaPosterior::from_counts(v.0, v.1), BetaPosterior::from_counts(c.0, c.1));
        let l = beta::lift(&v, &c, 0.95);
        prop_assert!(l.low.is_finite() && l.high.is_finite());
        prop_assert!(-1.0 <= l.low && l.low <= l.mean && l.mean <= l.high, "{:?}", l);
        // the bounds are the 2.5% and 97.5% points of the ratio distribution
        prop_assert!((beta::ratio_cdf(&v, &c, 1.0 + l.low) - 0.025).abs() < 1e-9);
        prop_assert!((beta::ratio_cdf(&v, &c, 1.0 + l.high) - 0.975).abs() < 1e-9);
    }

    #[test]
    fn beta_quantile_inverts_beta_reg(a in 0.5f64..2e6, b in 0.5f64..2e6, log_p in -30.0f64..0.0, upper in any::<bool>()) {
        let p = if upper { 1.0 - 10f64.powf(log_p).min(0.5) } else { 10f64.powf(log_p) };
        let q = quantile_round_trip(p, a, b);
        prop_assert!((0.0..=1.0).contains(&q.x));
        prop_assert!(q.holds(), "a={} b={} p={} x={} back={}", a, b, p, q.x, q.back);
    }

    #[test]
    fn beta_reg_is_a_monotone_probability(a in 0.5f64..1e7, b in 0.5f64..1e7, x1 in 0.0f64..1.0, x2 in 0.0f64..1.0) {
        let (lo, hi) = if x1 <= x2 { (x1, x2) } else { (x2, x1) };
        let (f1, f2) = (special::beta_reg(a, b, lo), special::beta_reg(a, b, hi));
        prop_assert!((0.0..=1.0).contains(&f1) && (0.0..=1.0).contains(&f2));
        prop_assert!(f2 >= f1 - 1e-15, "a={} b={} {} {} -> {} {}", a, b, lo, hi, f1, f2);
        let c = special::beta_reg_complement(a, b, lo);
        prop_assert!((f1 + c - 1.0).abs() < 1e-14);
    }

    #[test]
    fn gaussian_summaries_are_probabilities(
        arms in prop::collection::vec((0u64..5000, -10.0f64..100.0, 0.0f64..50.0), 2..6),
    ) {
        // (n, mean, sd) → sufficient statistics
        let posts: Vec<MeanPosterior> = arms.iter().map(|&(n, m, sd)| {
            let nf = n as f64;
            let sum_sq = if n > 1 { sd * sd * (nf - 1.0) + nf * m * m } else { nf * m * m };
            MeanPosterior::from_sums(n, nf * m, sum_sq)
        }).collect();
        let p = gaussian::prob_best(&posts);
        prop_assert!(p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for l in gaussian::expected_loss(&posts) {
            prop_assert!(!l.is_nan() && l >= 0.0);
        }
        let c = gaussian::chance_to_beat(&posts[1], &posts[0]);
        prop_assert!((0.0..=1.0).contains(&c));
        if let Some(l) = gaussian::lift(&posts[1], &posts[0], 0.95) {
            prop_assert!(l.low <= l.mean && l.mean <= l.high);
        }
        let alloc = thompson::allocation_gaussian(&posts, 0.01);
        prop_assert!((alloc.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

/// x = beta_quantile(p, a, b) and I_x(a, b) read back, for `beta_quantile_inverts_beta_reg`
/// and the fixed cases below.
struct QuantileRoundTrip {
    p: f64,
    x: f64,
    back: f64,
    allowed: f64,
}

impl QuantileRoundTrip {
    fn holds(&self) -> bool {
        (self.back - self.p).abs() <= self.allowed
    }
}

fn quantile_round_trip(p: f64, a: f64, b: f64) -> QuantileRoundTrip {
    let x = special::beta_quantile(p, a, b);
    let back = special::beta_reg(a, b, x);
    // the quantile is exact up to the spacing of doubles near x
    let slack = special::beta_pdf(x, a, b) * x.max(1e-300) * 8.0 * f64::EPSILON;
    let allowed = 1e-13 * p.min(1.0 - p).max(1e-300) + slack + 1e-300;
    QuantileRoundTrip {
        p,
        x,
        back,
        allowed,
    }
}

// ---------------------------------------------------------------------------
// Cases proptest once found, and the region around them
// ---------------------------------------------------------------------------

#[test]
fn beta_quantile_inverts_beta_reg_where_proptest_failed() {
    // a ≫ b, both large, 1 − x ≈ 0.0022, just past Temme's region (|λ| ≈ 128 > 0.03·b):
    // beta_reg took its continued fraction in the orientation where the point lies past the
    // mean, which lost 5e-7 of I_x there, so the round trip missed p by 2.7e-7 (relative).
    let (a, b, p) = (1_687_467.32, 3_718.01, 0.018628641);
    for (a, b, p) in [(a, b, p), (b, a, 1.0 - p), (a, b, 1.0 - p), (b, a, p)] {
        let q = quantile_round_trip(p, a, b);
        assert!(
            q.holds(),
            "a={a} b={b} p={p} x={} back={} off by {:e}, {:e} allowed",
            q.x,
            q.back,
            (q.back - p).abs(),
            q.allowed
        );
    }
}

#[test]
fn beta_quantile_inverts_beta_reg_for_unequal_large_shapes() {
    // One shape parameter from 1e3 to 1e7, the other from 1 to 1e4, in both orders, and
    // tails from 1e-6 to 1 − 1e-6, with the tolerance of `beta_quantile_inverts_beta_reg`.
    let large = [
        1e3,
        3.3e3,
        1e4,
        3.7e4,
        1e5,
        3.1e5,
        1e6,
        1_687_467.32,
        3.3e6,
        1e7,
    ];
    let small = [1.0, 1.7, 3.0, 10.0, 37.5, 100.0, 316.0, 1e3, 3_718.01, 1e4];
    let tails = [
        1e-6,
        1e-5,
        1e-4,
        1e-3,
        0.01,
        0.018628641,
        0.05,
        0.1,
        0.25,
        0.5,
    ];
    let mut failures = Vec::new();
    let mut cases = 0;
    for &l in &large {
        for &s in &small {
            for (a, b) in [(l, s), (s, l)] {
                for &tail in &tails {
                    for p in [tail, 1.0 - tail] {
                        cases += 1;
                        let q = quantile_round_trip(p, a, b);
                        if !q.holds() {
                            failures.push(format!(
                                "a={a} b={b} p={p}: x={} back={} off by {:.1e} ({:.1e} allowed)",
                                q.x,
                                q.back,
                                (q.back - p).abs(),
                                q.allowed
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} fail:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

// ---------------------------------------------------------------------------
// Closed forms and behaviour
// ---------------------------------------------------------------------------

#[test]
fn gaussian_two_arm_results_match_closed_forms() {
    // P(X > Y) = Φ((m_x − m_y)/s); E[max(X − Y, 0)] = d Φ(d/s) + s φ(d/s), s² = v_x + v_y.
    let x = MeanPosterior::from_sums(400, 400.0 * 10.3, 399.0 * 16.0 + 400.0 * 10.3 * 10.3);
    let y = MeanPosterior::from_sums(900, 900.0 * 10.0, 899.0 * 25.0 + 900.0 * 100.0);
    let (vx, vy) = (16.0 / 400.0, 25.0 / 900.0);
    assert!((x.variance_of_mean() - vx).abs() < 1e-12 && (y.variance_of_mean() - vy).abs() < 1e-12);
    let d = 0.3;
    let s = (vx + vy).sqrt();
    let p = gaussian::prob_best(&[x, y]);
    assert!((p[0] - norm_cdf(d / s)).abs() < 1e-12, "{p:?}");
    let loss = gaussian::expected_loss(&[x, y]);
    let want_y = d * norm_cdf(d / s) + s * norm_pdf(d / s);
    let want_x = -d * norm_cdf(-d / s) + s * norm_pdf(d / s);
    assert!(
        (loss[1] - want_y).abs() < 1e-10 && (loss[0] - want_x).abs() < 1e-10,
        "{loss:?}"
    );
    // delta-method lift (GrowthBook): Var = σ_C² μ_T²/(μ_C⁴ n_C) + σ_T²/(μ_C² n_T)
    let lift = gaussian::lift(&x, &y, 0.95).unwrap();
    let var = 25.0 * 10.3f64.powi(2) / (10.0f64.powi(4) * 900.0) + 16.0 / (100.0 * 400.0);
    assert!((lift.mean - 0.03).abs() < 1e-12);
    assert!((lift.high - lift.mean - 1.959_963_984_540_054 * var.sqrt()).abs() < 1e-12);
    assert!((gaussian::chance_to_beat(&x, &y) - norm_cdf(0.03 / var.sqrt())).abs() < 1e-12);
}

#[test]
fn gaussian_degenerate_cases_are_documented_values() {
    let empty = MeanPosterior::from_sums(0, 0.0, 0.0);
    let one = MeanPosterior::from_sums(1, 5.0, 25.0);
    let normal = MeanPosterior::from_sums(100, 100.0, 300.0);
    assert_eq!(gaussian::prob_best(&[empty, normal]), vec![0.5, 0.5]);
    assert_eq!(
        gaussian::prob_best(&[one, normal, normal]),
        vec![1.0 / 3.0; 3]
    );
    assert!(
        gaussian::expected_loss(&[one, normal])
            .iter()
            .all(|l| l.is_infinite())
    );
    assert_eq!(gaussian::chance_to_beat(&one, &normal), 0.5);
    assert!(gaussian::lift(&normal, &empty, 0.95).is_none());
    assert_eq!(
        thompson::allocation_gaussian(&[empty, normal, one], 0.05),
        vec![0.5, 0.0, 0.5]
    );
    // zero variance (all users spent the same): point masses, ties split
    let zeros = MeanPosterior::from_sums(50, 0.0, 0.0);
    let twos = MeanPosterior::from_sums(50, 100.0, 200.0);
    assert_eq!(gaussian::prob_best(&[zeros, zeros]), vec![0.5, 0.5]);
    assert_eq!(gaussian::prob_best(&[zeros, twos]), vec![0.0, 1.0]);
    let loss = gaussian::expected_loss(&[zeros, twos]);
    assert!(
        (loss[0] - 2.0).abs() < 1e-12 && loss[1].abs() < 1e-12,
        "{loss:?}"
    );
    // point mass at 2 against N(1, 1): P(point best) = Φ(1)
    let unit = MeanPosterior::from_sums(100, 100.0, 99.0 * 100.0 + 100.0); // mean 1, s² = 100 → var of mean 1
    assert!((unit.variance_of_mean() - 1.0).abs() < 1e-12);
    let p = gaussian::prob_best(&[twos, unit]);
    assert!((p[0] - norm_cdf(1.0)).abs() < 1e-12, "{p:?}");
    assert_eq!(gaussian::chance_to_beat(&twos, &zeros), 1.0);
}

#[test]
fn period_weighting_undoes_simpsons_paradox() {
    // Period 1: base rate 10%, 900 users on A, 100 on B. Period 2: base rate 2%, 100 on A,
    // 900 on B. B is better by one point in each period, but pooled A looks better.
    let periods = vec![vec![(900, 90), (100, 11)], vec![(100, 2), (900, 27)]];
    let pooled_a = 92.0 / 1000.0;
    let pooled_b = 38.0 / 1000.0;
    assert!(pooled_a > pooled_b);
    let rates = beta::period_weighted_rates(2, &periods);
    // each period holds half of all users: A = (0.10 + 0.02)/2, B = (0.11 + 0.03)/2
    assert!((rates[0].unwrap() - 0.06).abs() < 1e-15);
    assert!((rates[1].unwrap() - 0.07).abs() < 1e-15);
    // an arm absent from a period is averaged over the periods where it had users
    let rates = beta::period_weighted_rates(
        2,
        &[
            vec![(100, 10), (0, 0)],
            vec![(300, 30), (100, 20)],
            vec![(0, 0)],
        ],
    );
    assert!((rates[0].unwrap() - 0.1).abs() < 1e-15);
    assert!((rates[1].unwrap() - 0.2).abs() < 1e-15);
    assert_eq!(
        beta::period_weighted_rates(2, &[vec![(10, 1), (0, 0)]])[1],
        None
    );
    // no data yet (a bandit just created): one `None` per arm, not an empty list
    assert_eq!(beta::period_weighted_rates(3, &[]), vec![None, None, None]);
}

#[test]
fn bandit_expected_counts_sum_periods() {
    let expected =
        srm::bandit_expected_counts(&[(1000.0, vec![0.5, 0.5]), (2000.0, vec![0.8, 0.2])]);
    assert_eq!(expected, vec![500.0 + 1600.0, 500.0 + 400.0]);
    let observed = [2100.0, 900.0];
    assert!(srm::chi_square_p_value(&observed, &expected) > 0.99);
}

/// Empirical pick frequencies of a sampler against its exact allocation (5 s.e.).
fn assert_frequencies(freq: &[u64], draws: u64, alloc: &[f64]) {
    for (i, (&f, &p)) in freq.iter().zip(alloc).enumerate() {
        let observed = f as f64 / draws as f64;
        let se = (p * (1.0 - p) / draws as f64).sqrt().max(1e-9);
        assert!(
            (observed - p).abs() < 5.0 * se,
            "arm {i}: observed {observed} exact {p}"
        );
    }
}

#[test]
fn thompson_beta_picks_arms_with_the_exact_allocation() {
    let arms = [
        BetaPosterior::new(12.0, 90.0),
        BetaPosterior::new(15.0, 88.0),
        BetaPosterior::new(3.0, 20.0),
    ];
    let floor = 0.05;
    let alloc = thompson::allocation(&arms, floor);
    assert!((alloc.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(alloc.iter().all(|&a| a >= floor));
    let mut rng = SmallRng::seed_from_u64(11);
    let draws = 200_000u64;
    let mut freq = vec![0u64; arms.len()];
    for _ in 0..draws {
        freq[thompson::sample_arm_beta(&arms, floor, &mut rng)] += 1;
    }
    assert_frequencies(&freq, draws, &alloc);
}

#[test]
fn thompson_beta_sampler_has_the_beta_distribution() {
    // Kolmogorov–Smirnov distance of 100k draws of Beta(2.5, 7) and Beta(300, 2000) from the
    // exact CDF: the 0.1% critical value is 1.95/√n.
    let mut rng = SmallRng::seed_from_u64(5);
    for (a, b) in [(2.5, 7.0), (300.0, 2000.0), (1.0, 1.0)] {
        let n = 100_000;
        let mut draws: Vec<f64> = (0..n)
            .map(|_| thompson::sample_beta(a, b, &mut rng))
            .collect();
        draws.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let mut d: f64 = 0.0;
        for (i, &x) in draws.iter().enumerate() {
            let f = special::beta_reg(a, b, x);
            d = d
                .max((f - i as f64 / n as f64).abs())
                .max(((i + 1) as f64 / n as f64 - f).abs());
        }
        assert!(
            d < 1.95 / (n as f64).sqrt(),
            "Beta({a}, {b}): KS distance {d}"
        );
    }
}

#[test]
fn thompson_gaussian_picks_arms_with_the_exact_allocation() {
    let arms = [
        MeanPosterior::from_sums(50, 50.0 * 1.0, 49.0 * 4.0 + 50.0),
        MeanPosterior::from_sums(80, 80.0 * 1.2, 79.0 * 9.0 + 80.0 * 1.44),
    ];
    let alloc = thompson::allocation_gaussian(&arms, 0.02);
    let mut rng = SmallRng::seed_from_u64(3);
    let draws = 200_000u64;
    let mut freq = vec![0u64; arms.len()];
    for _ in 0..draws {
        freq[thompson::sample_arm_gaussian(&arms, 0.02, &mut rng)] += 1;
    }
    assert_frequencies(&freq, draws, &alloc);
}

#[test]
fn floor_is_clamped_and_plain_thompson_is_floor_zero() {
    assert_eq!(thompson::effective_floor(0.9, 4), 0.25);
    assert_eq!(thompson::effective_floor(f64::NAN, 4), 0.0);
    let arms = [
        BetaPosterior::from_counts(100, 10),
        BetaPosterior::from_counts(100, 20),
    ];
    let uniform = thompson::allocation(&arms, 1.0);
    assert!((uniform[0] - 0.5).abs() < 1e-15 && (uniform[1] - 0.5).abs() < 1e-15);
    let plain = thompson::allocation(&arms, 0.0);
    assert!((plain[1] - beta::prob_greater(&arms[1], &arms[0])).abs() < 1e-15);
}
