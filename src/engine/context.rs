//! Contexts of contextual experiments: a user's context (the values of the experiment's
//! context attributes) and the per-context bandit policies compiled into the snapshot. Their
//! results are in `context_results`.
//!
//! - **Context key**: the values of the experiment's context attributes at assignment, as a
//!   JSON array of strings in the experiment's order (`["ios","true"]`): strings as they are,
//!   numbers and booleans as their JSON text, a missing attribute as `"(none)"`. Stored on the
//!   assignment row, so per-context statistics can be rebuilt from the raw rows.
//! - **Bounded**: each experiment keeps at most [`MAX_CONTEXTS`] distinct contexts; users of
//!   any further context share the `(other)` bucket (every value `"(other)"`). The cap is
//!   kept per instance by a registry carried across snapshots, seeded
//!   from the stored statistics at every refresh; instances admitting new contexts at the
//!   same moment may overshoot it by a few.
//! - **Assignment** (bandits): each known context has Thompson posteriors with a prior centred
//!   on the pooled posterior (`stats::contextual`), and its allocation (probability best with
//!   the floor) computed at refresh; the logged propensity is the chosen variant's share in
//!   the user's context. A context first seen since the last refresh uses the pooled policy.
//!   A/B experiments keep their fixed weights; their context only feeds per-context results.

use super::audience::{Matcher, SegmentCatalog};
use super::policy::{OpenArms, Posteriors};
use crate::domain::{Attributes, Experiment, GoalMetric, PolicyKind, Rule, Subject};
use crate::stats::contextual::{self as pooling, PRIOR_STRENGTH};
use crate::stats::gaussian::MeanPosterior;
use crate::store::{ContextStats, VariantStats};
use dashmap::DashMap;
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

/// The context key of a user with these attributes.
pub fn context_key(names: &[String], attributes: &Attributes) -> String {
    serde_json::to_string(&attribute_values(names, attributes)).expect("strings serialize")
}

/// The values of the context attributes `names` of a user, in order.
fn attribute_values(names: &[String], attributes: &Attributes) -> Vec<String> {
    let map = attributes.as_map();
    names
        .iter()
        .map(|name| match map.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => NONE_VALUE.to_string(),
        })
        .collect()
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

/// One context's Thompson policy: the open arms' posteriors and the exact allocation (the
/// propensities; a dropped arm is out of every context too).
pub struct ContextPolicy {
    pub arms: OpenArms,
    pub allocation: Vec<f64>,
}

/// The compiled context of a live experiment.
pub struct LiveContext {
    /// The names of the context's values (attributes, then `segment` with context segments).
    pub names: Vec<String>,
    /// The context attributes.
    attributes: Vec<String>,
    /// The context segments, in order, compiled: the first a user matches is their value.
    segments: Box<[(String, Matcher)]>,
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
        catalog: &SegmentCatalog,
    ) -> Option<LiveContext> {
        let spec = &experiment.spec;
        let names = spec.context_names();
        if names.is_empty() {
            return None;
        }
        let other_key = other_key(&names);
        for s in &stats {
            registry.learn(&s.context_key, &other_key);
        }
        let contexts = if spec.policy == PolicyKind::Bandit {
            by_context(&stats)
                .into_iter()
                .map(|(key, cells)| {
                    let arms = OpenArms::new(
                        context_posteriors(experiment, pooled, &cells),
                        &experiment.dropped(),
                    );
                    let allocation = arms.allocation(spec.floor);
                    (key.to_string(), ContextPolicy { arms, allocation })
                })
                .collect()
        } else {
            HashMap::new()
        };
        Some(LiveContext {
            names,
            attributes: spec.context.clone(),
            segments: spec
                .context_segments
                .iter()
                .map(|key| {
                    let rule = Rule::Segment(key.clone());
                    (key.to_string(), Matcher::compile(&rule, catalog))
                })
                .collect(),
            other_key,
            registry,
            policies: contexts,
            stats,
        })
    }

    /// The (admitted) context key of a user.
    pub fn key_of(&self, subject: &Subject) -> String {
        let mut values = attribute_values(&self.attributes, subject.attributes);
        if !self.segments.is_empty() {
            let segment = self
                .segments
                .iter()
                .find(|(_, matcher)| matcher.matches(subject))
                .map_or(NONE_VALUE, |(key, _)| key.as_str());
            values.push(segment.to_string());
        }
        let key = serde_json::to_string(&values).expect("strings serialize");
        self.registry.admit(key, || self.other_key.clone())
    }

    /// Whether a user's context reads their profile (a behavioral context segment).
    pub fn needs_profile(&self) -> bool {
        self.segments.iter().any(|(_, m)| m.needs_profile())
    }
}

/// Statistics grouped by context (keys in order).
pub fn by_context(stats: &[ContextStats]) -> Vec<(&str, Vec<&ContextStats>)> {
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
        GoalMetric::Conversion => Posteriors::Conversion(
            ids.iter()
                .map(|&id| {
                    let (pn, pc) = pooled_of(id).map_or((0, 0), |s| (n(s.users), n(s.conversions)));
                    let (sn, sc) = cell_of(id).map_or((0, 0), |s| (n(s.users), n(s.conversions)));
                    pooling::context_beta(pn, pc, sn, sc, PRIOR_STRENGTH)
                })
                .collect(),
        ),
        GoalMetric::Revenue => Posteriors::Revenue(
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
