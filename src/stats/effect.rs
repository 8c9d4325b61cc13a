//! Relative effect of a variant over the control, Δ = μ_T/μ_C − 1, in the normal
//! approximation of the delta method: the one path that mean, ratio and (for the
//! frequentist test) proportion metrics share.
//!
//! Model (gbstats 0.8, GrowthBook's engine: `frequentist_diff` and `frequentist_variance`
//! with the "relative" difference type, used alike by its `EffectBayesianABTest` and its
//! `TwoSidedTTest`): for arms of n units with mean m and per-unit variance v,
//!
//!   Δ̂ = (m_T − m_C)/m_C,   Var Δ̂ = v_T/(m_C² n_T) + v_C m_T²/(m_C⁴ n_C).
//!
//! - Bayesian, improper flat prior (`EffectBayesianABTest`): Δ ~ N(Δ̂, Var Δ̂).
//!   [`RelativeEffect::interval`], [`RelativeEffect::prob_above`], `prob_below`, the chance
//!   to beat control and the chance of harm come from this normal.
//! - Frequentist (`TwoSidedTTest`): t = Δ̂/sd(Δ̂) against a Student t whose degrees of
//!   freedom are Welch–Satterthwaite's on the per-unit variances (not on the relative ones,
//!   exactly as gbstats does): ν = (v_T/n_T + v_C/n_C)² / (v_T²/(n_T²(n_T−1)) +
//!   v_C²/(n_C²(n_C−1))); p = 2·P(T_ν > |t|) ([`RelativeEffect::p_value`]) and the
//!   confidence interval Δ̂ ± t_ν(1 − α/2)·sd ([`RelativeEffect::confidence_interval`]).
//!   A known variance (simulations) has ν = ∞: the normal.
//!
//! Degenerate cases (documented, never NaN):
//! - no effect (`None` from [`RelativeEffect::between`]) when an arm has fewer than 2 units,
//!   a variance is negative or not finite, or the control mean is not positive (a relative
//!   lift over 0 or over a negative base means nothing). gbstats returns its "default
//!   output" there (p = 1, chance 0.5); callers say "not enough data" instead.
//! - sd = 0 (both per-unit variances 0, e.g. every user spent the same): a point mass at Δ̂.
//!   Probabilities are 1, 0 or ½ (at the point itself), the p-value 0 (Δ̂ ≠ 0) or 1, the
//!   intervals collapse to the point. gbstats gives up on zero variance; a point mass is
//!   the limit of its answers as the variance goes to 0.
//! - an infinite sd (built by hand) gives ½ for every probability and an unbounded interval.

// `!(x > y)` is used on purpose: it also catches NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::Interval;
use super::special::{norm_cdf, norm_quantile, norm_sf, student_t_quantile, student_t_sf};

/// Beyond this many degrees of freedom the Student t is the normal to better than 1e-12
/// relative in every tail a p-value can reach, and the incomplete beta behind the t has
/// parameters it does not need.
const DF_AS_NORMAL: f64 = 1e15;

/// One arm as the delta method sees it: its units, their mean and their per-unit variance
/// (the sample variance, not the variance of the mean).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArmMoments {
    pub n: u64,
    pub mean: f64,
    pub variance: f64,
}

impl ArmMoments {
    /// A conversion rate as gbstats' `ProportionStatistic`: mean p̂ = c/n, per-unit variance
    /// p̂(1 − p̂) (on n, not n − 1). Conversions above users count as users.
    pub fn proportion(users: u64, conversions: u64) -> Self {
        let rate = if users == 0 {
            0.0
        } else {
            conversions.min(users) as f64 / users as f64
        };
        ArmMoments {
            n: users,
            mean: rate,
            variance: rate * (1.0 - rate),
        }
    }
}

/// Normal approximation of a relative lift Δ = μ_T/μ_C − 1: mean, standard deviation and
/// the degrees of freedom of the frequentist t-test (∞ for a normal test).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RelativeEffect {
    pub mean: f64,
    pub sd: f64,
    /// Welch–Satterthwaite degrees of freedom; `f64::INFINITY` = normal.
    pub df: f64,
}

impl RelativeEffect {
    /// N(mean, sd²), tested with the normal (infinite degrees of freedom).
    pub fn normal(mean: f64, sd: f64) -> Self {
        RelativeEffect {
            mean,
            sd,
            df: f64::INFINITY,
        }
    }

