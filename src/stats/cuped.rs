//! CUPED: regression adjustment on a pre-assignment covariate (Deng, Xu, Kohavi & Walker
//! 2013, "Improving the sensitivity of online controlled experiments by utilizing
//! pre-experiment data").
//!
//! Each user has a post-assignment value y (the metric) and a pre-assignment value x (the
//! same metric over a lookback window before the assignment). With θ = Cov(y, x)/Var(x),
//! y − θ(x − E x) has the same mean as y and variance Var(y)(1 − ρ²), so intervals narrow
//! by 1 − √(1 − ρ²) while the estimate stays unbiased (x cannot depend on the arm).
//!
//! Model (gbstats 0.8, GrowthBook's engine, term for term: `RegressionAdjustedStatistic`,
//! `compute_theta`, `frequentist_diff` with the unadjusted control mean):
//! - per arm, from n, Σy, Σy², Σx, Σx², Σxy: post and pre variances as the metric's kind
//!   defines them (a conversion is a proportion p̂(1 − p̂); a mean the sample variance on
//!   n − 1), Cov = (Σxy − ΣyΣx/n)/(n − 1);
//! - θ pooled over the arms compared: the covariance and pre variance of the arms' summed
//!   sums (0 when either joint variance is 0: no adjustment);
//! - adjusted mean ȳ − θx̄, adjusted variance Var y + θ² Var x − 2θ Cov;
//! - relative effect (ȳ'_T − ȳ'_C)/ȳ_C with the delta-method variance of `effect` on the
//!   adjusted variances and the unadjusted means.
//!
//! Users without pre-assignment data have x = 0, which keeps the estimate unbiased (x is
//! still fixed before the assignment); only the variance reduction is smaller.

// `!(x > y)` is used on purpose: it also catches NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::effect::RelativeEffect;

/// Whether y and x are proportions (a user converted or not) or sample means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Proportion,
    Mean,
}

/// One arm's sums over its n users: the metric y after the assignment and the covariate x
/// before it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct CupedSums {
    pub n: u64,
    pub y: f64,
    pub y_sq: f64,
    pub x: f64,
    pub x_sq: f64,
    pub xy: f64,
}

impl CupedSums {
    fn plus(&self, other: &CupedSums) -> CupedSums {
        CupedSums {
            n: self.n + other.n,
            y: self.y + other.y,
            y_sq: self.y_sq + other.y_sq,
            x: self.x + other.x,
            x_sq: self.x_sq + other.x_sq,
            xy: self.xy + other.xy,
        }
    }

    fn mean_y(&self) -> f64 {
        self.y / self.n as f64
    }

    fn mean_x(&self) -> f64 {
        self.x / self.n as f64
    }

    fn variance(kind: Kind, n: u64, sum: f64, sum_sq: f64) -> f64 {
        if n <= 1 {
            return 0.0;
        }
        let n = n as f64;
        match kind {
            Kind::Proportion => {
                let p = sum / n;
                p * (1.0 - p)
            }
            Kind::Mean => (sum_sq - sum * sum / n) / (n - 1.0),
        }
    }

    pub fn variance_y(&self, kind: Kind) -> f64 {
        Self::variance(kind, self.n, self.y, self.y_sq)
    }

    pub fn variance_x(&self, kind: Kind) -> f64 {
        Self::variance(kind, self.n, self.x, self.x_sq)
    }

    pub fn covariance(&self) -> f64 {
        if self.n <= 1 {
            return 0.0;
        }
        (self.xy - self.y * self.x / self.n as f64) / (self.n as f64 - 1.0)
    }

    /// The adjusted per-user variance Var y + θ² Var x − 2θ Cov.
    pub fn adjusted_variance(&self, kind: Kind, theta: f64) -> f64 {
        self.variance_y(kind) + theta * theta * self.variance_x(kind)
            - 2.0 * theta * self.covariance()
    }
}

/// θ pooled over `arms`: the covariance of y and x over their summed sums divided by the
/// variance of x there; 0 when either joint variance is 0 (gbstats' `compute_theta`).
pub fn theta(kind: Kind, arms: &[CupedSums]) -> f64 {
    let joint = arms.iter().fold(CupedSums::default(), |a, b| a.plus(b));
    let (vy, vx) = (joint.variance_y(kind), joint.variance_x(kind));
    if vx == 0.0 || vy == 0.0 || joint.n <= 1 {
        return 0.0;
    }
    joint.covariance() / vx
}

