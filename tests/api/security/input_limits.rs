//! Input limits (body size, events per request, attributes, names): clear 4xx that change
//! nothing, the configured ones enforced, and limits above the ceilings refused at start.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ASSIGN: &str = "/api/v1/assign";
const TRACK: &str = "/api/v1/track";
const EXPERIMENTS: &str = "/api/v1/experiments";

/// A request over a limit: refused with `status`, in a message that names the limit.
struct Refusal {
    method: Method,
    path: &'static str,
    body: Value,
    status: StatusCode,
    needle: &'static str,
}

/// A POST refused with 400, its message mentioning `needle`.
fn bad(path: &'static str, body: Value, needle: &'static str) -> Refusal {
    Refusal {
        method: Method::POST,
        path,
        body,
        status: StatusCode::BAD_REQUEST,
        needle,
    }
}

/// An assign whose body is over the size limit.
fn too_large(body: Value) -> Refusal {
    Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        ..bad(ASSIGN, body, "too large")
    }
}

impl Refusal {
    async fn check(self, app: &TestApp) {
        let Refusal {
            method,
            path,
            body,
            status,
            needle,
        } = self;
        let reply = app
            .request(method.clone(), path, Some(ADMIN_KEY), Some(body))
            .await;
        assert_eq!(reply.status, status, "{method} {path}: {:?}", reply.body);
        let code = reply.error_code().to_string();
        assert!(
            code == "invalid_request" || code == "payload_too_large" || code == "malformed_json",
            "{code}"
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{message:?} should mention {needle:?}"
        );
    }
}

fn events(n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"event_id": format!("e{i}"), "user_id": "u", "name": "purchase"}))
        .collect();
    json!({ "events": list })
}

fn attributes(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("a{i}"), json!(i))).collect())
}

/// `body` as `edit` leaves it.
fn edited(mut body: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut body);
    body
}

