//! Property tests ("fuzzing" with proptest): the request parsers the handlers use, fed
//! arbitrary bytes and arbitrary JSON values shaped like requests, never panic and either
//! parse or refuse with an error; what they accept satisfies the limits.
//! (The domain parsers and the targeting evaluator: `domain::fuzz`; OFREP's: in `ofrep`.)

use super::assign::AssignRequest;
use super::experiments::StopBody;
use super::json::parse;
use super::track::{TrackRequest, parse_events};
use crate::domain::{ExperimentDraft, ExperimentPatch};
use crate::engine::Limits;
use crate::fuzzing::{json_value, request_like};
use proptest::prelude::*;
use serde_json::{Value, json};

fn word() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(crate::fuzzing::WORDS).prop_map(Value::from),
        "[a-z0-9][a-z0-9._-]{0,70}".prop_map(Value::from),
        json_value(),
    ]
}

/// Experiment drafts with every required field, so generated input gets past the first
/// missing field into validation (weights, control, targeting, traffic, floor...).
fn experiment_like() -> impl Strategy<Value = Value> {
    let variant = (
        word(),
        proptest::option::of(word()),
        json_value(),
        proptest::option::of(-0.5f64..1.5),
    )
        .prop_map(|(key, name, payload, weight)| {
            let mut v = json!({"key": key, "payload": payload});
            if let Some(name) = name {
                v["name"] = name;
            }
            if let Some(weight) = weight {
                v["weight"] = json!(weight);
            }
            v
        });
    let condition = (word(), word(), json_value()).prop_map(
        |(attribute, op, value)| json!({"attribute": attribute, "op": op, "value": value}),
    );
    (
        word(),
        word(),
        prop::sample::select(&["content", "timing", "trigger", "colour"][..]),
        prop::sample::select(&["ab", "bandit", "multi"][..]),
        proptest::collection::vec(variant, 0..6),
        proptest::option::of(word()),
        (
            word(),
            prop::sample::select(&["conversion", "revenue", "clicks"][..]),
        ),
        proptest::collection::vec(condition, 0..4),
        (
            proptest::option::of(-0.5f64..1.5),
            proptest::option::of(-0.1f64..0.6),
            proptest::option::of(any::<u32>()),
        ),
    )
        .prop_map(
            |(
                key,
                name,
                dimension,
                kind,
                variants,
                control,
                (event, metric),
                targeting,
                (traffic, floor, min_users),
            )| {
                let mut e = json!({
                    "key": key, "name": name, "dimension": dimension, "kind": kind,
                    "variants": variants, "goal": {"event": event, "metric": metric},
                    "targeting": targeting,
                });
                if let Some(c) = control {
                    e["control"] = c;
                }
                if let Some(t) = traffic {
                    e["traffic"] = json!(t);
                }
                if let Some(f) = floor {
                    e["floor"] = json!(f);
                }
                if let Some(m) = min_users {
                    e["min_users_per_arm"] = json!(m);
                }
                e
            },
        )
}

/// Assign bodies: a user and attributes of every kind and size.
fn assign_like() -> impl Strategy<Value = Value> {
    (
        prop_oneof![".{0,300}".prop_map(Value::from), json_value()],
        proptest::collection::vec(
            (
                "[a-z]{0,70}",
                prop_oneof![json_value(), ".{0,300}".prop_map(Value::from)],
            ),
            0..60,
        ),
        proptest::option::of(proptest::collection::vec(word(), 0..110)),
    )
        .prop_map(|(user, attributes, experiments)| {
            let attributes: serde_json::Map<String, Value> = attributes.into_iter().collect();
            let mut body = json!({"user_id": user, "attributes": attributes});
            if let Some(list) = experiments {
                body["experiments"] = Value::Array(list);
            }
            body
        })
}

fn check_assign(bytes: &[u8]) {
    if let Ok(request) = parse::<AssignRequest>(bytes) {
        let limits = Limits::DEFAULT;
        // Whatever the domain accepted is within the default limits: the handler's checks
        // agree with the domain's.
        assert!(
            limits
                .check_user_id("user_id", request.user_id.as_str())
                .is_ok()
        );
        assert!(limits.check_attributes(&request.attributes).is_ok());
        let strict = Limits {
            max_attributes: 1,
            max_attribute_name_bytes: 1,
            max_attribute_value_bytes: 1,
            max_user_id_bytes: 1,
            ..Limits::DEFAULT
        };
        let _ = strict.check_user_id("user_id", request.user_id.as_str());
        let _ = strict.check_attributes(&request.attributes);
    }
}

fn check_track(bytes: &[u8]) {
    if let Ok(request) = parse::<TrackRequest>(bytes) {
        let n = request.events.len();
        match parse_events(request.events, &Limits::DEFAULT) {
            Ok(events) => assert!((1..=1000).contains(&events.len()) && events.len() == n),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

fn check_experiment(bytes: &[u8]) {
    if let Ok(draft) = parse::<ExperimentDraft>(bytes)
        && let Ok(spec) = draft.validate()
    {
        assert!(spec.variants.len() >= 2);
        let total: f64 = spec.variants.iter().map(|v| v.weight).sum();
        assert!((total - 1.0).abs() < 1e-6, "weights sum to {total}");
    }
    if let Ok(patch) = parse::<ExperimentPatch>(bytes) {
        let base: ExperimentDraft = serde_json::from_value(serde_json::json!({
            "key": "base", "name": "Base", "dimension": "content", "kind": "ab",
            "variants": [{"key": "a"}, {"key": "b"}], "goal": {"event": "buy"}
        }))
        .unwrap();
        let spec = base.validate().unwrap();
        let _ = spec.patched(patch);
    }
    let _ = parse::<StopBody>(bytes);
    if let Ok(segment) = parse::<crate::domain::SegmentDraft>(bytes) {
        let path = crate::domain::SegmentKey::parse("s0").unwrap();
        let _ = segment.clone().validate(None);
        let _ = segment.validate(Some(&path));
    }
    if let Ok(holdout) = parse::<super::holdout::Holdout>(bytes) {
        let _ = crate::domain::check_holdout(holdout.fraction);
    }
}

fn all(bytes: &[u8]) {
    check_assign(bytes);
    check_track(bytes);
    check_experiment(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        all(&bytes);
    }

    #[test]
    fn arbitrary_json(value in json_value()) {
        all(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn request_shaped_json(value in request_like()) {
        all(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn experiment_shaped_json(value in experiment_like()) {
        all(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn assign_shaped_json(value in assign_like()) {
        all(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn truncated_and_corrupted_requests(value in request_like(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
        let mut bytes = serde_json::to_vec(&value).unwrap();
        let at = cut.index(bytes.len().max(1));
        if at < bytes.len() {
            bytes[at] ^= flip;
        }
        all(&bytes);
        bytes.truncate(at);
        all(&bytes);
    }
}
