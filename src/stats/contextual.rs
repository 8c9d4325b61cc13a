//! Contextual (per-context) posteriors that borrow strength from the pooled one, and the
//! value of personalization. Pure functions, shared by the server and the simulator.
//!
//! A context's posterior of variant v starts from a prior centred on the pooled estimate of
//! v (all contexts together) with the weight of `m = min(n_pooled, m_max)` pseudo-users:
//!
//! - conversion: Beta(1 + m·p̂ + c_s, 1 + m·(1 − p̂) + n_s − c_s), p̂ = (1 + c)/(2 + n) the
//!   pooled posterior mean;
//! - revenue: the context's sums plus `m` pseudo-users with the pooled mean x̄ and per-user
//!   variance s² (Σx += m·x̄, Σx² += m·(s² + x̄²)).
//!
//! This is empirical-Bayes partial pooling (Gelman et al., "Bayesian Data Analysis", 3rd ed.,
//! ch. 5; the same idea as the hierarchical priors of Chapelle & Li 2011, §4): a new or small
//! context starts from what is known of everyone and is not starved by a flat prior, while a
//! large context's own data soon outweighs the `m` pseudo-users. The pooled estimate
//! includes the context's own users (counted twice, with weight at most m); with a small m
//! that is negligible next to the data that makes a context's estimate differ. The prior
//! strength `m_max` was chosen with the simulator (docs/simulation.md, "Contextual bandit").

use super::beta::BetaPosterior;
use super::gaussian::MeanPosterior;

/// Default cap of the prior strength, in pseudo-users. Chosen with the simulator
/// (docs/simulation.md, "Contextual bandit"): over m_max ∈ {0, 10, 30, 100}, 10 stays at most
/// 4% above the regret of independent flat-prior contexts at every horizon of both scenarios
/// (stronger priors cost up to 18% there), and the prior still centres a new context on
/// what is known of everyone.
pub const PRIOR_STRENGTH: u64 = 10;

/// `m = min(n_pooled, m_max)`: no more confidence in the pooled estimate than it has users.
pub fn prior_weight(pooled_users: u64, m_max: u64) -> u64 {
    pooled_users.min(m_max)
}

/// The context's Beta posterior of a conversion rate with a prior centred on the pooled rate.
pub fn context_beta(
    pooled_users: u64,
    pooled_conversions: u64,
    users: u64,
    conversions: u64,
    m_max: u64,
) -> BetaPosterior {
    let pooled = BetaPosterior::from_counts(pooled_users, pooled_conversions);
    let p = pooled.mean();
    let m = prior_weight(pooled_users, m_max) as f64;
    let conversions = conversions.min(users);
    BetaPosterior::new(
        1.0 + m * p + conversions as f64,
        1.0 + m * (1.0 - p) + (users - conversions) as f64,
    )
}

/// The context's Gaussian posterior of the mean value per user with `m` pseudo-users at the
/// pooled mean and variance (no pseudo-users while the pooled variance is unknown).
pub fn context_mean(
    pooled: &MeanPosterior,
    n: u64,
    sum: f64,
    sum_sq: f64,
    m_max: u64,
) -> MeanPosterior {
    let Some(variance) = pooled.per_user_variance() else {
        return MeanPosterior::from_sums(n, sum, sum_sq);
    };
    let m = prior_weight(pooled.n, m_max);
    let mean = pooled.mean();
    let mf = m as f64;
    MeanPosterior::from_sums(
        n + m,
        sum + mf * mean,
        sum_sq + mf * (variance + mean * mean),
    )
}

/// Quantile of sorted values by linear interpolation (type 7 of Hyndman & Fan 1996).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The expected value of personalization, from posterior draws.
#[derive(Clone, Debug, PartialEq)]
pub struct PersonalizationEstimate {
    /// Expected rate (or value per user) when every context gets its own `best[s]`.
    pub per_context: f64,
    /// Expected rate when everyone gets `best_single`.
    pub best_single: f64,
    pub best_single_variant: usize,
    /// per_context − best_single: mean and the 2.5% and 97.5% quantiles over the draws.
    pub gain: (f64, f64, f64),
}