#[tokio::test]
async fn default_limits_answer_clear_4xx_and_change_nothing() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("limits", "ab"))
        .await;
    let long_name = json!("n".repeat(201));
    let refusals = [
        too_large(json!({"user_id": "u", "attributes": {"a": "x".repeat(1024 * 1024 + 1)}})),
        bad(TRACK, events(1001), "the limit is 1000"),
        bad(
            ASSIGN,
            json!({"user_id": "u", "attributes": attributes(51)}),
            "at most 50",
        ),
        bad(
            ASSIGN,
            json!({"user_id": "u", "attributes": {"k".repeat(65): 1}}),
            "64 bytes",
        ),
        bad(
            ASSIGN,
            json!({"user_id": "u", "attributes": {"k": "v".repeat(257)}}),
            "256 bytes",
        ),
        bad(ASSIGN, json!({"user_id": "u".repeat(257)}), "user_id"),
        bad(ASSIGN, json!({"user_id": "a\u{7}b"}), "control characters"),
        bad(
            TRACK,
            json!({"events": [{"user_id": "u".repeat(257), "name": "x"}]}),
            "user_id",
        ),
        bad(EXPERIMENTS, experiment_body("Bad Key", "ab"), "lowercase"),
        bad(
            EXPERIMENTS,
            edited(experiment_body("ok-key", "ab"), |b| {
                b["variants"][0]["key"] = json!("A B")
            }),
            "variants[0].key",
        ),
        bad(
            EXPERIMENTS,
            edited(experiment_body("named", "ab"), |b| {
                b["name"] = long_name.clone()
            }),
            "200 bytes",
        ),
        bad(
            EXPERIMENTS,
            edited(experiment_body("named", "ab"), |b| {
                b["variants"][1]["name"] = long_name.clone()
            }),
            "200",
        ),
        Refusal {
            method: Method::PATCH,
            ..bad(
                "/api/v1/experiments/limits",
                json!({"name": long_name}),
                "200 bytes",
            )
        },
    ];
    for refusal in refusals {
        refusal.check(&app).await;
    }

    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM experiments WHERE name = 'Experiment limits'"),
        1
    );
    // At the limits, everything is accepted.
    let at = app
        .assign(json!({"user_id": "u".repeat(256), "attributes": attributes(50)}))
        .await;
    assert_eq!(at.status, StatusCode::OK, "{:?}", at.body);
    assert_eq!(
        app.track(events(1000)["events"].clone()).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn configured_limits_are_enforced() {
    let app = spawn_app_with(|settings| {
        settings.engine.limits.max_body_bytes = 4096;
        settings.engine.limits.max_events_per_request = 3;
        settings.engine.limits.max_attributes = 2;
        settings.engine.limits.max_attribute_name_bytes = 8;
        settings.engine.limits.max_attribute_value_bytes = 10;
        settings.engine.limits.max_user_id_bytes = 12;
        settings.engine.limits.max_name_bytes = 20;
    })
    .await;
    app.running_experiment(experiment_body("small", "ab")).await;
    let refusals = [
        too_large(json!({"user_id": "u", "attributes": {"a": "x".repeat(5000)}})),
        bad(TRACK, events(4), "the limit is 3"),
        bad(
            ASSIGN,
            json!({"user_id": "u", "attributes": attributes(3)}),
            "at most 2",
        ),
        bad(
            ASSIGN,
            json!({"user_id": "u", "attributes": {"long-name": 1}}),
            "8 bytes",
        ),
        bad(
            ASSIGN,
            json!({"user_id": "u", "attributes": {"k": "12345678901"}}),
            "10 bytes",
        ),
        bad(ASSIGN, json!({"user_id": "1234567890123"}), "12 bytes"),
        bad(
            TRACK,
            json!({"events": [{"user_id": "1234567890123", "name": "x"}]}),
            "12 bytes",
        ),
        bad(
            EXPERIMENTS,
            edited(experiment_body("named", "ab"), |b| {
                b["name"] = json!("n".repeat(21))
            }),
            "20 bytes",
        ),
        // Segments and edits are held to the same limit (the engine checks every door).
        bad(
            "/api/v1/segments",
            json!({"key": "long", "name": "n".repeat(21), "rule": {"attribute": "platform", "op": "eq", "value": "ios"}}),
            "20 bytes",
        ),
        Refusal {
            method: Method::PUT,
            ..bad(
                "/api/v1/segments/short",
                json!({"key": "short", "name": "n".repeat(21), "rule": {"attribute": "platform", "op": "eq", "value": "ios"}}),
                "20 bytes",
            )
        },
        Refusal {
            method: Method::PATCH,
            ..bad(
                "/api/v1/experiments/small",
                json!({"name": "n".repeat(21)}),
                "20 bytes",
            )
        },
    ];
    let segment = json!({"key": "short", "name": "Short", "rule": {"attribute": "platform", "op": "eq", "value": "ios"}});
    assert_eq!(
        app.admin(Method::POST, "/api/v1/segments", Some(segment))
            .await
            .status,
        StatusCode::CREATED
    );
    for refusal in refusals {
        refusal.check(&app).await;
    }
    let ofrep = app
        .request(
            Method::POST,
            "/ofrep/v1/evaluate/flags/small",
            Some(CLIENT_KEY),
            Some(json!({"context": {"targetingKey": "1234567890123"}})),
        )
        .await;
    assert_eq!(ofrep.status, StatusCode::BAD_REQUEST);
    assert_eq!(ofrep.body["errorCode"], "INVALID_CONTEXT");

    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
    let ok = app
        .assign(json!({"user_id": "123456789012", "attributes": {"k": "1234567890", "n": 1}}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        app.track(events(3)["events"].clone()).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn limits_above_the_ceilings_are_refused_at_start() {
    let error = start_refused_with(|settings| settings.engine.limits.max_attributes = 51).await;
    assert!(error.contains("max_attributes"), "{error}");
}
