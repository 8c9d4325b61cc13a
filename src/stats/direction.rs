//! A metric's good direction: the chance to beat control and the chance of harm of every
//! metric family, for an increase-is-good or a decrease-is-good metric, so that no caller
//! flips a probability by hand.
//!
//! - Chance to beat control, "in the metric's good direction": P(variant > control) when an
//!   increase is good, P(variant < control) when a decrease is good (uninstalls, latency).
//! - Chance of harm beyond a relative `threshold` t (a guardrail's: 0.02 = 2% worse):
//!   P(θ_T/θ_C < 1 − t) when an increase is good, P(θ_T/θ_C > 1 + t) when a decrease is
//!   good. A negative or NaN threshold counts as 0; with t ≥ 1 an increase-is-good metric
//!   cannot be harmed that much (0).
//!
//! Per family:
//! - conversion (Beta posteriors): exact. The chance to beat is `beta::prob_greater` one
//!   way or the other; the chance of harm is the CDF of the ratio of two Betas
//!   (`beta::ratio_cdf`, adaptive quadrature), the upper tail taken as the lower tail of the
//!   inverse ratio, P(p_T/p_C > r) = P(p_C/p_T < 1/r), so small values keep their digits.
//! - mean: the chance to beat is `gaussian::chance_to_beat`'s normal (its fallback to the
//!   absolute difference included) or its mirror; the chance of harm is that of
//!   [`gaussian::effect`].
//! - ratio: both from [`ratio::lift`].
//!
//! Where there is no relative effect (an arm with fewer than 2 users, a control at ≤ 0) the
//! chance to beat and the chance of harm are ½: "unknown", what an infinitely wide normal
//! gives, never a guardrail warning (> 0.8) nor a win.

use super::beta::{self, BetaPosterior};
use super::gaussian::{self, MeanPosterior};
use super::ratio::{self, RatioStats};

/// Chance that a conversion rate beats the control's in the good direction:
/// P(p_T > p_C), or P(p_T < p_C) when a decrease is good.
pub fn chance_to_beat_beta(
    variant: &BetaPosterior,
    control: &BetaPosterior,
    decrease_is_good: bool,
) -> f64 {
    if decrease_is_good {
        beta::prob_greater(control, variant)
    } else {
        beta::prob_greater(variant, control)
    }
}

/// Chance that a mean metric beats the control's in the good direction (as
/// [`gaussian::chance_to_beat`], mirrored when a decrease is good).
pub fn chance_to_beat_mean(
    variant: &MeanPosterior,
    control: &MeanPosterior,
    decrease_is_good: bool,
) -> f64 {
    gaussian::chance_beyond(variant, control, decrease_is_good)
}

/// Chance that a ratio metric beats the control's in the good direction; ½ without a lift.
pub fn chance_to_beat_ratio(
    variant: &RatioStats,
    control: &RatioStats,
    decrease_is_good: bool,
) -> f64 {
    ratio::lift(variant, control).map_or(0.5, |effect| effect.chance_to_beat(decrease_is_good))
}

/// Exact chance that a conversion rate is worse than the control's by more than the
/// relative `threshold`: P(p_T/p_C < 1 − t), or P(p_T/p_C > 1 + t) when a decrease is good.
pub fn chance_of_harm_beta(
    variant: &BetaPosterior,
    control: &BetaPosterior,
    threshold: f64,
    decrease_is_good: bool,
) -> f64 {
    let threshold = threshold.max(0.0);
    if decrease_is_good {
        beta::ratio_cdf(control, variant, 1.0 / (1.0 + threshold))
    } else {
        beta::ratio_cdf(variant, control, 1.0 - threshold)
    }
}

/// Chance that a mean metric is worse than the control's by more than the relative
/// `threshold` (normal of [`gaussian::effect`]); ½ without a relative effect.
pub fn chance_of_harm_mean(
    variant: &MeanPosterior,
    control: &MeanPosterior,
    threshold: f64,
    decrease_is_good: bool,
) -> f64 {
    gaussian::effect(variant, control).map_or(0.5, |effect| {
        effect.chance_of_harm(threshold, decrease_is_good)
    })
}

/// Chance that a ratio metric is worse than the control's by more than the relative
/// `threshold` (normal of [`ratio::lift`]); ½ without a lift.
pub fn chance_of_harm_ratio(
    variant: &RatioStats,
    control: &RatioStats,
    threshold: f64,
    decrease_is_good: bool,
) -> f64 {
    ratio::lift(variant, control).map_or(0.5, |effect| {
        effect.chance_of_harm(threshold, decrease_is_good)
    })
}
