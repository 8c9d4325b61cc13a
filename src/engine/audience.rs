//! An experiment's audience, compiled for the hot path: its targeting tree with segment
//! references resolved, its pinned rules and its layer range.
//!
//! Compilation happens when the snapshot is rebuilt (segments are inlined: a segment edit
//! reaches every instance with the next refresh); evaluation walks a boxed tree by reference
//! and allocates nothing.

use super::hashing;
use crate::domain::behavior::Behavior;
use crate::domain::{Condition, ExperimentSpec, Rule, Segment, Subject};
use std::collections::HashMap;
use std::sync::Arc;

/// A rule, compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Always,
    Never,
    Condition(Condition),
    Behavior(Behavior),
    All(Box<[Matcher]>),
    Any(Box<[Matcher]>),
}

impl Matcher {
    pub fn matches(&self, subject: &Subject) -> bool {
        match self {
            Matcher::Always => true,
            Matcher::Never => false,
            Matcher::Condition(c) => c.matches(subject.attributes),
            Matcher::Behavior(b) => b.matches(subject.profile, subject.now),
            Matcher::All(parts) => parts.iter().all(|m| m.matches(subject)),
            Matcher::Any(parts) => parts.iter().any(|m| m.matches(subject)),
        }
    }

    /// Whether evaluating it reads the user's profile.
    pub fn needs_profile(&self) -> bool {
        match self {
            Matcher::Behavior(_) => true,
            Matcher::All(parts) | Matcher::Any(parts) => parts.iter().any(Matcher::needs_profile),
            Matcher::Always | Matcher::Never | Matcher::Condition(_) => false,
        }
    }

    /// Every rule of `rules` must hold.
    pub fn all_of(rules: &[Rule], segments: &SegmentCatalog) -> Matcher {
        Self::group(true, rules.iter().map(|r| Self::compile(r, segments)))
    }

    pub fn compile(rule: &Rule, segments: &SegmentCatalog) -> Matcher {
        match rule {
            Rule::Condition(c) => Matcher::Condition(c.clone()),
            Rule::Behavior(b) => Matcher::Behavior(b.clone()),
            Rule::All(rules) => Self::all_of(rules, segments),
            Rule::Any(rules) => {
                Self::group(false, rules.iter().map(|r| Self::compile(r, segments)))
            }
            // Segments cannot reference segments (refused when saved), so this ends.
            Rule::Segment(key) => match segments.get(key.as_str()) {
                Some(rule) => Self::compile(rule, segments),
                None => {
                    tracing::warn!(segment = %key, "unknown segment in a rule: it matches nobody");
                    Matcher::Never
                }
            },
        }
    }

