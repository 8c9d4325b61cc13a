//! Revenue metric (a value per user): Gaussian model of per-user means.
//!
//! Model (as GrowthBook's engine since 3.0): with a flat prior, the posterior of an arm's
//! mean value per user μ is N(x̄, s²/n), where x̄ and s² are the sample mean and variance of
//! the per-user values (users without revenue count as 0). It is the large-sample model:
//! fine for the thousands of users an experiment needs, rough for tens. Sufficient
//! statistics are what the server stores: n, Σx, Σx².
//!
//! The relative lift Δ = μ_T/μ_C − 1 ([`lift`], [`chance_to_beat`]) is gbstats' delta
//! method; [`effect`] gives it as a [`RelativeEffect`], the path mean metrics share with
//! ratio metrics (p-value of gbstats' Welch t-test, chance of harm). Chances in a metric's
//! good direction are in [`crate::stats::direction`].
//!
//! Degenerate cases (documented, never NaN):
//! - fewer than 2 users (unknown variance) or, with a known variance, no user: the arm is
//!   *uninformative*. Its mean is 0 when n = 0 and its variance of the mean is +∞.
//!   `prob_best` then returns equal shares 1/K for every arm, `expected_loss` returns +∞
//!   for every arm ("unknown"; serde_json writes it as null), `chance_to_beat` 0.5,
//!   `lift` and `effect` None, `MeanPosterior::interval` (−∞, +∞). Thompson sampling explores such
//!   arms first (see [`crate::stats::thompson`]).
//! - zero sample variance with n ≥ 2 (e.g. all users spent 0): the posterior is a point
//!   mass at the mean; all the probabilities below handle point masses exactly (ties between
//!   point masses split evenly).

// `!(x > y)` is used on purpose: it also catches NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::Interval;
use super::effect::{ArmMoments, RelativeEffect};
use super::quadrature::{clean_breakpoints, integrate_vec};
use super::special::{norm_cdf, norm_pdf, norm_quantile};

/// Posterior of an arm's mean value per user.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanPosterior {
    /// Number of users.
    pub n: u64,
    /// Σ values.
    pub sum: f64,
    /// Σ values².
    pub sum_sq: f64,
    /// Per-user variance when it is known (simulations); `None` = estimate it from the data.
    pub known_variance: Option<f64>,
}

impl MeanPosterior {
    /// From sufficient statistics; the per-user variance is estimated from the data.
    pub fn from_sums(n: u64, sum: f64, sum_sq: f64) -> Self {
        MeanPosterior {
            n,
            sum,
            sum_sq,
            known_variance: None,
        }
    }

    /// With a known per-user variance σ² (e.g. unit-variance arms in a simulation).
    pub fn with_known_variance(n: u64, sum: f64, variance: f64) -> Self {
        MeanPosterior {
            n,
            sum,
            sum_sq: 0.0,
            known_variance: Some(variance),
        }
    }

    /// Adds one user's value.
    #[inline]
    pub fn update(&mut self, value: f64) {
        self.n += 1;
        self.sum += value;
        self.sum_sq += value * value;
    }

    /// Sample mean (0 without users).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// Per-user variance: the known one, or the unbiased sample variance (n ≥ 2), clamped at
    /// 0 against the rounding of Σx² − (Σx)²/n.
    pub fn per_user_variance(&self) -> Option<f64> {
        if let Some(v) = self.known_variance {
            return Some(v);
        }
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let centered = self.sum_sq - self.sum * (self.sum / n);
        Some((centered / (n - 1.0)).max(0.0))
    }

    /// Whether the posterior is proper (finite variance of the mean).
    pub fn is_informative(&self) -> bool {
        self.n > 0 && self.per_user_variance().is_some()
    }

    /// Posterior variance of the mean, σ²/n; +∞ when uninformative.
    pub fn variance_of_mean(&self) -> f64 {
        match self.per_user_variance() {
            Some(v) if self.n > 0 => v / self.n as f64,
            _ => f64::INFINITY,
        }
    }

