//! Invariants (proptest) and the documented degenerate values of the metric statistics:
//! relative effects, ratio metrics, good directions, chance of harm, adjusted p-values.

use posterior::stats::INTERVAL_LEVEL;
use posterior::stats::beta::BetaPosterior;
use posterior::stats::direction;
use posterior::stats::effect::{ArmMoments, RelativeEffect};
use posterior::stats::gaussian::{self, MeanPosterior};
use posterior::stats::multiple;
use posterior::stats::ratio::{self, RatioStats};
use posterior::stats::special;
use proptest::prelude::*;

use super::support::{config, counts};

/// Per-user (X, Y) pairs of a ratio metric: orders 0..5, a value per order.
fn users(max: usize) -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec((0u32..5, 0.0f64..200.0), 0..max).prop_map(|v| {
        v.into_iter()
            .map(|(orders, value)| (orders as f64 * value, orders as f64))
            .collect()
    })
}

fn ratio_stats(users: &[(f64, f64)]) -> RatioStats {
    let mut stats = RatioStats::default();
    for &(x, y) in users {
        stats.update(x, y);
    }
    stats
}

/// Any effect, point masses and unbounded ones included.
fn effects() -> impl Strategy<Value = RelativeEffect> {
    (
        -3.0f64..3.0,
        prop_oneof![Just(0.0), Just(f64::INFINITY), 1e-6f64..2.0],
        prop_oneof![Just(f64::INFINITY), 1.0f64..1e9],
    )
        .prop_map(|(mean, sd, df)| RelativeEffect { mean, sd, df })
}

