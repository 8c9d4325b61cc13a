//! Creating, reading and editing experiments.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn create_returns_the_experiment_as_a_draft() {
    let app = spawn_app().await;
    let reply = app
        .create_experiment(json!({
            "key": "push-time", "name": "Push send time", "dimension": "timing", "kind": "bandit",
            "variants": [{"key": "morning", "payload": {"send_at_hour": 8}},
                         {"key": "evening", "payload": {"send_at_hour": 19}}],
            "control": "morning", "goal": {"event": "open", "metric": "conversion"},
            "targeting": [{"attribute": "platform", "op": "in", "value": ["ios", "android"]}],
            "traffic": 1.0, "floor": 0.05
        }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let e = &reply.body;
    assert_eq!(e["key"], "push-time");
    assert_eq!(e["status"], "draft");
    assert_eq!(e["kind"], "bandit");
    assert_eq!(e["dimension"], "timing");
    assert_eq!(e["control"], "morning");
    assert_eq!(e["floor"], 0.05);
    assert_eq!(e["goal"], json!({"event": "open", "metric": "conversion"}));
    assert_eq!(e["variants"][1]["payload"], json!({"send_at_hour": 19}));
    assert_eq!(e["targeting"][0]["op"], "in");
    assert!(e["winner"].is_null());

    let one = app
        .admin(Method::GET, "/api/v1/experiments/push-time", None)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, reply.body);
    let list = app.admin(Method::GET, "/api/v1/experiments", None).await;
    assert_eq!(list.body["experiments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn duplicate_key_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    assert_eq!(
        app.create_experiment(experiment_body("dup", "ab"))
            .await
            .status,
        StatusCode::CREATED
    );
    let mut other = experiment_body("dup", "bandit");
    other["name"] = json!("Another");
    let reply = app.create_experiment(other).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "conflict");
    let e = app
        .admin(Method::GET, "/api/v1/experiments/dup", None)
        .await;
    assert_eq!(e.body["kind"], "ab");
    assert_eq!(app.count("SELECT count(*) AS n FROM variants"), 2);
}

#[tokio::test]
async fn patch_changes_what_may_change_while_running() {
    let app = spawn_app().await;
    let mut body = experiment_body("weights", "ab");
    body["variants"][0]["weight"] = json!(0.5);
    body["variants"][1]["weight"] = json!(0.5);
    app.running_experiment(body).await;
    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/weights",
            Some(
                json!({"name": "Renamed", "traffic": 0.5, "weights": {"a": 0.25, "b": 0.75},
                        "targeting": [{"attribute": "country", "op": "eq", "value": "fr"}]}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["name"], "Renamed");
    assert_eq!(reply.body["traffic"], 0.5);
    assert_eq!(reply.body["variants"][1]["weight"], 0.75);
    assert_eq!(reply.body["status"], "running");

    // The goal, kind and variants are fixed once created.
    let refused = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/weights",
            Some(json!({"kind": "bandit"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kind")
    );
    let bad_sum = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/weights",
            Some(json!({"weights": {"a": 0.5, "b": 0.6}})),
        )
        .await;
    assert_eq!(bad_sum.status, StatusCode::BAD_REQUEST);
    let e = app
        .admin(Method::GET, "/api/v1/experiments/weights", None)
        .await;
    assert_eq!(
        e.body["variants"][1]["weight"], 0.75,
        "a refused patch changes nothing"
    );
}

#[tokio::test]
async fn unknown_experiment_is_404() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/api/v1/experiments/nope"),
        (Method::PATCH, "/api/v1/experiments/nope"),
        (Method::POST, "/api/v1/experiments/nope/start"),
        (Method::GET, "/api/v1/experiments/nope/results"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"name": "x"}));
        let reply = app.admin(method.clone(), path, body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(reply.error_code(), "unknown_experiment");
    }
}
