//! Strategies shared by the property tests: arbitrary JSON, and JSON shaped like the API's
//! requests (the real field names and plausible values, so generated input reaches the
//! checks behind the first field instead of stopping at "unknown field").

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Field names of every request body (and some that belong nowhere).
pub const FIELDS: &[&str] = &[
    "user_id",
    "attributes",
    "experiments",
    "events",
    "event_id",
    "name",
    "value",
    "timestamp",
    "key",
    "description",
    "dimension",
    "kind",
    "variants",
    "control",
    "goal",
    "event",
    "metric",
    "targeting",
    "traffic",
    "floor",
    "min_users_per_arm",
    "min_runtime",
    "minimum_effect",
    "payload",
    "weight",
    "weights",
    "attribute",
    "op",
    "winner",
    "context",
    "targetingKey",
    "platform",
    "segment",
    "all",
    "any",
    "rule",
    "fraction",
    "layer",
    "",
    "__proto__",
];

/// Values the parsers give meaning to.
pub const WORDS: &[&str] = &[
    "a",
    "b",
    "ios",
    "push-time",
    "content",
    "timing",
    "trigger",
    "ab",
    "bandit",
    "conversion",
    "revenue",
    "eq",
    "neq",
    "in",
    "not_in",
    "lt",
    "lte",
    "gt",
    "gte",
    "exists",
    "like",
    "2026-01-31T12:00:00Z",
    "9999-12-31T23:59:59Z",
    "",
    " ",
    "\u{0}",
    "\u{7}",
    "é",
    "🦀",
    "A B",
    "-x",
    "1e999",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just(0.0),
            Just(0.5),
            Just(1.0),
            Just(-1.0),
            Just(1e-300),
            Just(f64::MAX)
        ]
        .prop_map(Value::from),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(str::to_string),
        ".{0,12}",
        "[a-z0-9._-]{1,70}",
        (1usize..300).prop_map(|n| "x".repeat(n)),
    ]
}

/// Any JSON value, nested a few levels.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((string(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// JSON objects whose keys are the API's field names, nested like requests.
pub fn request_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..8).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}