fn p_values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..1.0, 1e-12f64..1e-3],
        0..70,
    )
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn adjusted_p_values_are_bounded_monotone_and_bh_below_holm(p in p_values()) {
        let bh = multiple::benjamini_hochberg(&p);
        let holm = multiple::holm(&p);
        prop_assert_eq!(bh.len(), p.len());
        prop_assert_eq!(holm.len(), p.len());
        for i in 0..p.len() {
            prop_assert!(bh[i] >= p[i] && bh[i] <= 1.0, "BH {} of {}", bh[i], p[i]);
            prop_assert!(holm[i] >= p[i] && holm[i] <= 1.0, "Holm {} of {}", holm[i], p[i]);
            prop_assert!(bh[i] <= holm[i], "BH {} above Holm {}", bh[i], holm[i]);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    prop_assert!(bh[i] <= bh[j] && holm[i] <= holm[j]);
                }
            }
        }
    }

    #[test]
    fn relative_effect_probabilities_are_complementary(effect in effects(), x in -4.0f64..4.0, threshold in 0.0f64..0.5) {
        let (above, below) = (effect.prob_above(x), effect.prob_below(x));
        prop_assert!((0.0..=1.0).contains(&above) && (0.0..=1.0).contains(&below));
        prop_assert!((above + below - 1.0).abs() <= 2.0 * f64::EPSILON, "{:?} at {}: {} + {}", effect, x, above, below);
        for decrease_is_good in [false, true] {
            let beat = effect.chance_to_beat(decrease_is_good);
            let harm = effect.chance_of_harm(threshold, decrease_is_good);
            prop_assert!((0.0..=1.0).contains(&beat) && (0.0..=1.0).contains(&harm));
            // harm beyond a threshold is no likelier than not beating control at all
            prop_assert!(harm <= 1.0 - beat + 2.0 * f64::EPSILON, "{:?}: harm {} beat {}", effect, harm, beat);
        }
        let p = effect.p_value();
        prop_assert!((0.0..=1.0).contains(&p));
        for interval in [effect.interval(INTERVAL_LEVEL), effect.confidence_interval(INTERVAL_LEVEL)] {
            prop_assert!(interval.low <= effect.mean && effect.mean <= interval.high, "{:?}", interval);
        }
        // the t interval is never narrower than the normal one
        prop_assert!(effect.confidence_interval(INTERVAL_LEVEL).high >= effect.interval(INTERVAL_LEVEL).high - 1e-12);
    }

    #[test]
    fn ratio_lift_of_identical_arms_is_zero(users in users(300)) {
        let arm = ratio_stats(&users);
        match ratio::lift(&arm, &arm) {
            Some(effect) => {
                prop_assert_eq!(effect.mean, 0.0);
                prop_assert_eq!(effect.prob_above(0.0), 0.5);
                prop_assert_eq!(effect.p_value(), 1.0);
            }
            None => prop_assert!(!arm.is_informative() || arm.ratio() <= 0.0),
        }
        prop_assert_eq!(ratio::chance_to_beat(&arm, &arm), 0.5);
        prop_assert_eq!(ratio::p_value(&arm, &arm), 1.0);
    }

    #[test]
    fn ratio_summaries_are_never_nan(a in users(200), b in users(200), threshold in 0.0f64..0.3) {
        let (variant, control) = (ratio_stats(&a), ratio_stats(&b));
        prop_assert!(!variant.ratio().is_nan() && !variant.variance().is_nan());
        let interval = variant.interval(INTERVAL_LEVEL);
        prop_assert!(interval.low <= interval.mean && interval.mean <= interval.high);
        for decrease_is_good in [false, true] {
            let beat = direction::chance_to_beat_ratio(&variant, &control, decrease_is_good);
            let harm = direction::chance_of_harm_ratio(&variant, &control, threshold, decrease_is_good);
            prop_assert!((0.0..=1.0).contains(&beat) && (0.0..=1.0).contains(&harm));
        }
        let p = ratio::p_value(&variant, &control);
        prop_assert!((0.0..=1.0).contains(&p));
    }

    #[test]
    fn a_ratio_over_one_per_user_is_the_mean(a in prop::collection::vec(0.0f64..100.0, 2..200), b in prop::collection::vec(0.0f64..100.0, 2..200)) {
        // Y = 1 for every user: R = X̄, v = s²_X, so the ratio path is the mean path
        let as_ratio = |xs: &[f64]| ratio_stats(&xs.iter().map(|&x| (x, 1.0)).collect::<Vec<_>>());
        let as_mean = |xs: &[f64]| {
            let mut m = MeanPosterior::from_sums(0, 0.0, 0.0);
            xs.iter().for_each(|&x| m.update(x));
            m
        };
        let via_ratio = ratio::lift(&as_ratio(&a), &as_ratio(&b));
        let via_mean = gaussian::effect(&as_mean(&a), &as_mean(&b));
        prop_assert_eq!(via_ratio.is_some(), via_mean.is_some());
        if let (Some(r), Some(m)) = (via_ratio, via_mean) {
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1e-6);
            prop_assert!(close(r.mean, m.mean) && close(r.sd, m.sd) && close(r.df, m.df), "{:?} {:?}", r, m);
        }
    }

    #[test]
    fn chance_of_harm_beta_at_zero_threshold_is_not_beating(v in counts(3000), c in counts(3000), threshold in 0.0f64..0.2) {
        let (variant, control) = (BetaPosterior::from_counts(v.0, v.1), BetaPosterior::from_counts(c.0, c.1));
        for decrease_is_good in [false, true] {
            let beat = direction::chance_to_beat_beta(&variant, &control, decrease_is_good);
            let harm_zero = direction::chance_of_harm_beta(&variant, &control, 0.0, decrease_is_good);
            prop_assert!((harm_zero + beat - 1.0).abs() < 1e-12, "harm {} beat {}", harm_zero, beat);
            let harm = direction::chance_of_harm_beta(&variant, &control, threshold, decrease_is_good);
            prop_assert!((0.0..=1.0).contains(&harm) && harm <= harm_zero + 1e-13);
        }
    }

    #[test]
    fn good_directions_mirror_each_other(n in 0u64..500, m in 0u64..500, mean_v in 0.0f64..20.0, mean_c in 0.0f64..20.0, sd in prop_oneof![Just(0.0), 0.1f64..10.0]) {
        let arm = |n: u64, mean: f64| {
            let nf = n as f64;
            MeanPosterior::from_sums(n, nf * mean, sd * sd * (nf - 1.0).max(0.0) + nf * mean * mean)
        };
        let (variant, control) = (arm(n, mean_v), arm(m, mean_c));
        let up = direction::chance_to_beat_mean(&variant, &control, false);
        let down = direction::chance_to_beat_mean(&variant, &control, true);
        prop_assert_eq!(up, gaussian::chance_to_beat(&variant, &control));
        prop_assert!((up + down - 1.0).abs() <= 2.0 * f64::EPSILON, "{} + {}", up, down);
    }

    #[test]
    fn student_t_quantile_inverts_the_tail(
        (df, log_q) in prop_oneof![(1.0f64..30.0, -12.0f64..-0.31), (30.0f64..1e12, -300.0f64..-0.31)],
    ) {
        // (far tails of a few degrees of freedom put t beyond the doubles: 1e-164 at df = 1)
        let q = 10f64.powf(log_q);
        let lower = special::student_t_quantile(q, df);
        let back = special::student_t_sf(-lower, df);
        // one ulp of t moves a far tail by up to t²·ε relative
        let slack = 1e-12 + 16.0 * lower * lower * f64::EPSILON;
        prop_assert!((back - q).abs() <= slack * q, "df={} q={} t={} back={}", df, q, lower, back);
        if q > 1e-12 {
            // the upper quantile of p = 1 − q as a double (1 − p is exact for p ≥ ½) mirrors
            // the lower one of that tail
            let p = 1.0 - q;
            let tail = 1.0 - p;
            let upper = special::student_t_quantile(p, df);
            let back = special::student_t_sf(upper, df);
            prop_assert!((back - tail).abs() <= 1e-12 * tail, "df={} p={} t={} back={}", df, p, upper, back);
            let mirror = special::student_t_quantile(tail, df);
            prop_assert!((mirror + upper).abs() <= 1e-12 * upper.abs() + 1e-15, "{} against {}", mirror, -upper);
        }
    }
}

