//! Adjusted p-values for many comparisons (metrics × variants), as statsmodels'
//! `multipletests` (methods `fdr_bh` and `holm`), each answer in the order of its input.
//!
//! With the m p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎:
//! - Benjamini–Hochberg (1995), false discovery rate: p̃₍ᵢ₎ = min_{j ≥ i} min(1, m·p₍ⱼ₎/j).
//! - Holm (1979), step-down Bonferroni, family-wise error: p̃₍ᵢ₎ = max_{j ≤ i} min(1,
//!   (m − j + 1)·p₍ⱼ₎).
//!
//! Both are monotone in the raw p-values, never below them and at most 1; since
//! m/j ≤ m − j + 1, Benjamini–Hochberg's are never above Holm's. Ties get equal adjusted
//! values whatever their order. A NaN p-value counts as 1 (nothing to reject); values
//! outside [0, 1] are clamped into it.
//!
//! The server adjusts secondary metrics with Benjamini–Hochberg: with up to 20 secondary
//! metrics × variants a family-wise bound (Holm) would hide almost every real effect, while
//! bounding the share of false discoveries among those flagged is what a reader of a
//! results grid needs.

use std::cmp::Ordering;

/// Benjamini–Hochberg adjusted p-values (statsmodels `fdr_bh`), in input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len() as f64;
    let order = ascending(p);
    let mut adjusted = vec![0.0; p.len()];
    let mut running_min: f64 = 1.0;
    for (rank, &i) in order.iter().enumerate().rev() {
        // p·(m/j): statsmodels' p/(j/m) up to an ulp, and never above Holm's p·(m − j + 1)
        // (equal factors at j = 1 and j = m are then equal products)
        running_min = running_min.min(clean(p[i]) * (m / (rank + 1) as f64));
        adjusted[i] = running_min;
    }
    adjusted
}

/// Holm adjusted p-values (statsmodels `holm`), in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let order = ascending(p);
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running_max = running_max.max((clean(p[i]) * (m - rank) as f64).min(1.0));
        adjusted[i] = running_max;
    }
    adjusted
}

/// A p-value in [0, 1]; NaN counts as 1.
fn clean(p: f64) -> f64 {
    if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) }
}

/// Indices of `p` by increasing (cleaned) value.
fn ascending(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| {
        clean(p[a])
            .partial_cmp(&clean(p[b]))
            .unwrap_or(Ordering::Equal)
    });
    order
}