    /// The delta-method relative effect of `variant` over `control` (module header);
    /// `None` in the degenerate cases listed there.
    pub fn between(variant: &ArmMoments, control: &ArmMoments) -> Option<Self> {
        let usable = |a: &ArmMoments| {
            a.n >= 2 && a.mean.is_finite() && a.variance >= 0.0 && a.variance.is_finite()
        };
        if !usable(variant) || !usable(control) || !(control.mean > 0.0) {
            return None;
        }
        let (n_t, n_c) = (variant.n as f64, control.n as f64);
        let (m_t, m_c) = (variant.mean, control.mean);
        let (v_t, v_c) = (variant.variance, control.variance);
        // gbstats' frequentist_diff and frequentist_variance, term for term
        let mean = (m_t - m_c) / m_c;
        let variance = v_t / (m_c.powi(2) * n_t) + v_c * m_t.powi(2) / (m_c.powi(4) * n_c);
        let (se_t, se_c) = (v_t / n_t, v_c / n_c);
        let df = (se_t + se_c).powi(2)
            / (v_t.powi(2) / (n_t.powi(2) * (n_t - 1.0))
                + v_c.powi(2) / (n_c.powi(2) * (n_c - 1.0)));
        Some(RelativeEffect {
            mean,
            sd: variance.sqrt(),
            // 0/0 when both variances are 0: a point mass, which needs no t
            df: if df > 0.0 { df } else { f64::INFINITY },
        })
    }

    /// Whether the effect is a usable normal (finite positive sd and finite mean).
    fn is_spread(&self) -> bool {
        self.sd > 0.0 && self.sd.is_finite() && self.mean.is_finite()
    }

    /// Equal-tailed credible interval with probability `level` of N(mean, sd²) (gbstats'
    /// Bayesian `ci`); the point itself for a point mass, unbounded for an infinite sd.
    pub fn interval(&self, level: f64) -> Interval {
        let z = norm_quantile(0.5 + 0.5 * level.clamp(0.0, 1.0));
        self.symmetric(z)
    }

    /// Two-sided confidence interval Δ̂ ± t_ν(½ + level/2)·sd of the Welch t-test (gbstats'
    /// `TwoSidedTTest.confidence_interval`); the normal quantile when ν = ∞.
    pub fn confidence_interval(&self, level: f64) -> Interval {
        let p = 0.5 + 0.5 * level.clamp(0.0, 1.0);
        let q = if self.df < DF_AS_NORMAL {
            student_t_quantile(p, self.df)
        } else {
            norm_quantile(p)
        };
        self.symmetric(q)
    }

    fn symmetric(&self, quantile: f64) -> Interval {
        if !(self.sd > 0.0) {
            return Interval {
                mean: self.mean,
                low: self.mean,
                high: self.mean,
            };
        }
        if self.sd.is_infinite() {
            return Interval {
                mean: self.mean,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        let half = quantile * self.sd;
        Interval {
            mean: self.mean,
            low: self.mean - half,
            high: self.mean + half,
        }
    }

    /// P(Δ > x) under N(mean, sd²); for a point mass 1, 0, or ½ at the point itself.
    pub fn prob_above(&self, x: f64) -> f64 {
        if self.is_spread() {
            norm_sf((x - self.mean) / self.sd)
        } else if self.sd == 0.0 && self.mean > x {
            1.0
        } else if self.sd == 0.0 && self.mean < x {
            0.0
        } else {
            0.5
        }
    }

    /// P(Δ < x) under N(mean, sd²); for a point mass 1, 0, or ½ at the point itself.
    pub fn prob_below(&self, x: f64) -> f64 {
        if self.is_spread() {
            norm_cdf((x - self.mean) / self.sd)
        } else if self.sd == 0.0 && self.mean < x {
            1.0
        } else if self.sd == 0.0 && self.mean > x {
            0.0
        } else {
            0.5
        }
    }

    /// Chance that the variant beats the control in the metric's good direction: P(Δ > 0),
    /// or P(Δ < 0) when a decrease is good (gbstats' `chance_to_win`, with `inverse`).
    pub fn chance_to_beat(&self, decrease_is_good: bool) -> f64 {
        if decrease_is_good {
            self.prob_below(0.0)
        } else {
            self.prob_above(0.0)
        }
    }

    /// Chance that the variant is worse than the control by more than `threshold` (relative,
    /// 0.02 = 2% worse): P(Δ < −threshold), or P(Δ > threshold) when a decrease is good. A
    /// negative or NaN threshold counts as 0.
    pub fn chance_of_harm(&self, threshold: f64, decrease_is_good: bool) -> f64 {
        let threshold = threshold.max(0.0);
        if decrease_is_good {
            self.prob_above(threshold)
        } else {
            self.prob_below(-threshold)
        }
    }

    /// Two-sided p-value of H0: Δ = 0, as gbstats' `TwoSidedTTest`: 2·P(T_ν > |Δ̂/sd|)
    /// (the normal when ν = ∞). A point mass gives 0 away from 0 and 1 at 0; an infinite sd 1.
    pub fn p_value(&self) -> f64 {
        if !self.is_spread() {
            return if self.sd == 0.0 && self.mean.is_finite() && self.mean != 0.0 {
                0.0
            } else {
                1.0
            };
        }
        let t = (self.mean / self.sd).abs();
        let tail = if self.df < DF_AS_NORMAL {
            student_t_sf(t, self.df)
        } else {
            norm_sf(t)
        };
        (2.0 * tail).min(1.0)
    }
}
