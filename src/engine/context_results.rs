//! Results of a contextual experiment per context, and the value of personalization:
//! giving every context its most probably best variant against the single best variant.

use super::context::{by_context, context_object, context_posteriors};
use super::policy::Posteriors;
use crate::domain::Experiment;
use crate::stats::contextual::{self as pooling, PRIOR_STRENGTH};
use crate::stats::gaussian;
use crate::stats::{INTERVAL_LEVEL, Interval};
use crate::stats::{beta, thompson};
use crate::store::{ContextStats, VariantStats};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use serde_json::{Map, Value};

/// Posterior draws behind the personalization estimate (fixed seed: the same statistics
/// always give the same numbers)...
pub const PERSONALIZATION_DRAWS: usize = 2000;
/// ...fewer when there are many contexts and variants, so one estimate costs at most this
/// many posterior samples (never fewer than 200 draws).
const PERSONALIZATION_SAMPLES: usize = 400_000;
const PERSONALIZATION_SEED: u64 = 0x5EED_C0DE;
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContextVariant {
    pub key: String,
    pub users: i64,
    pub conversions: i64,
    pub value_sum: f64,
    /// Conversion rate: the context's posterior (prior centred on the pooled rate), mean and
    /// 95% credible interval.
    pub rate: Interval,
    /// Revenue goal: value per user, the context's posterior with the pooled prior.
    pub value_per_user: Option<Interval>,
    pub probability_best: f64,
}

/// Results in one context (a combination of the context attributes' values).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContextResults {
    /// The context attributes and their values, e.g. `{"platform": "ios"}`.
    #[schema(value_type = Object)]
    pub context: Map<String, Value>,
    /// The stored context key.
    pub key: String,
    pub users: i64,
    /// The variant most likely best in this context (what per-context assignment gives it).
    pub best_variant: String,
    pub probability_best: f64,
    pub variants: Vec<ContextVariant>,
}

/// Giving every context its best variant against the single best variant for everyone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonalizationValue {
    /// Expected rate (value per user for a revenue goal) when every context gets its own
    /// best variant. (Named `per_segment_rate` in the API, from before contexts had their name.)
    #[serde(rename = "per_segment_rate")]
    pub per_context_rate: f64,
    /// Expected rate when everyone gets the single best variant.
    pub best_single_rate: f64,
    pub best_single_variant: String,
    /// per_context_rate − best_single_rate, with its 95% credible interval.
    pub gain: Interval,
    /// Monte Carlo draws behind these numbers (fixed seed).
    pub draws: usize,
    /// Prior strength (pseudo-users) of the pooled prior.
    pub prior_strength: u64,
}

/// Results per context (largest first) and the value of personalization; empty and `None`
/// for an experiment without a context.
pub fn contexts(
    experiment: &Experiment,
    pooled: &[VariantStats],
    stats: &[ContextStats],
) -> (Vec<ContextResults>, Option<PersonalizationValue>) {
    let spec = &experiment.spec;
    if spec.context_names().is_empty() {
        return (Vec::new(), None);
    }
    let groups = by_context(stats);
    let mut contexts: Vec<(ContextResults, Posteriors, usize)> = groups
        .iter()
        .map(|(key, cells)| {
            let posteriors = context_posteriors(experiment, pooled, cells);
            let (best_probs, rates, values): (Vec<f64>, Vec<Interval>, Option<Vec<Interval>>) =
                match &posteriors {
                    Posteriors::Conversion(arms) => (
                        beta::prob_best(arms),
                        arms.iter().map(|a| a.interval(INTERVAL_LEVEL)).collect(),
                        None,
                    ),
                    Posteriors::Revenue(arms) => {
                        let pooled_rates = context_rates(experiment, pooled, cells);
                        (
                            gaussian::prob_best(arms),
                            pooled_rates,
                            Some(arms.iter().map(|a| a.interval(INTERVAL_LEVEL)).collect()),
                        )
                    }
                };
            let best = (0..best_probs.len())
                .max_by(|&a, &b| best_probs[a].total_cmp(&best_probs[b]))
                .unwrap_or(0);
            let variants: Vec<ContextVariant> = experiment
                .variant_ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let cell = cells.iter().find(|c| c.variant_id == *id);
                    ContextVariant {
                        key: spec.variants[i].key.to_string(),
                        users: cell.map_or(0, |c| c.users),
                        conversions: cell.map_or(0, |c| c.conversions),
                        value_sum: cell.map_or(0.0, |c| c.value_sum),
                        rate: rates[i],
                        value_per_user: values.as_ref().map(|v| v[i]),
                        probability_best: best_probs[i],
                    }
                })
                .collect();
            let users = variants.iter().map(|v| v.users).sum();
            (
                ContextResults {
                    context: context_object(&spec.context_names(), key),
                    key: key.to_string(),
                    users,
                    best_variant: spec.variants[best].key.to_string(),
                    probability_best: best_probs[best],
                    variants,
                },
                posteriors,
                best,
            )
        })
        .collect();
    contexts.sort_by(|a, b| {
        b.0.users
            .cmp(&a.0.users)
            .then_with(|| a.0.key.cmp(&b.0.key))
    });
    let personalization = personalization(experiment, &contexts);
    (contexts.into_iter().map(|s| s.0).collect(), personalization)
}

