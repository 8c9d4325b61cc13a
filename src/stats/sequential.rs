//! Analysis valid at every look: the asymptotic confidence sequence of Waudby-Smith, Arbour,
//! Sinha, Kennedy and Ramdas (2023, "Time-uniform central limit theory and asymptotic
//! confidence sequences", eq. 9 with the ρ of eq. 161) around the relative lift, and its
//! always-valid p-value (eq. 155, the reciprocal of the e-value), as GrowthBook's engine
//! (gbstats `SequentialTwoSidedTTest`) and PostHog compute them.
//!
//! With N users in the two arms and the lift's estimate Δ of variance σ²/N,
//!
//!   half-width = σ · √( 2(Nρ² + 1) / (N²ρ²) · ln(√(Nρ² + 1) / α) ),
//!   ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*,
//!   p = min(1, √(Nρ² + 1) · exp(−ρ² N Δ² / σ² / (2(Nρ² + 1)))).
//!
//! N* (the tuning) is the sample size at which the sequence is tightest relative to a fixed
//! interval; GrowthBook's default, 5,000 users, suits experiments of thousands to a few
//! hundred thousand users: the sequence is about 1.55× the fixed 95% interval at N*, 1.8× at
//! 100 N* and 2× at N*/10. The sequence covers the lift at every N at once with probability 1 − α
//! (asymptotically), so a variant may be declared different whenever it excludes 0.

use super::Interval;
use super::effect::RelativeEffect;

/// GrowthBook's default tuning N*: the total users at which the sequence is tightest.
pub const TUNING: f64 = 5000.0;

/// The sequence is asymptotic: it leans on the central limit theorem, which a rate of 5 in
/// 100 does not meet. A decision waits until each arm has this many of the events that move
/// it (conversions and non-conversions for a rate, users for a mean or a ratio). In 2,000
/// simulated A/A tests looked at every 100 users per arm up to 20,000 (5% rate), the
/// sequence alone declared a difference in 6.7% of them, most in the first looks; with this
/// rule, 4.2% ± 0.4 (docs/simulation.md).
pub const MIN_EVENTS_PER_ARM: u64 = 30;

/// The sequential view of one comparison: the lift's confidence sequence and the
/// always-valid p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialEffect {
    pub lift: Interval,
    pub p_value: f64,
}

/// ρ² of eq. 161 for `alpha` and the tuning `n_star`.
fn rho_squared(alpha: f64, n_star: f64) -> f64 {
    let l = -2.0 * alpha.ln();
    (l + (l + 1.0).ln()) / n_star
}

/// The confidence sequence at level 1 − `alpha` and the always-valid p-value of `effect` (a
/// relative lift with its standard deviation) estimated from `users` users in the two arms.
/// `None` without users or spread.
pub fn analyse(
    effect: &RelativeEffect,
    users: u64,
    alpha: f64,
    n_star: f64,
) -> Option<SequentialEffect> {
    let n = users as f64;
    let variance = effect.sd * effect.sd;
    let spread = variance.is_finite() && variance > 0.0;
    if users == 0 || !spread || !effect.mean.is_finite() {
        return None;
    }
    let r2 = rho_squared(alpha, n_star);
    let s2 = variance * n;
    let grow = n * r2 + 1.0;
    let half = (s2 * (2.0 * grow) * (grow.sqrt() / alpha).ln() / (n * n * r2)).sqrt();
    let st2 = effect.mean * effect.mean * n / variance;
    let e_value = (r2 * st2 / (2.0 * grow)).exp() / grow.sqrt();
    Some(SequentialEffect {
        lift: Interval {
            mean: effect.mean,
            low: effect.mean - half,
            high: effect.mean + half,
        },
        p_value: (1.0 / e_value).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_wider_than_the_fixed_interval_and_shrinks_with_users() {
        // σ/√N fixed at 0.01: only the width's factor changes with N.
        let at = |n: u64| {
            let effect = RelativeEffect::normal(0.0, 0.01);
            let s = analyse(&effect, n, 0.05, TUNING).unwrap();
            (s.lift.high - s.lift.low) / 2.0 / (1.959_963_984_540_054 * 0.01)
        };
        assert!(at(5000) > 1.0 && at(5000) < 2.0, "{}", at(5000));
        assert!(at(500_000) > at(5000));
    }

    #[test]
    fn no_evidence_gives_a_p_value_of_one() {
        let effect = RelativeEffect::normal(0.0, 0.05);
        assert_eq!(analyse(&effect, 1000, 0.05, TUNING).unwrap().p_value, 1.0);
        assert!(analyse(&RelativeEffect::normal(0.1, 0.0), 1000, 0.05, TUNING).is_none());
    }
}