/// Monte Carlo over joint posterior draws: `draws[d][s][v]` is draw d of context s's metric
/// under variant v, `shares[s]` the context's share of users, `best[s]` the variant the
/// context would be given. The single best variant is the one with the highest expected
/// share-weighted value. Both policies are fixed before the draws, so the gain is the
/// posterior of what deploying per-context winners would add over the best single variant
/// (it may be negative when contexts do not really differ).
pub fn personalization(
    draws: &[Vec<Vec<f64>>],
    shares: &[f64],
    best: &[usize],
) -> Option<PersonalizationEstimate> {
    let first = draws.first()?;
    let variants = first.first()?.len();
    if variants == 0 {
        return None;
    }
    let d = draws.len() as f64;
    let single_means: Vec<f64> = (0..variants)
        .map(|v| {
            draws
                .iter()
                .map(|draw| {
                    draw.iter()
                        .zip(shares)
                        .map(|(seg, w)| w * seg[v])
                        .sum::<f64>()
                })
                .sum::<f64>()
                / d
        })
        .collect();
    let best_single_variant =
        (0..variants).max_by(|&a, &b| single_means[a].total_cmp(&single_means[b]))?;
    let mut per_segment_sum = 0.0;
    let mut gains: Vec<f64> = Vec::with_capacity(draws.len());
    for draw in draws {
        let personal: f64 = draw
            .iter()
            .zip(shares)
            .zip(best)
            .map(|((seg, w), &b)| w * seg[b])
            .sum();
        let single: f64 = draw
            .iter()
            .zip(shares)
            .map(|(seg, w)| w * seg[best_single_variant])
            .sum();
        per_segment_sum += personal;
        gains.push(personal - single);
    }
    let gain_mean = gains.iter().sum::<f64>() / d;
    gains.sort_by(f64::total_cmp);
    Some(PersonalizationEstimate {
        per_context: per_segment_sum / d,
        best_single: single_means[best_single_variant],
        best_single_variant,
        gain: (
            gain_mean,
            quantile_sorted(&gains, 0.025),
            quantile_sorted(&gains, 0.975),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_segment_starts_at_the_pooled_rate() {
        // Pooled: 1000 users, 98 conversions → p̂ = 99/1002; m = 30.
        let s = context_beta(1000, 98, 0, 0, 30);
        let p = 99.0 / 1002.0;
        assert!((s.alpha - (1.0 + 30.0 * p)).abs() < 1e-12);
        assert!((s.beta - (1.0 + 30.0 * (1.0 - p))).abs() < 1e-12);
        assert!((s.mean() - (1.0 + 30.0 * p) / 32.0).abs() < 1e-12);
        // With no pooled data the prior is flat.
        assert_eq!(
            context_beta(0, 0, 5, 2, 30),
            BetaPosterior::from_counts(5, 2)
        );
        // m never exceeds the pooled users.
        let small = context_beta(4, 2, 0, 0, 30);
        assert!((small.alpha + small.beta - 6.0).abs() < 1e-12);
    }

    #[test]
    fn a_large_segment_follows_its_own_data() {
        let s = context_beta(100_000, 10_000, 20_000, 6_000, 30);
        assert!((s.mean() - 0.3).abs() < 0.001, "{}", s.mean());
    }

    #[test]
    fn revenue_pseudo_users() {
        // Pooled: values 1, 2, 3 → mean 2, variance 1.
        let pooled = MeanPosterior::from_sums(3, 6.0, 14.0);
        let s = context_mean(&pooled, 0, 0.0, 0.0, 30);
        assert_eq!(s.n, 3);
        assert!((s.mean() - 2.0).abs() < 1e-12);
        assert!((s.per_user_variance().unwrap() - 1.5).abs() < 1e-12); // 3 pseudo-users (n−1)
    }

    #[test]
    fn personalization_by_hand() {
        // Two contexts of equal size, two variants, two draws.
        // Context 0 prefers variant 0, context 1 variant 1.
        let draws = vec![
            vec![vec![0.3, 0.1], vec![0.1, 0.2]],
            vec![vec![0.5, 0.1], vec![0.1, 0.4]],
        ];
        let p = personalization(&draws, &[0.5, 0.5], &[0, 1]).unwrap();
        // Single: v0 = (0.2 + 0.3)/2 = 0.25, v1 = (0.15 + 0.25)/2 = 0.2 → v0.
        assert_eq!(p.best_single_variant, 0);
        assert!((p.best_single - 0.25).abs() < 1e-12);
        // Personal: draw 0: 0.25, draw 1: 0.45 → 0.35.
        assert!((p.per_context - 0.35).abs() < 1e-12);
        // Gains: 0.05 and 0.15.
        assert!((p.gain.0 - 0.1).abs() < 1e-12);
        assert!((p.gain.1 - (0.05 + 0.025 * 0.1)).abs() < 1e-12);
        assert!((p.gain.2 - (0.05 + 0.975 * 0.1)).abs() < 1e-12);
    }
}