/// How the results per context are computed, for the results' notes.
pub fn note(experiment: &Experiment) -> String {
    format!(
        "Contexts (attributes: {}): each context's posterior starts from a prior centred on the pooled \
         posterior of the variant, worth min(users, {PRIOR_STRENGTH}) users, so small contexts borrow \
         strength from everyone. The best variant of a context is its most probably best one. \
         `personalization` compares giving every context its best variant with giving everyone the \
         single best one, over up to {PERSONALIZATION_DRAWS} posterior draws with a fixed seed.",
        experiment.spec.context_names().join(", ")
    )
}

/// Revenue goal: the conversion rates of a context (users with a goal event), pooled prior.
fn context_rates(
    experiment: &Experiment,
    pooled: &[VariantStats],
    cells: &[&ContextStats],
) -> Vec<Interval> {
    let n = |x: i64| x.max(0) as u64;
    experiment
        .variant_ids
        .iter()
        .map(|&id| {
            let (pn, pc) = pooled
                .iter()
                .find(|s| s.variant_id == id)
                .map_or((0, 0), |s| (n(s.users), n(s.conversions)));
            let (sn, sc) = cells
                .iter()
                .find(|s| s.variant_id == id)
                .map_or((0, 0), |s| (n(s.users), n(s.conversions)));
            pooling::context_beta(pn, pc, sn, sc, PRIOR_STRENGTH).interval(INTERVAL_LEVEL)
        })
        .collect()
}

/// Monte Carlo over the contexts' posteriors (seeded, so stable for the same statistics):
/// the expected rate of giving every context its best variant against the single best
/// variant for everyone, contexts weighted by their share of users.
fn personalization(
    experiment: &Experiment,
    contexts: &[(ContextResults, Posteriors, usize)],
) -> Option<PersonalizationValue> {
    let total: i64 = contexts.iter().map(|s| s.0.users).sum();
    if total <= 0 {
        return None;
    }
    let shares: Vec<f64> = contexts
        .iter()
        .map(|s| s.0.users as f64 / total as f64)
        .collect();
    let best: Vec<usize> = contexts.iter().map(|s| s.2).collect();
    let cells = contexts.len() * experiment.variant_ids.len();
    let count = (PERSONALIZATION_SAMPLES / cells.max(1)).clamp(200, PERSONALIZATION_DRAWS);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(PERSONALIZATION_SEED);
    let mut draws = Vec::with_capacity(count);
    for _ in 0..count {
        let draw: Option<Vec<Vec<f64>>> = contexts
            .iter()
            .map(|(_, posteriors, _)| match posteriors {
                Posteriors::Conversion(arms) => Some(
                    arms.iter()
                        .map(|a| thompson::sample_beta(a.alpha, a.beta, &mut rng))
                        .collect(),
                ),
                Posteriors::Revenue(arms) => arms
                    .iter()
                    .map(|a| {
                        let sd = a.variance_of_mean().sqrt();
                        let z: f64 = StandardNormal.sample(&mut rng);
                        sd.is_finite().then(|| a.mean() + z * sd)
                    })
                    .collect(),
            })
            .collect();
        // A revenue arm without a proper posterior yet: no estimate.
        draws.push(draw?);
    }
    let p = pooling::personalization(&draws, &shares, &best)?;
    Some(PersonalizationValue {
        per_context_rate: p.per_context,
        best_single_rate: p.best_single,
        best_single_variant: experiment.spec.variants[p.best_single_variant]
            .key
            .to_string(),
        gain: Interval {
            mean: p.gain.0,
            low: p.gain.1,
            high: p.gain.2,
        },
        draws: count,
        prior_strength: PRIOR_STRENGTH,
    })
}