    /// Equal-tailed credible interval mean ± z·sd; (−∞, +∞) when uninformative.
    pub fn interval(&self, level: f64) -> Interval {
        let sd = self.variance_of_mean().sqrt();
        let z = norm_quantile(0.5 + 0.5 * level.clamp(0.0, 1.0));
        let mean = self.mean();
        if sd.is_infinite() {
            return Interval {
                mean,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        Interval {
            mean,
            low: mean - z * sd,
            high: mean + z * sd,
        }
    }
}

/// Relative lift Δ = (μ_T − μ_C)/μ_C with its delta-method interval at `level`
/// (GrowthBook's frequentist/Bayesian engine): Var Δ ≈ σ_C² μ_T² / (μ_C⁴ n_C) + σ_T² / (μ_C² n_T).
/// `None` when either arm is uninformative or the control mean is not positive (a relative
/// lift over 0 or a negative base has no useful meaning).
pub fn lift(variant: &MeanPosterior, control: &MeanPosterior, level: f64) -> Option<Interval> {
    let (mu_t, mu_c) = (variant.mean(), control.mean());
    if !variant.is_informative() || !control.is_informative() || mu_c <= 0.0 {
        return None;
    }
    let var_t = variant.variance_of_mean(); // σ_T²/n_T
    let var_c = control.variance_of_mean(); // σ_C²/n_C
    let delta = (mu_t - mu_c) / mu_c;
    let variance = var_c * mu_t * mu_t / mu_c.powi(4) + var_t / (mu_c * mu_c);
    let z = norm_quantile(0.5 + 0.5 * level.clamp(0.0, 1.0));
    let half = z * variance.sqrt();
    Some(Interval {
        mean: delta,
        low: delta - half,
        high: delta + half,
    })
}

/// Chance that the variant beats the control, Φ(Δ / sd(Δ)) with the delta-method lift as in
/// GrowthBook. When the relative lift is undefined (control mean ≤ 0) it falls back to the
/// exact P(μ_T > μ_C) = Φ((μ_T − μ_C)/√(v_T + v_C)); 0.5 when either arm is uninformative;
/// with zero variance 1, 0 or 0.5 by the sign of the difference.
pub fn chance_to_beat(variant: &MeanPosterior, control: &MeanPosterior) -> f64 {
    chance_beyond(variant, control, false)
}

/// [`chance_to_beat`], or with `below` its mirror P(μ_T < μ_C) from the same normal (the
/// centre negated, which is exact): the chance to beat control of a metric whose decrease
/// is good ([`crate::stats::direction::chance_to_beat_mean`]).
pub(super) fn chance_beyond(variant: &MeanPosterior, control: &MeanPosterior, below: bool) -> f64 {
    if !variant.is_informative() || !control.is_informative() {
        return 0.5;
    }
    let (center, sd) = match lift(variant, control, 0.95) {
        Some(l) => (l.mean, (l.high - l.mean) / norm_quantile(0.975)),
        None => (
            variant.mean() - control.mean(),
            (variant.variance_of_mean() + control.variance_of_mean()).sqrt(),
        ),
    };
    let center = if below { -center } else { center };
    if sd > 0.0 {
        norm_cdf(center / sd)
    } else if center > 0.0 {
        1.0
    } else if center < 0.0 {
        0.0
    } else {
        0.5
    }
}

/// Welch's two-sided p-value of the difference of two arms' means (`None` while either has
/// no variance estimate).
pub fn welch_p_value(variant: &MeanPosterior, control: &MeanPosterior) -> Option<f64> {
    Some(super::frequentist::welch_p_value(
        control.n,
        control.mean(),
        control.per_user_variance()?,
        variant.n,
        variant.mean(),
        variant.per_user_variance()?,
    ))
}

/// The relative effect Δ = μ_T/μ_C − 1 of [`lift`] as a [`RelativeEffect`] (the path mean
/// metrics share with ratio metrics), with gbstats' Welch degrees of freedom for its
/// p-value (∞, the normal, when a variance is known). `None` when either arm is
/// uninformative, has fewer than 2 users, or the control mean is ≤ 0. Its mean and sd are
/// [`lift`]'s up to rounding (its variance is summed in gbstats' order).
pub fn effect(variant: &MeanPosterior, control: &MeanPosterior) -> Option<RelativeEffect> {
    if !variant.is_informative() || !control.is_informative() {
        return None;
    }
    let moments = |arm: &MeanPosterior| {
        Some(ArmMoments {
            n: arm.n,
            mean: arm.mean(),
            variance: arm.per_user_variance()?,
        })
    };
    let effect = RelativeEffect::between(&moments(variant)?, &moments(control)?)?;
    let known = variant.known_variance.is_some() || control.known_variance.is_some();
    Some(if known {
        RelativeEffect::normal(effect.mean, effect.sd)
    } else {
        effect
    })
}

/// Normal (or point-mass) posterior of one arm.
#[derive(Clone, Copy)]
struct Arm {
    mean: f64,
    sd: f64,
}

impl Arm {
    fn cdf(&self, x: f64) -> f64 {
        if self.sd > 0.0 {
            norm_cdf((x - self.mean) / self.sd)
        } else if x >= self.mean {
            1.0
        } else {
            0.0
        }
    }
    fn pdf(&self, x: f64) -> f64 {
        if self.sd > 0.0 {
            norm_pdf((x - self.mean) / self.sd) / self.sd
        } else {
            0.0
        }
    }
}

/// Beyond 40 sd a normal tail is below 1e-349: nothing is lost by stopping there.
const RANGE_SD: f64 = 40.0;
const BULK_OFFSETS: [f64; 15] = [
    -40.0, -20.0, -12.0, -8.0, -5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0, 8.0, 12.0, 20.0, 40.0,
];

fn arms_and_grid(arms: &[MeanPosterior]) -> (Vec<Arm>, Vec<f64>) {
    let normals: Vec<Arm> = arms
        .iter()
        .map(|a| Arm {
            mean: a.mean(),
            sd: a.variance_of_mean().sqrt(),
        })
        .collect();
    let lo = normals
        .iter()
        .map(|a| a.mean - RANGE_SD * a.sd)
        .fold(f64::INFINITY, f64::min);
    let hi = normals
        .iter()
        .map(|a| a.mean + RANGE_SD * a.sd)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut points = Vec::new();
    for a in &normals {
        points.extend(BULK_OFFSETS.iter().map(|k| a.mean + k * a.sd));
    }
    clean_breakpoints(&mut points, lo, hi);
    (normals, points)
}

fn products_of_others(cdfs: &[f64], out: &mut [f64]) {
    let mut prefix = 1.0;
    for i in 0..cdfs.len() {
        out[i] = prefix;
        prefix *= cdfs[i];
    }
    let mut suffix = 1.0;
    for i in (0..cdfs.len()).rev() {
        out[i] *= suffix;
        suffix *= cdfs[i];
    }
}

/// P(arm k has the highest mean) for every arm: ∫ φ_k(x) Π_{j≠k} F_j(x) dx for normal
/// arms (adaptive Gauss–Kronrod on shared nodes), Π_{j normal} F_j(m_k) × tie share for
/// point masses. Normalised to sum to 1. Equal shares when any arm is uninformative.
pub fn prob_best(arms: &[MeanPosterior]) -> Vec<f64> {
    let k = arms.len();
    if k == 0 {
        return Vec::new();
    }
    if k == 1 || arms.iter().any(|a| !a.is_informative()) {
        return vec![1.0 / k as f64; k];
    }
    let (normals, points) = arms_and_grid(arms);
    let mut values = vec![0.0; k];
    if normals.iter().any(|a| a.sd > 0.0) && points.len() >= 2 {
        let mut cdfs = vec![0.0; k];
        let result = integrate_vec(
            |x, out: &mut [f64]| {
                for (c, a) in cdfs.iter_mut().zip(&normals) {
                    *c = a.cdf(x);
                }
                products_of_others(&cdfs, out);
                for (o, a) in out.iter_mut().zip(&normals) {
                    *o *= a.pdf(x);
                }
            },
            k,
            &points,
            1e-15,
            4000,
        );
        values = result.values;
    }
    for (i, a) in normals.iter().enumerate() {
        if a.sd > 0.0 {
            continue;
        }
        // Point mass at m_i: beats every continuous arm below m_i; ties among point masses
        // at the same value share; a higher point mass wins outright.
        let mut p = 1.0;
        let mut ties = 1.0;
        for (j, b) in normals.iter().enumerate() {
            if j == i {
                continue;
            }
            if b.sd > 0.0 {
                p *= b.cdf(a.mean);
            } else if b.mean > a.mean {
                p = 0.0;
            } else if b.mean == a.mean {
                ties += 1.0;
            }
        }
        values[i] = p / ties;
    }
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    values.iter().map(|v| v.max(0.0) / total).collect()
}

/// Expected loss of choosing each arm, E[max_j μ_j − μ_k] = ∫ F_k(t)(1 − Π_{j≠k} F_j(t)) dt
/// (point masses as step CDFs). +∞ for every arm when any arm is uninformative.
pub fn expected_loss(arms: &[MeanPosterior]) -> Vec<f64> {
    let k = arms.len();
    if k < 2 {
        return vec![0.0; k];
    }
    if arms.iter().any(|a| !a.is_informative()) {
        return vec![f64::INFINITY; k];
    }
    let (normals, mut points) = arms_and_grid(arms);
    // point masses are steps of the integrand: make them breakpoints, and the range must
    // reach them
    points.extend(normals.iter().map(|a| a.mean));
    let lo = points.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = points.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    clean_breakpoints(&mut points, lo, hi);
    if !(hi > lo) {
        return vec![0.0; k];
    }
    let mut cdfs = vec![0.0; k];
    let tol = 1e-14 * (hi - lo);
    let result = integrate_vec(
        |x, out: &mut [f64]| {
            for (c, a) in cdfs.iter_mut().zip(&normals) {
                *c = a.cdf(x);
            }
            products_of_others(&cdfs, out);
            for (o, c) in out.iter_mut().zip(&cdfs) {
                *o = c * (1.0 - *o);
            }
        },
        k,
        &points,
        tol,
        4000,
    );
    result.values.into_iter().map(|v| v.max(0.0)).collect()
}
