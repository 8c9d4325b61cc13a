//! Bad input gets a clear 4xx in the error shape and changes nothing.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn refused(app: &TestApp, body: Value, status: StatusCode, needle: &str) {
    let reply = app.create_experiment(body.clone()).await;
    assert_eq!(reply.status, status, "{body} -> {:?}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
}

#[tokio::test]
async fn invalid_experiments_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let base = experiment_body("ok", "ab");
    let with = |path: &str, value: Value| {
        let mut b = base.clone();
        b[path] = value;
        b
    };
    refused(
        &app,
        with("variants", json!([{"key": "a"}])),
        StatusCode::BAD_REQUEST,
        "2 to",
    )
    .await;
    refused(
        &app,
        with("variants", json!([{"key": "a"}, {"key": "a"}])),
        StatusCode::BAD_REQUEST,
        "duplicate",
    )
    .await;
    refused(
        &app,
        with(
            "variants",
            json!([{"key": "a", "weight": 0.3}, {"key": "b", "weight": 0.3}]),
        ),
        StatusCode::BAD_REQUEST,
        "sum to 1",
    )
    .await;
    refused(
        &app,
        with("control", json!("zzz")),
        StatusCode::BAD_REQUEST,
        "zzz",
    )
    .await;
    refused(
        &app,
        with("kind", json!("multi-armed")),
        StatusCode::BAD_REQUEST,
        "kind",
    )
    .await;
    refused(
        &app,
        with("dimension", json!("colour")),
        StatusCode::BAD_REQUEST,
        "dimension",
    )
    .await;
    refused(
        &app,
        with("key", json!("Has Spaces")),
        StatusCode::BAD_REQUEST,
        "key",
    )
    .await;
    refused(
        &app,
        with("traffic", json!(2)),
        StatusCode::BAD_REQUEST,
        "traffic",
    )
    .await;
    refused(
        &app,
        with("traffic", json!("all")),
        StatusCode::BAD_REQUEST,
        "traffic",
    )
    .await;
    refused(
        &app,
        with("goal", json!({"event": "buy", "metric": "clicks"})),
        StatusCode::BAD_REQUEST,
        "metric",
    )
    .await;
    refused(
        &app,
        with(
            "targeting",
            json!([{"attribute": "x", "op": "in", "value": 3}]),
        ),
        StatusCode::BAD_REQUEST,
        "array",
    )
    .await;
    refused(
        &app,
        with("surprise", json!(1)),
        StatusCode::BAD_REQUEST,
        "surprise",
    )
    .await;
    let mut no_name = base.clone();
    no_name.as_object_mut().unwrap().remove("name");
    refused(&app, no_name, StatusCode::BAD_REQUEST, "name").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM variants"), 0);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    for path in ["/api/v1/experiments", "/api/v1/assign", "/api/v1/track"] {
        let reply = app
            .raw(Method::POST, path, Some(ADMIN_KEY), b"{ not json }")
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.error_code(), "malformed_json");
    }
}

#[tokio::test]
async fn wrong_types_in_assign_and_track_are_400() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("t", "ab")).await;
    for body in [
        json!({"user_id": 42}),
        json!({"user_id": ""}),
        json!({"attributes": {}}),
        json!({"user_id": "u", "attributes": "ios"}),
        json!({"user_id": "u", "attributes": {"nested": {"a": 1}}}),
        json!({"user_id": "u", "experiments": "t"}),
    ] {
        let reply = app.assign(body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.error_code(), "invalid_request");
    }
    for events in [
        json!([{"user_id": "u"}]),
        json!([{"user_id": "u", "name": "x", "value": "ten"}]),
        json!([{"user_id": "u", "name": "x", "timestamp": "yesterday"}]),
        json!([{"user_id": "u", "name": "x", "timestamp": "2999-01-01T00:00:00Z"}]),
        json!([]),
        json!("nope"),
    ] {
        let reply = app.track(events.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{events}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
}

#[tokio::test]
async fn one_bad_event_refuses_the_whole_request() {
    let app = spawn_app().await;
    let reply = app
        .track(
            json!([{"user_id": "u", "name": "ok"}, {"user_id": "u", "name": "bad", "value": "x"}]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
}

#[tokio::test]
async fn too_many_events_and_oversize_bodies_are_refused() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..1001)
        .map(|i| json!({"user_id": "u", "name": "x", "event_id": format!("e{i}")}))
        .collect();
    let reply = app.track(Value::Array(events)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1000")
    );

    let huge = "x".repeat(2 * 1024 * 1024);
    let reply = app
        .assign(json!({"user_id": "u", "attributes": {"blob": huge}}))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "payload_too_large");
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
}

#[tokio::test]
async fn unknown_routes_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let reply = app.admin(Method::GET, "/api/v1/nothing-here", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
}
