//! Property tests of the domain's parsers and the targeting evaluator: arbitrary input either
//! parses or is refused (never a panic), what parses keeps its invariants (it reads back the
//! same), the naive evaluator never panics on any rule against any attributes, and the
//! negative operators are the exact complements of the positive ones. The strategies are
//! shared with the engine's tests (its compiled evaluator must agree with the naive one).

use super::Subject;
use super::{
    Attributes, Condition, EventName, ExperimentKey, Op, Rule, Segment, SegmentKey, SegmentSpec,
    Targeting, UserId, VariantKey,
};
use crate::fuzzing::json_value;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&["platform", "visits", "premium", "country", ""][..])
            .prop_map(str::to_string),
        ".{0,70}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        prop::sample::select(&["ios", "android", "fr", "3", ""][..]).prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    (
        attribute_name(),
        prop::sample::select(Op::ALL),
        prop_oneof![
            Just(None),
            scalar().prop_map(Some),
            prop::collection::vec(scalar(), 0..5).prop_map(|v| Some(Value::Array(v))),
            json_value().prop_map(Some),
        ],
    )
        // JSON cannot tell `"value": null` from no value: both read as `None`.
        .prop_map(|(attribute, op, value)| Condition {
            attribute,
            op,
            value: value.filter(|v| !v.is_null()),
        })
}

/// Attributes as a request could send them (not yet parsed).
pub(crate) fn attribute_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(
        (
            attribute_name(),
            prop_oneof![scalar(), json_value(), Just(Value::Null)],
        ),
        0..60,
    )
    .prop_map(|pairs| pairs.into_iter().collect())
}

fn complement(op: Op) -> Option<Op> {
    match op {
        Op::Eq => Some(Op::Neq),
        Op::In => Some(Op::NotIn),
        _ => None,
    }
}

/// Rule-shaped JSON: conditions (valid-looking and not), segment references, `all`/`any`
/// groups nested past the depth limit, and junk anywhere.
pub(crate) fn rule_json() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        prop::sample::select(
            &[
                "eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "exists"
            ][..]
        )
        .prop_map(Value::from),
        json_value(),
    ];
    let leaf = prop_oneof![
        4 => (attribute_name(), op, prop_oneof![
                scalar(),
                prop::collection::vec(scalar(), 0..4).prop_map(Value::Array),
                json_value(),
            ])
            .prop_map(|(attribute, op, value)| json!({"attribute": attribute, "op": op, "value": value})),
        1 => (attribute_name(), any::<bool>()).prop_map(|(attribute, exists)| {
            json!({"attribute": attribute, "op": "exists", "value": exists})
        }),
        1 => prop::sample::select(&["s0", "s1", "missing", "Bad Key", ""][..])
            .prop_map(|k| json!({"segment": k})),
        1 => json_value(),
    ];
    leaf.prop_recursive(6, 80, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| json!({"all": v})),
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| json!({"any": v})),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            (inner.clone(), inner).prop_map(|(a, b)| json!({"all": [a], "any": [b]})),
        ]
    })
}

/// Segments `s0` and `s1` with the given rules (those that parse and reference no segment).
pub(crate) fn segments(rules: &[Value]) -> Vec<Segment> {
    let now = chrono::Utc::now();
    rules
        .iter()
        .enumerate()
        .filter_map(|(i, json)| {
            let rule = Rule::from_json(json, "rule").ok()?;
            let mut refs = Vec::new();
            rule.segment_refs(&mut refs);
            refs.is_empty().then(|| Segment {
                spec: SegmentSpec {
                    key: SegmentKey::parse(format!("s{i}")).unwrap(),
                    name: format!("Segment {i}"),
                    description: String::new(),
                    rule,
                },
                created_at: now,
                updated_at: now,
            })
        })
        .collect()
}

fn flip(rule: &Rule) -> Option<Rule> {
    match rule {
        Rule::Condition(c) => {
            complement(c.op).map(|op| Rule::Condition(Condition { op, ..c.clone() }))
        }
        _ => None,
    }
}
proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn identifiers_parse_or_refuse(text in ".{0,300}") {
        for ok in [
            ExperimentKey::parse(text.clone()).map(|k| k.into_inner()),
            VariantKey::parse(text.clone()).map(|k| k.into_inner()),
            UserId::parse(text.clone()).map(|k| k.into_inner()),
            EventName::parse(text.clone()).map(|k| k.into_inner()),
            SegmentKey::parse(text.clone()).map(|k| k.into_inner()),
        ].into_iter().flatten() {
            prop_assert_eq!(&ok, &text, "parsing keeps the text as it is");
            prop_assert!(!ok.is_empty() && !ok.chars().any(char::is_control));
        }
        if let Ok(key) = ExperimentKey::parse(text.clone()) {
            prop_assert!(key.as_str().len() <= 64);
            prop_assert!(key.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)));
        }
        let _ = super::TimeRange::parse(Some(&text), Some(&text));
    }

    #[test]
    fn conditions_evaluate_without_panicking_and_negations_are_complements(
        conditions in prop::collection::vec(condition(), 0..6),
        map in attribute_map(),
    ) {
        let attributes = Attributes::parse(map);
        if let Ok(attributes) = &attributes {
            prop_assert!(attributes.as_map().len() <= super::MAX_ATTRIBUTES);
            prop_assert!(attributes.as_map().values().all(|v| !v.is_null() && !v.is_array() && !v.is_object()));
            for c in &conditions {
                // Unvalidated conditions (as stored data could hold) evaluate too.
                let matched = c.matches(attributes);
                if let Some(op) = complement(c.op) {
                    let opposite = Condition { op, ..c.clone() };
                    prop_assert_ne!(matched, opposite.matches(attributes), "{:?}", c);
                }
            }
        }
        match Targeting::parse(conditions.clone()) {
            Ok(targeting) => prop_assert_eq!(targeting.rules().len(), conditions.len()),
            Err(e) => prop_assert!(e.field.starts_with("targeting")),
        }
    }

    #[test]
    fn rules_parse_or_refuse_and_evaluate(
        rule in rule_json(),
        segment_rules in prop::collection::vec(rule_json(), 2),
        users in prop::collection::vec(attribute_map(), 1..6),
    ) {
        let Ok(targeting) = Targeting::from_json(&rule) else { return Ok(()) };
        // What parsed reads back as itself.
        let again = Targeting::from_json(&serde_json::to_value(&targeting).unwrap());
        prop_assert_eq!(again.as_ref(), Ok(&targeting));
        let segments = segments(&segment_rules);
        let lookup = |k: &str| segments.iter().find(|s| s.spec.key.as_str() == k).map(|s| &s.spec.rule);
        for map in users {
            let Ok(attributes) = Attributes::parse(map) else { continue };
            let _ = targeting.matches(&Subject::of(&attributes), &lookup);
            for rule in targeting.rules() {
                if let (Rule::Condition(c), Some(Rule::Condition(opposite))) = (rule, flip(rule)) {
                    prop_assert_eq!(c.matches(&attributes), rule.matches(&Subject::of(&attributes), &lookup));
                    prop_assert_ne!(c.matches(&attributes), opposite.matches(&attributes));
                }
            }
        }
    }

    #[test]
    fn arbitrary_json_as_targeting_or_attributes(value in json_value()) {
        let _ = serde_json::from_value::<Targeting>(value.clone());
        let _ = Rule::from_json(&value, "rule");
        if let Ok(attributes) = serde_json::from_value::<Attributes>(value) {
            prop_assert!(attributes.as_map().len() <= super::MAX_ATTRIBUTES);
        }
    }
}
