//! Sample ratio mismatch (SRM): is the number of users per arm consistent with the
//! allocation the experiment intended?

// `!(x > 0.0)` is used on purpose: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::special::chi_square_sf;

/// Flag an SRM when the χ² p-value is below this (the usual industry threshold; the χ²₁
/// critical value at 0.001 is 10.828).
pub const SRM_P_VALUE_THRESHOLD: f64 = 0.001;

/// Pearson χ² goodness-of-fit p-value of `observed` users per arm against `expected`, with
/// k − 1 degrees of freedom (k = arms with a positive expectation).
///
/// `expected` may be counts or weights: it is rescaled to the observed total. Arms expected
/// to get nothing are skipped if they got nothing too; if one of them got users the
/// allocation was violated outright and the p-value is 0. Returns 1 when there is nothing
/// to test (fewer than 2 arms, no users, lengths differ or invalid weights).
pub fn chi_square_p_value(observed: &[f64], expected: &[f64]) -> f64 {
    if observed.len() != expected.len() || observed.len() < 2 {
        return 1.0;
    }
    let total: f64 = observed.iter().sum();
    let weight: f64 = expected.iter().sum();
    if !(total > 0.0) || !(weight > 0.0) || expected.iter().any(|e| !(*e >= 0.0)) {
        return 1.0;
    }
    let mut statistic = 0.0;
    let mut cells = 0usize;
    for (&o, &w) in observed.iter().zip(expected) {
        let e = w / weight * total;
        if e > 0.0 {
            statistic += (o - e) * (o - e) / e;
            cells += 1;
        } else if o > 0.0 {
            return 0.0;
        }
    }
    if cells < 2 {
        return 1.0;
    }
    chi_square_sf(statistic, (cells - 1) as f64)
}

/// Whether a p-value signals a sample ratio mismatch.
pub fn is_mismatch(p_value: f64) -> bool {
    p_value < SRM_P_VALUE_THRESHOLD
}

/// Expected users per arm for a bandit whose weights changed: Σ over periods of
/// (users in the period × the arm's weight in the period). `periods` = (users, weights).
pub fn bandit_expected_counts(periods: &[(f64, Vec<f64>)]) -> Vec<f64> {
    let arms = periods.iter().map(|(_, w)| w.len()).max().unwrap_or(0);
    let mut expected = vec![0.0; arms];
    for (users, weights) in periods {
        let total: f64 = weights.iter().sum();
        if total > 0.0 {
            for (e, w) in expected.iter_mut().zip(weights) {
                *e += users * w / total;
            }
        }
    }
    expected
}