#[test]
fn relative_effect_point_masses_and_unbounded_ones() {
    let up = RelativeEffect::normal(0.05, 0.0);
    assert_eq!((up.prob_above(0.0), up.prob_below(0.0)), (1.0, 0.0));
    assert_eq!((up.prob_above(0.05), up.prob_below(0.05)), (0.5, 0.5));
    assert_eq!(
        (up.chance_to_beat(false), up.chance_to_beat(true)),
        (1.0, 0.0)
    );
    assert_eq!(up.p_value(), 0.0);
    let flat = RelativeEffect::normal(0.0, 0.0);
    assert_eq!((flat.p_value(), flat.chance_to_beat(false)), (1.0, 0.5));
    for interval in [up.interval(0.95), up.confidence_interval(0.95)] {
        assert_eq!(
            (interval.low, interval.mean, interval.high),
            (0.05, 0.05, 0.05)
        );
    }
    let unbounded = RelativeEffect::normal(0.3, f64::INFINITY);
    assert_eq!((unbounded.prob_above(0.0), unbounded.p_value()), (0.5, 1.0));
    let interval = unbounded.interval(0.95);
    assert!(interval.low == f64::NEG_INFINITY && interval.high == f64::INFINITY);
    let nan = RelativeEffect::normal(f64::NAN, f64::NAN);
    assert_eq!(
        (nan.prob_above(0.0), nan.prob_below(0.0), nan.p_value()),
        (0.5, 0.5, 1.0)
    );
    // a negative or NaN threshold is 0
    let e = RelativeEffect::normal(-0.01, 0.02);
    assert_eq!(e.chance_of_harm(-0.5, false), e.prob_below(0.0));
    assert_eq!(e.chance_of_harm(f64::NAN, true), e.prob_above(0.0));
}

