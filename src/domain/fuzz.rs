//! Property tests of the domain's parsers and the targeting evaluator: arbitrary input either
//! parses or is refused (never a panic), what parses keeps its invariants, and the evaluator
//! never panics on any rule against any attributes, and its negative operators are the exact
//! complements of the positive ones.

use super::{Attributes, Condition, EventName, ExperimentKey, Op, Targeting, UserId, VariantKey};
use crate::fuzzing::json_value;
use proptest::prelude::*;
use serde_json::{Map, Value};

const OPS: [Op; 9] = [
    Op::Eq,
    Op::Neq,
    Op::In,
    Op::NotIn,
    Op::Lt,
    Op::Lte,
    Op::Gt,
    Op::Gte,
    Op::Exists,
];

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
        prop::sample::select(&OPS[..]),
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

fn attribute_map() -> impl Strategy<Value = Map<String, Value>> {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn identifiers_parse_or_refuse(text in ".{0,300}") {
        for ok in [
            ExperimentKey::parse(text.clone()).map(|k| k.into_inner()),
            VariantKey::parse(text.clone()).map(|k| k.into_inner()),
            UserId::parse(text.clone()).map(|k| k.into_inner()),
            EventName::parse(text.clone()).map(|k| k.into_inner()),
        ].into_iter().flatten() {
            prop_assert_eq!(&ok, &text, "parsing keeps the text as it is");
            prop_assert!(!ok.is_empty() && !ok.chars().any(char::is_control));
        }
        if let Ok(key) = ExperimentKey::parse(text.clone()) {
            prop_assert!(key.as_str().len() <= 64);
            prop_assert!(key.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)));
        }
        let _ = crate::engine::export::parse_time(&text);
    }

    #[test]
    fn targeting_rules_parse_or_refuse_and_evaluate_without_panicking(
        conditions in prop::collection::vec(condition(), 0..6),
        map in attribute_map(),
    ) {
        // Unvalidated conditions (as stored data could hold) evaluate without panicking.
        let attributes = Attributes::parse(map.clone());
        if let Ok(attributes) = &attributes {
            prop_assert!(attributes.as_map().len() <= super::MAX_ATTRIBUTES);
            prop_assert!(attributes.as_map().values().all(|v| !v.is_null() && !v.is_array() && !v.is_object()));
            for c in &conditions {
                let _ = c.matches(attributes);
            }
        }
        // Through JSON, as the API receives them.
        let as_json = serde_json::to_value(&conditions).unwrap();
        let from_json = serde_json::from_value::<Targeting>(as_json);
        match (Targeting::parse(conditions.clone()), from_json) {
            (Ok(targeting), Ok(again)) => {
                prop_assert_eq!(&targeting, &again);
                if let Ok(attributes) = &attributes {
                    let all = targeting.matches(attributes);
                    let each = targeting.conditions().iter().all(|c| c.matches(attributes));
                    prop_assert_eq!(all, each);
                    for c in targeting.conditions() {
                        if let Some(negated) = complement(c.op) {
                            let opposite = Condition { op: negated, ..c.clone() };
                            prop_assert_ne!(c.matches(attributes), opposite.matches(attributes), "{:?}", c);
                        }
                    }
                }
            }
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "parse and deserialize disagree: {:?} vs {:?}", a, b),
        }
    }

    #[test]
    fn arbitrary_json_as_targeting_or_attributes(value in json_value()) {
        let _ = serde_json::from_value::<Targeting>(value.clone());
        if let Ok(attributes) = serde_json::from_value::<Attributes>(value) {
            prop_assert!(attributes.as_map().len() <= super::MAX_ATTRIBUTES);
        }
    }
}
