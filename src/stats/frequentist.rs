//! Frequentist p-values shown next to the Bayesian results.

// `!(x > 0.0)` is used on purpose: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::special::{norm_sf, student_t_sf};

/// Two-sided p-value of the pooled two-proportion z-test:
/// z = (p̂_B − p̂_A) / √(p̂(1−p̂)(1/n_A + 1/n_B)), p̂ = (c_A + c_B)/(n_A + n_B), p = 2·(1 − Φ(|z|))
/// (e.g. Agresti, "Categorical Data Analysis", §3.1). The tail uses `norm_sf`, so tiny
/// p-values keep their relative accuracy.
///
/// Returns 1 when there is nothing to test: a group without users, or a pooled rate of 0
/// or 1 (no variance, identical observed rates). Conversions above users count as users.
pub fn two_proportion_p_value(n_a: u64, c_a: u64, n_b: u64, c_b: u64) -> f64 {
    if n_a == 0 || n_b == 0 {
        return 1.0;
    }
    let (c_a, c_b) = (c_a.min(n_a) as f64, c_b.min(n_b) as f64);
    let (n_a, n_b) = (n_a as f64, n_b as f64);
    let pooled = (c_a + c_b) / (n_a + n_b);
    let variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b);
    if !(variance > 0.0) {
        return 1.0;
    }
    let z = (c_b / n_b - c_a / n_a) / variance.sqrt();
    (2.0 * norm_sf(z.abs())).min(1.0)
}

/// Two-sided p-value of Welch's unequal-variances t-test from each group's size, mean and
/// (unbiased sample) variance: t = (m_B − m_A)/√(v_A/n_A + v_B/n_B), with the
/// Welch–Satterthwaite degrees of freedom ν = (v_A/n_A + v_B/n_B)² /
/// ((v_A/n_A)²/(n_A−1) + (v_B/n_B)²/(n_B−1)) (Welch 1947), p = 2·P(T_ν > |t|) from our
/// incomplete beta (checked against mpmath to ~1e-15).
///
/// Degenerate inputs: fewer than 2 users in a group → 1; both variances 0 → 1 if the
/// means are equal, else 0.
pub fn welch_p_value(n_a: u64, mean_a: f64, var_a: f64, n_b: u64, mean_b: f64, var_b: f64) -> f64 {
    if n_a < 2 || n_b < 2 {
        return 1.0;
    }
    let (n_a, n_b) = (n_a as f64, n_b as f64);
    let (se_a, se_b) = (var_a.max(0.0) / n_a, var_b.max(0.0) / n_b);
    let se2 = se_a + se_b;
    if !(se2 > 0.0) {
        return if mean_a == mean_b { 1.0 } else { 0.0 };
    }
    let t = (mean_b - mean_a) / se2.sqrt();
    let df = se2 * se2 / (se_a * se_a / (n_a - 1.0) + se_b * se_b / (n_b - 1.0));
    (2.0 * student_t_sf(t.abs(), df)).min(1.0)
}