#[test]
fn relative_effect_needs_two_units_and_a_positive_control() {
    let arm = |n, mean, variance| ArmMoments { n, mean, variance };
    let good = arm(100, 2.0, 1.0);
    assert!(RelativeEffect::between(&good, &good).is_some());
    assert!(RelativeEffect::between(&arm(1, 2.0, 1.0), &good).is_none());
    assert!(RelativeEffect::between(&good, &arm(1, 2.0, 1.0)).is_none());
    assert!(RelativeEffect::between(&good, &arm(100, 0.0, 1.0)).is_none());
    assert!(RelativeEffect::between(&good, &arm(100, -1.0, 1.0)).is_none());
    assert!(RelativeEffect::between(&arm(100, f64::NAN, 1.0), &good).is_none());
    assert!(RelativeEffect::between(&arm(100, 2.0, f64::INFINITY), &good).is_none());
    // both variances 0: a point mass, whose df needs no t
    let still = RelativeEffect::between(&arm(50, 3.0, 0.0), &arm(50, 2.0, 0.0)).unwrap();
    assert_eq!(
        (still.mean, still.sd, still.df, still.p_value()),
        (0.5, 0.0, f64::INFINITY, 0.0)
    );
    // proportions as gbstats: variance p(1 − p) on n; conversions above users count as users
    assert_eq!(ArmMoments::proportion(10, 20), arm(10, 1.0, 0.0));
    assert_eq!(ArmMoments::proportion(0, 0), arm(0, 0.0, 0.0));
    assert_eq!(ArmMoments::proportion(4, 1), arm(4, 0.25, 0.1875));
}

#[test]
fn ratio_degenerate_arms_are_documented_values() {
    let mut no_orders = RatioStats::default();
    (0..10).for_each(|_| no_orders.update(0.0, 0.0));
    assert_eq!(no_orders.ratio(), 0.0);
    assert_eq!(no_orders.variance(), f64::INFINITY);
    assert_eq!(no_orders.per_user_variance(), None);
    let interval = no_orders.interval(0.95);
    assert!(interval.low == f64::NEG_INFINITY && interval.high == f64::INFINITY);
    let mut one = RatioStats::default();
    one.update(50.0, 1.0);
    assert_eq!(one.ratio(), 50.0);
    assert_eq!(one.variance(), f64::INFINITY);
    let mut normal = RatioStats::default();
    for (x, y) in [(40.0, 1.0), (90.0, 2.0), (0.0, 0.0), (35.0, 1.0)] {
        normal.update(x, y);
    }
    for (variant, control) in [
        (&normal, &no_orders),
        (&no_orders, &normal),
        (&one, &normal),
        (&normal, &one),
    ] {
        assert!(ratio::lift(variant, control).is_none());
        assert_eq!(ratio::chance_to_beat(variant, control), 0.5);
        assert_eq!(ratio::p_value(variant, control), 1.0);
        assert_eq!(
            direction::chance_of_harm_ratio(variant, control, 0.02, false),
            0.5
        );
        assert_eq!(direction::chance_to_beat_ratio(variant, control, true), 0.5);
    }
    // every user spends exactly 25 per order: a point mass at 25
    let mut fixed_price = RatioStats::default();
    for orders in [1.0, 2.0, 0.0, 3.0, 1.0] {
        fixed_price.update(25.0 * orders, orders);
    }
    assert_eq!(fixed_price.ratio(), 25.0);
    assert_eq!(fixed_price.variance(), 0.0);
    assert_eq!(fixed_price.interval(0.95).low, 25.0);
    // a negative control ratio (refunds exceed sales) has no relative lift
    let mut refunds = RatioStats::default();
    for (x, y) in [(-40.0, 1.0), (-10.0, 1.0), (5.0, 1.0)] {
        refunds.update(x, y);
    }
    assert!(ratio::lift(&normal, &refunds).is_none());
    assert!(ratio::lift(&refunds, &normal).is_some());
}