    /// An AND (`all`) or OR group, simplified: constants fold, nested groups of the same
    /// kind flatten, a group of one is that one.
    fn group(all: bool, parts: impl Iterator<Item = Matcher>) -> Matcher {
        let (unit, absorbing) = if all {
            (Matcher::Always, Matcher::Never)
        } else {
            (Matcher::Never, Matcher::Always)
        };
        let mut out = Vec::new();
        for part in parts {
            match part {
                p if p == unit => {}
                p if p == absorbing => return absorbing,
                Matcher::All(inner) if all => out.extend(inner.into_vec()),
                Matcher::Any(inner) if !all => out.extend(inner.into_vec()),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => unit,
            1 => out.pop().expect("one part"),
            _ if all => Matcher::All(out.into_boxed_slice()),
            _ => Matcher::Any(out.into_boxed_slice()),
        }
    }
}

/// The named segments as of the last refresh, by key: what segment references resolve to.
#[derive(Debug, Default)]
pub struct SegmentCatalog {
    rules: HashMap<String, Rule>,
    names: HashMap<String, String>,
    /// Changes whenever any segment's rule changes (experiments then recompile).
    pub fingerprint: u64,
}

impl SegmentCatalog {
    pub fn new(segments: Vec<Segment>) -> Self {
        let mut text = String::new();
        let mut rules = HashMap::with_capacity(segments.len());
        let mut names = HashMap::with_capacity(segments.len());
        for s in segments {
            text.push_str(s.spec.key.as_str());
            text.push('\u{1}');
            text.push_str(&s.spec.rule.to_json().to_string());
            text.push('\u{2}');
            names.insert(s.spec.key.to_string(), s.spec.name);
            rules.insert(s.spec.key.into_inner(), s.spec.rule);
        }
        SegmentCatalog {
            rules,
            names,
            fingerprint: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Rule> {
        self.rules.get(key)
    }

    pub fn name(&self, key: &str) -> Option<&str> {
        self.names.get(key).map(String::as_str)
    }

    /// Segment names by key.
    pub fn names(&self) -> &HashMap<String, String> {
        &self.names
    }
}

/// One pinned rule: users the segment matches get `variant`.
#[derive(Debug)]
pub struct PinnedMatcher {
    pub segment: Arc<str>,
    pub matcher: Matcher,
    pub variant: usize,
}

/// Who an experiment is for, compiled: its targeting, its pinned rules and its layer range.
#[derive(Debug)]
pub struct Audience {
    pub targeting: Matcher,
    pub pinned: Box<[PinnedMatcher]>,
    /// (seed of the layer's hash, from, to)
    pub layer: Option<(u64, f64, f64)>,
    /// Whether its targeting or pinned rules read the user's profile.
    pub needs_profile: bool,
}

impl Audience {
    pub fn compile(spec: &ExperimentSpec, segments: &SegmentCatalog) -> Self {
        let targeting = Matcher::all_of(spec.targeting.rules(), segments);
        let pinned: Box<[PinnedMatcher]> = spec
            .pinned_rules
            .iter()
            .filter_map(|r| {
                Some(PinnedMatcher {
                    segment: Arc::from(r.segment.as_str()),
                    matcher: Matcher::compile(&Rule::Segment(r.segment.clone()), segments),
                    variant: spec.variant_index(r.variant.as_str())?,
                })
            })
            .collect();
        Audience {
            needs_profile: targeting.needs_profile()
                || pinned.iter().any(|p| p.matcher.needs_profile()),
            targeting,
            pinned,
            layer: spec
                .layer
                .as_ref()
                .map(|l| (layer_seed(l.key.as_str()), l.from, l.to)),
        }
    }

    /// The first pinned rule the user matches: (segment key, variant index).
    pub fn pinned(&self, subject: &Subject) -> Option<&PinnedMatcher> {
        self.pinned.iter().find(|p| p.matcher.matches(subject))
    }

    /// Whether the user falls in the experiment's layer range (always, without a layer).
    pub fn in_layer(&self, user_id: &str) -> bool {
        match self.layer {
            None => true,
            Some((seed, from, to)) => {
                let u = hashing::unit_interval(seed, user_id);
                from <= u && u < to
            }
        }
    }
}

/// A layer's hash seed: independent of every experiment's own hashes.
pub fn layer_seed(layer_key: &str) -> u64 {
    hashing::seed(&format!("layer:{layer_key}"), "layer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fuzz;
    use crate::domain::{Attributes, Op, SegmentKey, SegmentSpec, Targeting};
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    const ATTRS: &[&str] = &["platform", "visits", "premium"];

    fn value_strategy() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec!["ios", "android", "web"]).prop_map(|s| json!(s)),
            (0i64..4).prop_map(|n| json!(n)),
            any::<bool>().prop_map(|b| json!(b)),
        ]
    }

    fn condition_strategy() -> impl Strategy<Value = Condition> {
        (
            prop::sample::select(ATTRS.to_vec()),
            prop::sample::select(Op::ALL),
            value_strategy(),
            prop::collection::vec(value_strategy(), 1..3),
            any::<bool>(),
        )
            .prop_map(|(attribute, op, value, list, exists)| Condition {
                attribute: attribute.to_string(),
                op,
                value: match op {
                    Op::In | Op::NotIn => Some(Value::Array(list)),
                    Op::Exists => Some(Value::Bool(exists)),
                    Op::Lt | Op::Lte | Op::Gt | Op::Gte if value.is_boolean() => Some(json!(2)),
                    _ => Some(value),
                },
            })
    }

