//! Contextual experiments: a user's context (the values of the experiment's context
//! attributes), per-context bandit policies compiled into the snapshot, and per-context results with the value of personalization.
//!
//! - **Context key**: the values of the experiment's context attributes at assignment, as a
//!   JSON array of strings in the experiment's order (`["ios","true"]`): strings as they are,
//!   numbers and booleans as their JSON text, a missing attribute as `"(none)"`. Stored on the
//!   assignment row, so per-context statistics can be rebuilt from the raw rows.
//! - **Bounded**: each experiment keeps at most [`MAX_CONTEXTS`] distinct contexts; users of
//!   any further context share the `(other)` bucket (every value `"(other)"`). The cap is
//!   kept per instance by a registry carried across snapshots (like the sticky cache), seeded
//!   from the stored statistics at every refresh; instances admitting new contexts at the
//!   same moment may overshoot it by a few.
//! - **Assignment** (bandits): each known context has Thompson posteriors with a prior centred
//!   on the pooled posterior (`stats::contextual`), and its allocation (probability best with
//!   the floor) computed at refresh; the logged propensity is the chosen variant's share in
//!   the user's context. A context first seen since the last refresh uses the pooled policy.
//!   A/B experiments keep their fixed weights; their context only feeds per-context results.

use super::snapshot::{LiveExperiment, Policy, Posteriors};
use crate::domain::{Attributes, Experiment, Kind, Metric};
use crate::stats::Interval;
use crate::stats::beta;
use crate::stats::contextual::{self as pooling, PRIOR_STRENGTH};
use crate::stats::gaussian::{self, MeanPosterior};
use crate::stats::thompson;
use crate::store::{ContextStats, VariantStats};
use dashmap::DashMap;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Distinct contexts an experiment keeps before new ones share the `(other)` bucket.
pub const MAX_CONTEXTS: usize = 64;
/// The value of a context attribute the user did not send.
pub const NONE_VALUE: &str = "(none)";
/// Every value of the overflow bucket.
pub const OTHER_VALUE: &str = "(other)";
/// Posterior draws behind the personalization estimate (fixed seed: the same statistics
/// always give the same numbers)...
pub const PERSONALIZATION_DRAWS: usize = 2000;
/// ...fewer when there are many contexts and variants, so one estimate costs at most this
/// many posterior samples (never fewer than 200 draws).
const PERSONALIZATION_SAMPLES: usize = 400_000;
const PERSONALIZATION_SEED: u64 = 0x5EED_C0DE;
const INTERVAL_LEVEL: f64 = super::results::INTERVAL_LEVEL;

/// The context key of a user with these attributes.
pub fn context_key(names: &[String], attributes: &Attributes) -> String {
    let map = attributes.as_map();
    let values: Vec<String> = names
        .iter()
        .map(|name| match map.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => NONE_VALUE.to_string(),
        })
        .collect();
    serde_json::to_string(&values).expect("strings serialize")
}

/// The key of the overflow bucket.
pub fn other_key(names: &[String]) -> String {
    serde_json::to_string(&vec![OTHER_VALUE; names.len()]).expect("strings serialize")
}

/// A context key as an object `{"platform": "ios", ...}` (for people and exports).
pub fn context_object(names: &[String], key: &str) -> Map<String, Value> {
    let values: Vec<String> = serde_json::from_str(key).unwrap_or_default();
    names
        .iter()
        .zip(
            values
                .into_iter()
                .chain(std::iter::repeat(NONE_VALUE.to_string())),
        )
        .map(|(n, v)| (n.clone(), Value::String(v)))
        .collect()
}

