//! Ratio metric (average order value, revenue per session): Σ over users of a numerator
//! metric's per-user totals X over that of a denominator metric's Y, by the delta method.
//!
//! Model (gbstats 0.8 `RatioStatistic` with `SampleMeanStatistic` parts): per arm, from the
//! sufficient statistics n, ΣX, ΣX², ΣY, ΣY², ΣXY, the ratio R = ΣX/ΣY = X̄/Ȳ and its
//! per-user delta-method variance
//!
//!   v = σ²_X/Ȳ² − 2·X̄·σ_XY/Ȳ³ + X̄²·σ²_Y/Ȳ⁴,
//!
//! with the sample variances and covariance on n − 1 (σ_XY = (ΣXY − ΣX·ΣY/n)/(n − 1)). The
//! variance of R itself is v/n ([`RatioStats::variance`]); v is gbstats'
//! `RatioStatistic.variance` ([`RatioStats::per_user_variance`]). A conversion metric as a
//! part is a 0/1 mean here (variance on n − 1, where gbstats' `ProportionStatistic` divides
//! by n).
//!
//! The relative lift of a variant over the control, R_T/R_C − 1, its interval, chance to
//! beat control and p-value are [`crate::stats::effect::RelativeEffect`]'s, fed with (n, R,
//! v) per arm: Var = v_T/(R_C² n_T) + v_C R_T²/(R_C⁴ n_C), Welch degrees of freedom on v.
//!
//! Degenerate cases (documented, never NaN):
//! - ΣY = 0: the ratio is 0 (as gbstats) and the arm is uninformative.
//! - fewer than 2 users, or ΣY = 0: [`RatioStats::variance`] is +∞, [`RatioStats::interval`]
//!   (−∞, +∞), [`lift`] `None`, [`chance_to_beat`] ½, [`p_value`] 1.
//! - a control ratio ≤ 0: [`lift`] `None` (a relative lift over 0 means nothing).
//! - per-user variance 0 (every user has X = R·Y exactly): a point mass at R; rounding that
//!   makes v slightly negative is clamped to 0.

// `!(x > y)` is used on purpose: it also catches NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::Interval;
use super::effect::{ArmMoments, RelativeEffect};
use super::special::norm_quantile;

/// Sufficient statistics of a ratio metric in one arm: n users with per-user numerator X
/// and denominator Y.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RatioStats {
    pub n: u64,
    pub sum_x: f64,
    pub sum_x_sq: f64,
    pub sum_y: f64,
    pub sum_y_sq: f64,
    pub sum_xy: f64,
}

impl RatioStats {
    /// Adds one user's numerator and denominator totals.
    #[inline]
    pub fn update(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.sum_x += x;
        self.sum_x_sq += x * x;
        self.sum_y += y;
        self.sum_y_sq += y * y;
        self.sum_xy += x * y;
    }

    /// ΣX/ΣY; 0 when ΣY = 0 (as gbstats' `RatioStatistic.mean`).
    pub fn ratio(&self) -> f64 {
        if self.sum_y == 0.0 {
            0.0
        } else {
            self.sum_x / self.sum_y
        }
    }

    /// Whether the delta method applies: at least 2 users and ΣY ≠ 0 (finite).
    pub fn is_informative(&self) -> bool {
        self.n >= 2 && self.sum_y != 0.0 && self.sum_y.is_finite() && self.sum_x.is_finite()
    }

    /// Per-user delta-method variance v = σ²_X/Ȳ² − 2X̄σ_XY/Ȳ³ + X̄²σ²_Y/Ȳ⁴ (gbstats'
    /// `RatioStatistic.variance`, term for term), clamped at 0; `None` when uninformative.
    pub fn per_user_variance(&self) -> Option<f64> {
        if !self.is_informative() {
            return None;
        }
        let n = self.n as f64;
        let (mean_x, mean_y) = (self.sum_x / n, self.sum_y / n);
        let var_x = (self.sum_x_sq - self.sum_x.powi(2) / n) / (n - 1.0);
        let var_y = (self.sum_y_sq - self.sum_y.powi(2) / n) / (n - 1.0);
        let cov_xy = (self.sum_xy - self.sum_x * self.sum_y / n) / (n - 1.0);
        let v = var_x / mean_y.powi(2) - 2.0 * cov_xy * mean_x / mean_y.powi(3)
            + mean_x.powi(2) * var_y / mean_y.powi(4);
        Some(v.max(0.0))
    }

    /// Variance of the ratio estimate, v/n; +∞ when uninformative.
    pub fn variance(&self) -> f64 {
        match self.per_user_variance() {
            Some(v) => v / self.n as f64,
            None => f64::INFINITY,
        }
    }

    /// R ± z·√(v/n) at `level` (normal; with a flat prior also the credible interval);
    /// (−∞, +∞) when uninformative, the point itself when the variance is 0.
    pub fn interval(&self, level: f64) -> Interval {
        let mean = self.ratio();
        let sd = self.variance().sqrt();
        if sd.is_infinite() {
            return Interval {
                mean,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        let half = norm_quantile(0.5 + 0.5 * level.clamp(0.0, 1.0)) * sd;
        Interval {
            mean,
            low: mean - half,
            high: mean + half,
        }
    }

    /// (n, R, v) for the relative effect; `None` when uninformative.
    pub fn moments(&self) -> Option<ArmMoments> {
        Some(ArmMoments {
            n: self.n,
            mean: self.ratio(),
            variance: self.per_user_variance()?,
        })
    }
}

/// Relative lift R_T/R_C − 1 of `variant` over `control` (gbstats' relative
/// `frequentist_variance` on `RatioStatistic`s); `None` when either arm is uninformative
/// (fewer than 2 users, ΣY = 0) or the control ratio is ≤ 0.
pub fn lift(variant: &RatioStats, control: &RatioStats) -> Option<RelativeEffect> {
    RelativeEffect::between(&variant.moments()?, &control.moments()?)
}

/// P(R_T > R_C) under the relative effect's normal (gbstats' Bayesian `chance_to_win`, flat
/// prior); ½ when there is no lift. For a metric whose decrease is good use
/// [`crate::stats::direction::chance_to_beat_ratio`].
pub fn chance_to_beat(variant: &RatioStats, control: &RatioStats) -> f64 {
    lift(variant, control).map_or(0.5, |effect| effect.prob_above(0.0))
}

/// Two-sided p-value of "no relative lift" (gbstats' `TwoSidedTTest`); 1 when there is no
/// lift.
pub fn p_value(variant: &RatioStats, control: &RatioStats) -> f64 {
    lift(variant, control).map_or(1.0, |effect| effect.p_value())
}
