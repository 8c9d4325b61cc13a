//! Input limits (body size, events per request, attributes, names): clear 4xx that change
//! nothing, the configured ones enforced, and limits above the ceilings refused at start.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
    status: StatusCode,
    needle: &str,
) {
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

fn events(n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"event_id": format!("e{i}"), "user_id": "u", "name": "purchase"}))
        .collect();
    json!({ "events": list })
}

fn attributes(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("a{i}"), json!(i))).collect())
}

#[tokio::test]
async fn default_limits_answer_clear_4xx_and_change_nothing() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("limits", "ab"))
        .await;
    let bad = StatusCode::BAD_REQUEST;
    let assign = "/api/v1/assign";

    let huge = "x".repeat(1024 * 1024 + 1);
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"a": huge}}),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too large",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        events(1001),
        bad,
        "the limit is 1000",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": attributes(51)}),
        bad,
        "at most 50",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"k".repeat(65): 1}}),
        bad,
        "64 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"k": "v".repeat(257)}}),
        bad,
        "256 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u".repeat(257)}),
        bad,
        "user_id",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "a\u{7}b"}),
        bad,
        "control characters",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        json!({"events": [{"user_id": "u".repeat(257), "name": "x"}]}),
        bad,
        "user_id",
    )
    .await;

    let mut body = experiment_body("Bad Key", "ab");
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body.clone(),
        bad,
        "lowercase",
    )
    .await;
    body["key"] = json!("ok-key");
    body["variants"][0]["key"] = json!("A B");
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body.clone(),
        bad,
        "variants[0].key",
    )
    .await;
    let mut body = experiment_body("named", "ab");
    body["name"] = json!("n".repeat(201));
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body.clone(),
        bad,
        "200 bytes",
    )
    .await;
    let mut body = experiment_body("named", "ab");
    body["variants"][1]["name"] = json!("n".repeat(201));
    refused(&app, Method::POST, "/api/v1/experiments", body, bad, "200").await;
    refused(
        &app,
        Method::PATCH,
        "/api/v1/experiments/limits",
        json!({"name": "n".repeat(201)}),
        bad,
        "200 bytes",
    )
    .await;

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
        settings.limits.max_body_bytes = 4096;
        settings.limits.max_events_per_request = 3;
        settings.limits.max_attributes = 2;
        settings.limits.max_attribute_name_bytes = 8;
        settings.limits.max_attribute_value_bytes = 10;
        settings.limits.max_user_id_bytes = 12;
        settings.limits.max_name_bytes = 20;
    })
    .await;
    app.running_experiment(experiment_body("small", "ab")).await;
    let bad = StatusCode::BAD_REQUEST;
    let assign = "/api/v1/assign";

    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"a": "x".repeat(5000)}}),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too large",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        events(4),
        bad,
        "the limit is 3",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": attributes(3)}),
        bad,
        "at most 2",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"long-name": 1}}),
        bad,
        "8 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"k": "12345678901"}}),
        bad,
        "10 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "1234567890123"}),
        bad,
        "12 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        json!({"events": [{"user_id": "1234567890123", "name": "x"}]}),
        bad,
        "12 bytes",
    )
    .await;
    let mut body = experiment_body("named", "ab");
    body["name"] = json!("n".repeat(21));
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body,
        bad,
        "20 bytes",
    )
    .await;
    let ofrep = app
        .request(
            Method::POST,
            "/ofrep/v1/evaluate/flags/small",
            Some(CLIENT_KEY),
            Some(json!({"context": {"targetingKey": "1234567890123"}})),
        )
        .await;
    assert_eq!(ofrep.status, bad);
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
    let error = start_refused_with(|settings| settings.limits.max_attributes = 51).await;
    assert!(error.contains("max_attributes"), "{error}");
}