/// `platform = ios, returning = true`.
pub fn context_label(names: &[String], key: &str) -> String {
    context_object(names, key)
        .into_iter()
        .map(|(n, v)| format!("{n} = {}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The contexts one experiment has admitted in this instance. Shared by every snapshot of
/// the experiment, so the cap holds between refreshes; a sharded map, so new users of
/// different contexts do not wait on one lock.
#[derive(Default)]
pub struct ContextRegistry {
    known: DashMap<String, ()>,
    count: AtomicUsize,
}

impl ContextRegistry {
    /// The key to store for a user whose context is `key`: itself, or `other` once the
    /// experiment has [`MAX_CONTEXTS`] contexts.
    pub fn admit(&self, key: String, other: impl FnOnce() -> String) -> String {
        if self.known.contains_key(&key) {
            return key;
        }
        if self.count.load(Ordering::Relaxed) >= MAX_CONTEXTS {
            return other();
        }
        if self.known.insert(key.clone(), ()).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        key
    }

    /// Records a context that is stored already (it counts against the cap).
    fn learn(&self, key: &str, other: &str) {
        if key != other
            && !self.known.contains_key(key)
            && self.known.insert(key.to_string(), ()).is_none()
        {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One context's Thompson policy: posteriors and the exact allocation (the propensities).
pub struct ContextPolicy {
    pub posteriors: Posteriors,
    pub allocation: Vec<f64>,
}

/// The compiled context of a live experiment.
pub struct LiveContext {
    pub names: Vec<String>,
    pub other_key: String,
    pub registry: Arc<ContextRegistry>,
    /// Bandits: the policy of every context with statistics at the last refresh.
    pub policies: HashMap<String, ContextPolicy>,
    /// The statistics the contexts were built from (to skip needless recompiles).
    pub stats: Vec<ContextStats>,
}

impl LiveContext {
    /// `None` for an experiment without context attributes.
    pub fn compile(
        experiment: &Experiment,
        pooled: &[VariantStats],
        stats: Vec<ContextStats>,
        registry: Arc<ContextRegistry>,
    ) -> Option<LiveContext> {
        let spec = &experiment.spec;
        if spec.context.is_empty() {
            return None;
        }
        let other_key = other_key(&spec.context);
        for s in &stats {
            registry.learn(&s.context_key, &other_key);
        }
        let contexts = if spec.kind == Kind::Bandit {
            by_context(&stats)
                .into_iter()
                .map(|(key, cells)| {
                    let posteriors = context_posteriors(experiment, pooled, &cells);
                    let allocation = allocation(&posteriors, spec.floor);
                    (
                        key.to_string(),
                        ContextPolicy {
                            posteriors,
                            allocation,
                        },
                    )
                })
                .collect()
        } else {
            HashMap::new()
        };
        Some(LiveContext {
            names: spec.context.clone(),
            other_key,
            registry,
            policies: contexts,
            stats,
        })
    }

    /// The (admitted) context key of a user.
    pub fn key_of(&self, attributes: &Attributes) -> String {
        self.registry
            .admit(context_key(&self.names, attributes), || {
                self.other_key.clone()
            })
    }
}

/// A new user's variant, its propensity and the allocation it was drawn from, in their
/// context; `None` when the pooled policy decides (A/B, or a context first seen
/// since the last refresh).
pub fn decide_in_context<'a>(
    experiment: &'a LiveExperiment,
    context_key: &str,
) -> Option<(usize, f64, &'a [f64])> {
    let Policy::Bandit { floor, .. } = &experiment.policy else {
        return None;
    };
    let context = experiment.context.as_ref()?.policies.get(context_key)?;
    let v = context.posteriors.sample(*floor, &mut rand::rng());
    Some((v, context.allocation[v], &context.allocation))
}

/// The allocation a new user of this context gets now (the pooled one for an unknown
/// context or a non-contextual experiment).
pub fn current_allocation<'a>(experiment: &'a LiveExperiment, context_key: &str) -> &'a [f64] {
    experiment
        .context
        .as_ref()
        .and_then(|c| c.policies.get(context_key))
        .map_or_else(|| experiment.policy.allocation(), |s| &s.allocation[..])
}

fn allocation(posteriors: &Posteriors, floor: f64) -> Vec<f64> {
    match posteriors {
        Posteriors::Conversion(arms) => thompson::allocation(arms, floor),
        Posteriors::Revenue(arms) => thompson::allocation_gaussian(arms, floor),
    }
}

/// Statistics grouped by context (keys in order).
fn by_context(stats: &[ContextStats]) -> Vec<(&str, Vec<&ContextStats>)> {
    let mut groups: Vec<(&str, Vec<&ContextStats>)> = Vec::new();
    for s in stats {
        match groups.last_mut() {
            Some((k, cells)) if *k == s.context_key => cells.push(s),
            _ => groups.push((&s.context_key, vec![s])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(b.0));
    // Statistics come sorted by context from the store; merge any split groups anyway.
    groups.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1.append(&mut b.1);
            true
        } else {
            false
        }
    });
    groups
}

/// One context's posteriors per variant (in variant order), with the prior centred on the
/// pooled posterior of each variant.
pub fn context_posteriors(
    experiment: &Experiment,
    pooled: &[VariantStats],
    cells: &[&ContextStats],
) -> Posteriors {
    let ids = &experiment.variant_ids;
    let pooled_of = |id: i64| pooled.iter().find(|s| s.variant_id == id);
    let cell_of = |id: i64| cells.iter().find(|s| s.variant_id == id);
    let n = |x: i64| x.max(0) as u64;
    match experiment.spec.goal.metric {
        Metric::Conversion => Posteriors::Conversion(
            ids.iter()
                .map(|&id| {
                    let (pn, pc) = pooled_of(id).map_or((0, 0), |s| (n(s.users), n(s.conversions)));
                    let (sn, sc) = cell_of(id).map_or((0, 0), |s| (n(s.users), n(s.conversions)));
                    pooling::context_beta(pn, pc, sn, sc, PRIOR_STRENGTH)
                })
                .collect(),
        ),
        Metric::Revenue => Posteriors::Revenue(
            ids.iter()
                .map(|&id| {
                    let p = pooled_of(id).map_or(MeanPosterior::from_sums(0, 0.0, 0.0), |s| {
                        MeanPosterior::from_sums(n(s.users), s.value_sum, s.value_sum_sq)
                    });
                    let (sn, sum, sum_sq) = cell_of(id)
                        .map_or((0, 0.0, 0.0), |s| (n(s.users), s.value_sum, s.value_sum_sq));
                    pooling::context_mean(&p, sn, sum, sum_sq, PRIOR_STRENGTH)
                })
                .collect(),
        ),
    }
}

// ---- results per context ------------------------------------------------------------------

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
    if spec.context.is_empty() {
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
                    context: context_object(&spec.context, key),
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

/// Adds the contexts, the personalization estimate and a note on how they are computed.
pub fn fill_contexts(
    results: &mut super::results::ExperimentResults,
    experiment: &Experiment,
    pooled: &[VariantStats],
    stats: &[ContextStats],
) {
    if experiment.spec.context.is_empty() {
        return;
    }
    (results.contexts, results.personalization) = contexts(experiment, pooled, stats);
    results.notes.push(format!(
        "Contexts (attributes: {}): each context's posterior starts from a prior centred on the pooled \
         posterior of the variant, worth min(users, {PRIOR_STRENGTH}) users, so small contexts borrow \
         strength from everyone. The best variant of a context is its most probably best one. \
         `personalization` compares giving every context its best variant with giving everyone the \
         single best one, over up to {PERSONALIZATION_DRAWS} posterior draws with a fixed seed.",
        experiment.spec.context.join(", ")
    ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attributes {
        Attributes::parse(v.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn keys() {
        let names = vec![
            "platform".to_string(),
            "returning".to_string(),
            "visits".to_string(),
        ];
        let key = context_key(
            &names,
            &attrs(json!({"platform": "ios", "returning": true, "visits": 3})),
        );
        assert_eq!(key, r#"["ios","true","3"]"#);
        let key = context_key(&names, &attrs(json!({"returning": false})));
        assert_eq!(key, r#"["(none)","false","(none)"]"#);
        assert_eq!(
            Value::Object(context_object(&names, &key)),
            json!({"platform": "(none)", "returning": "false", "visits": "(none)"})
        );
        assert_eq!(context_label(&names[..1], r#"["ios"]"#), "platform = ios");
        // A separator inside a value cannot make two contexts collide.
        let two = vec!["a".to_string(), "b".to_string()];
        assert_ne!(
            context_key(&two, &attrs(json!({"a": "x\",\"y", "b": "z"}))),
            context_key(&two, &attrs(json!({"a": "x", "b": "y\",\"z"})))
        );
    }

    #[test]
    fn the_registry_caps_contexts() {
        let registry = ContextRegistry::default();
        let names = vec!["n".to_string()];
        for i in 0..MAX_CONTEXTS {
            assert_eq!(
                registry.admit(format!("[\"{i}\"]"), || other_key(&names)),
                format!("[\"{i}\"]")
            );
        }
        assert_eq!(
            registry.admit("[\"new\"]".into(), || other_key(&names)),
            r#"["(other)"]"#
        );
        // Known contexts stay themselves.
        assert_eq!(
            registry.admit("[\"3\"]".into(), || other_key(&names)),
            "[\"3\"]"
        );
        assert_eq!(registry.len(), MAX_CONTEXTS);
    }
}
