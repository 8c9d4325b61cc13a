//! Statistics of Posterior: pure functions, no I/O, no global state.
//!
//! - [`special`]: regularized incomplete beta (accurate at 1e7 counts), incomplete gamma,
//!   normal, Student t and χ² distribution functions, Beta and Student t quantiles.
//! - [`quadrature`]: adaptive Gauss–Kronrod integration behind every exact summary.
//! - [`beta`]: conversion metric. Posterior Beta(1 + conversions, 1 + users − conversions);
//!   credible intervals, P(X > Y), P(best), expected loss, relative lift with exact ratio
//!   quantiles, period-weighted rates (Simpson's-paradox correction).
//! - [`gaussian`]: revenue metric. Gaussian model of per-user means N(x̄, s²/n) from
//!   (n, Σx, Σx²), delta-method relative lift, P(best), expected loss; documented values for
//!   n < 2 and zero variance.
//! - [`ratio`]: ratio metric (Σ numerator / Σ denominator over users, e.g. average order
//!   value) by the delta method with the numerator–denominator covariance, as gbstats'
//!   `RatioStatistic`.
//! - [`effect`]: the relative effect Δ = μ_T/μ_C − 1 in gbstats' normal approximation,
//!   shared by mean and ratio metrics: interval, P(Δ > x), Welch t-test p-value.
//! - [`cuped`]: regression adjustment on a pre-assignment covariate (CUPED, Deng et al. 2013),
//!   θ pooled over the arms, as gbstats' `RegressionAdjustedStatistic`.
//! - [`direction`]: chance to beat control in a metric's good direction and chance of harm
//!   beyond a guardrail's threshold, for conversion (exact), mean and ratio metrics.
//! - [`multiple`]: Benjamini–Hochberg and Holm adjusted p-values.
//! - [`frequentist`]: pooled two-proportion z-test and Welch's t-test p-values.
//! - [`srm`]: sample-ratio-mismatch χ² test (threshold 0.001) and bandit expected counts.
//! - [`thompson`]: Thompson sampling decisions with an exploration floor and the exact
//!   allocation probabilities (the propensities to log).
//! - [`contextual`]: per-segment posteriors with a prior centred on the pooled one, and the
//!   expected value of personalization.
//! - [`ope`]: off-policy evaluation (IPS and self-normalized IPS with intervals).
//! - [`factorial`]: factorial experiments: cells of several factors, main effects and
//!   two-way interactions with intervals, and the bandit model that shares strength across
//!   cells (main effects plus shrunk interactions).
//!
//! Accuracy is checked against 50-digit mpmath values in `tests/stats/reference.rs`, and the
//! metric statistics against gbstats and statsmodels in `tests/stats/metrics_reference.rs`.

pub mod beta;
pub mod contextual;
pub mod cuped;
pub mod direction;
pub mod effect;
pub mod factorial;
pub mod frequentist;
pub mod gaussian;
pub mod multiple;
pub mod ope;
pub mod quadrature;
pub mod ratio;
pub mod sequential;
pub mod special;
pub mod srm;
pub mod thompson;

/// The level of every interval Posterior reports (credible or confidence): 95%.
pub const INTERVAL_LEVEL: f64 = 0.95;

/// A point estimate with an interval around it (credible or confidence, as documented by
/// the function returning it). An unbounded end (an estimate from a single observation) is
/// infinite, which JSON writes as `null`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Interval {
    pub mean: f64,
    #[schema(nullable)]
    pub low: f64,
    #[schema(nullable)]
    pub high: f64,
}