    fn rule_strategy(segments: bool) -> impl Strategy<Value = Rule> {
        let leaf = if segments {
            prop_oneof![
                3 => condition_strategy().prop_map(Rule::Condition),
                1 => prop::sample::select(vec!["s0", "s1", "missing"])
                    .prop_map(|k| Rule::Segment(SegmentKey::parse(k).unwrap())),
            ]
            .boxed()
        } else {
            condition_strategy().prop_map(Rule::Condition).boxed()
        };
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Rule::All),
                prop::collection::vec(inner, 1..4).prop_map(Rule::Any),
            ]
        })
    }

    fn attributes_strategy() -> impl Strategy<Value = Attributes> {
        prop::collection::vec(prop::option::of(value_strategy()), 3).prop_map(|values| {
            let mut map = Map::new();
            for (name, v) in ATTRS.iter().zip(values) {
                if let Some(v) = v {
                    map.insert(name.to_string(), v);
                }
            }
            Attributes::parse(map).unwrap()
        })
    }

    fn segments_of(rules: &[Rule]) -> SegmentCatalog {
        let now = chrono::Utc::now();
        SegmentCatalog::new(
            rules
                .iter()
                .enumerate()
                .map(|(i, rule)| Segment {
                    spec: SegmentSpec {
                        key: SegmentKey::parse(format!("s{i}")).unwrap(),
                        name: format!("Segment {i}"),
                        description: String::new(),
                        rule: rule.clone(),
                    },
                    created_at: now,
                    updated_at: now,
                })
                .collect(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The compiled evaluator answers exactly as the naive recursive reading of the rule.
        #[test]
        fn compiled_equals_naive(
            rule in rule_strategy(true),
            seg0 in rule_strategy(false),
            seg1 in rule_strategy(false),
            users in prop::collection::vec(attributes_strategy(), 1..8),
        ) {
            let segments = segments_of(&[seg0, seg1]);
            let compiled = Matcher::compile(&rule, &segments);
            let lookup = |k: &str| segments.get(k);
            for attributes in &users {
                let subject = Subject::of(attributes);
                prop_assert_eq!(compiled.matches(&subject), rule.matches(&subject, &lookup));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The same on rules parsed from arbitrary JSON (nested past the depth limit, junk
        /// anywhere), against arbitrary attributes: never a panic, always the naive answer.
        #[test]
        fn compiled_equals_naive_on_arbitrary_targeting(
            rule in fuzz::rule_json(),
            segment_rules in prop::collection::vec(fuzz::rule_json(), 2),
            users in prop::collection::vec(fuzz::attribute_map(), 1..6),
        ) {
            let Ok(targeting) = Targeting::from_json(&rule) else { return Ok(()) };
            let segments = SegmentCatalog::new(fuzz::segments(&segment_rules));
            let compiled = Matcher::all_of(targeting.rules(), &segments);
            let lookup = |k: &str| segments.get(k);
            for map in users {
                let Ok(attributes) = Attributes::parse(map) else { continue };
                let subject = Subject::of(&attributes);
                prop_assert_eq!(compiled.matches(&subject), targeting.matches(&subject, &lookup));
            }
        }
    }

    #[test]
    fn groups_fold() {
        let segments = SegmentCatalog::default();
        let c = |v: i64| {
            Rule::Condition(Condition {
                attribute: "visits".into(),
                op: Op::Eq,
                value: Some(json!(v)),
            })
        };
        let nested = Rule::All(vec![c(1), Rule::All(vec![c(2), c(3)])]);
        assert!(matches!(Matcher::compile(&nested, &segments), Matcher::All(p) if p.len() == 3));
        let missing = Rule::Any(vec![Rule::Segment(SegmentKey::parse("gone").unwrap())]);
        assert_eq!(Matcher::compile(&missing, &segments), Matcher::Never);
        assert_eq!(Matcher::all_of(&[], &segments), Matcher::Always);
    }

    #[test]
    fn holdout_and_layers_hash_independently() {
        use crate::engine::holdout::in_holdout;
        let n = 20_000;
        let held = (0..n)
            .filter(|i| in_holdout(0.1, &format!("u-{i}")))
            .count() as f64;
        // Binomial(20000, 0.1): sd ≈ 42.
        assert!((held - 2000.0).abs() < 4.0 * 42.5, "{held}");
        let a = layer_seed("home");
        let both = (0..n)
            .filter(|i| {
                let u = format!("u-{i}");
                in_holdout(0.5, &u) && hashing::unit_interval(a, &u) < 0.5
            })
            .count() as f64;
        assert!((both - 5000.0).abs() < 4.0 * 61.3, "{both}");
    }
}