/// The share by which the adjustment with `theta` lowers the per-user variance of the arms'
/// summed sums (ρ² of y and x at the pooled θ); 0 without spread.
pub fn variance_reduction(kind: Kind, arms: &[CupedSums], theta: f64) -> f64 {
    let joint = arms.iter().fold(CupedSums::default(), |a, b| a.plus(b));
    let vy = joint.variance_y(kind);
    if !(vy > 0.0) {
        return 0.0;
    }
    (1.0 - joint.adjusted_variance(kind, theta) / vy).clamp(0.0, 1.0)
}

/// The adjusted relative effect of `variant` over `control` with `theta`; `None` when an arm
/// has fewer than 2 users, a variance is negative, or the control's unadjusted mean is not
/// positive (as `RelativeEffect::between`).
pub fn effect(
    kind: Kind,
    variant: &CupedSums,
    control: &CupedSums,
    theta: f64,
) -> Option<RelativeEffect> {
    if variant.n < 2 || control.n < 2 {
        return None;
    }
    let (n_t, n_c) = (variant.n as f64, control.n as f64);
    let (m_t, m_c) = (variant.mean_y(), control.mean_y());
    if !(m_c > 0.0) || !m_t.is_finite() {
        return None;
    }
    let (v_t, v_c) = (
        variant.adjusted_variance(kind, theta),
        control.adjusted_variance(kind, theta),
    );
    if !(v_t >= 0.0 && v_c >= 0.0 && v_t.is_finite() && v_c.is_finite()) {
        return None;
    }
    let adjusted = |a: &CupedSums| a.mean_y() - theta * a.mean_x();
    let mean = (adjusted(variant) - adjusted(control)) / m_c;
    let variance = v_t / (m_c.powi(2) * n_t) + v_c * m_t.powi(2) / (m_c.powi(4) * n_c);
    let (se_t, se_c) = (v_t / n_t, v_c / n_c);
    let df = (se_t + se_c).powi(2)
        / (v_t.powi(2) / (n_t.powi(2) * (n_t - 1.0)) + v_c.powi(2) / (n_c.powi(2) * (n_c - 1.0)));
    Some(RelativeEffect {
        mean,
        sd: variance.sqrt(),
        df: if df > 0.0 { df } else { f64::INFINITY },
    })
}

/// One arm's adjusted mean on the metric's own scale, ȳ − θ(x̄ − x̄ of all arms), and its
/// adjusted per-user variance: what probability best and expected loss compare.
pub fn adjusted_arm(kind: Kind, arm: &CupedSums, all: &[CupedSums], theta: f64) -> (f64, f64) {
    let joint = all.iter().fold(CupedSums::default(), |a, b| a.plus(b));
    let centre = if joint.n > 0 { joint.mean_x() } else { 0.0 };
    let mean = if arm.n > 0 {
        arm.mean_y() - theta * (arm.mean_x() - centre)
    } else {
        0.0
    };
    (mean, arm.adjusted_variance(kind, theta).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(pairs: &[(f64, f64)]) -> CupedSums {
        pairs
            .iter()
            .fold(CupedSums::default(), |s, &(y, x)| CupedSums {
                n: s.n + 1,
                y: s.y + y,
                y_sq: s.y_sq + y * y,
                x: s.x + x,
                x_sq: s.x_sq + x * x,
                xy: s.xy + x * y,
            })
    }

    #[test]
    fn theta_is_the_regression_slope_of_y_on_x() {
        // y = 2x + 1 exactly: θ = 2 and the adjusted variance vanishes.
        let a = sums(&[(1.0, 0.0), (3.0, 1.0), (5.0, 2.0)]);
        let b = sums(&[(7.0, 3.0), (9.0, 4.0)]);
        let t = theta(Kind::Mean, &[a, b]);
        assert!((t - 2.0).abs() < 1e-12, "{t}");
        assert!((variance_reduction(Kind::Mean, &[a, b], t) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_spread_in_the_covariate_means_no_adjustment() {
        let a = sums(&[(1.0, 0.0), (3.0, 0.0)]);
        let b = sums(&[(2.0, 0.0), (5.0, 0.0)]);
        assert_eq!(theta(Kind::Mean, &[a, b]), 0.0);
        let adjusted = effect(Kind::Mean, &b, &a, 0.0).unwrap();
        assert!((adjusted.mean - (3.5 / 2.0 - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn a_zero_control_mean_has_no_relative_effect() {
        let a = sums(&[(0.0, 1.0), (0.0, 2.0)]);
        let b = sums(&[(1.0, 1.0), (2.0, 2.0)]);
        assert!(effect(Kind::Mean, &b, &a, 0.5).is_none());
    }
}