#[test]
fn chance_of_harm_beta_edges() {
    let (variant, control) = (
        BetaPosterior::from_counts(1000, 90),
        BetaPosterior::from_counts(1000, 100),
    );
    // no rate falls 100% or more below another
    assert_eq!(
        direction::chance_of_harm_beta(&variant, &control, 1.0, false),
        0.0
    );
    assert_eq!(
        direction::chance_of_harm_beta(&variant, &control, 3.0, false),
        0.0
    );
    assert_eq!(
        direction::chance_of_harm_beta(&variant, &control, f64::INFINITY, true),
        0.0
    );
    assert_eq!(
        direction::chance_of_harm_beta(&variant, &control, f64::NAN, false),
        direction::chance_of_harm_beta(&variant, &control, 0.0, false)
    );
}

#[test]
fn gaussian_effect_follows_lift_and_known_variances_are_normal() {
    let x = MeanPosterior::from_sums(400, 400.0 * 10.3, 399.0 * 16.0 + 400.0 * 10.3 * 10.3);
    let y = MeanPosterior::from_sums(900, 900.0 * 10.0, 899.0 * 25.0 + 900.0 * 100.0);
    let effect = gaussian::effect(&x, &y).unwrap();
    let lift = gaussian::lift(&x, &y, 0.95).unwrap();
    let interval = effect.interval(0.95);
    for (a, b) in [
        (effect.mean, lift.mean),
        (interval.low, lift.low),
        (interval.high, lift.high),
    ] {
        assert!((a - b).abs() < 1e-15, "{effect:?} {lift:?}");
    }
    assert!(effect.df.is_finite());
    let known = gaussian::effect(
        &MeanPosterior::with_known_variance(100, 110.0, 1.0),
        &MeanPosterior::with_known_variance(100, 100.0, 1.0),
    )
    .unwrap();
    assert_eq!(known.df, f64::INFINITY);
    assert!(gaussian::effect(&x, &MeanPosterior::from_sums(1, 5.0, 25.0)).is_none());
    assert!(gaussian::effect(&x, &MeanPosterior::from_sums(50, 0.0, 0.0)).is_none());
    assert_eq!(
        direction::chance_of_harm_mean(&x, &MeanPosterior::from_sums(0, 0.0, 0.0), 0.02, false),
        0.5
    );
}

#[test]
fn adjusted_p_values_edges() {
    assert!(multiple::benjamini_hochberg(&[]).is_empty() && multiple::holm(&[]).is_empty());
    assert_eq!(multiple::benjamini_hochberg(&[0.03]), vec![0.03]);
    assert_eq!(multiple::holm(&[0.03]), vec![0.03]);
    // NaN counts as 1; out-of-range values are clamped
    assert_eq!(multiple::holm(&[f64::NAN, 0.01]), vec![1.0, 0.02]);
    assert_eq!(
        multiple::benjamini_hochberg(&[f64::NAN, 0.01]),
        vec![1.0, 0.02]
    );
    assert_eq!(multiple::benjamini_hochberg(&[-0.5, 1.5]), vec![0.0, 1.0]);
}

#[test]
fn cases_proptest_once_found() {
    // m/j = m − j + 1 at j = 1: BH and Holm must give the very same double
    let p = [1.0, 0.000302980730856739, 1.0];
    assert_eq!(multiple::benjamini_hochberg(&p)[1], multiple::holm(&p)[1]);
    // far tails at large df, where the incomplete-beta inversion was off by orders of
    // magnitude
    for (df, q) in [
        (399180136681.77924, 6.213765058049603e-10),
        (84892775.63659485, 3.828172785280424e-291),
    ] {
        let t = special::student_t_quantile(q, df);
        let back = special::student_t_sf(-t, df);
        assert!(
            (back - q).abs() <= (1e-12 + 16.0 * t * t * f64::EPSILON) * q,
            "df={df} q={q}: {back}"
        );
    }
}
