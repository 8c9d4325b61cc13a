//! The metric library over HTTP: create, read, replace, delete, each audited; bad input is a
//! 400 naming the field and changes nothing.

use super::{create_metrics, example_metrics};
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_issue_examples_are_created_read_and_listed_as_sent() {
    let app = spawn_app().await;
    let examples = example_metrics();
    create_metrics(&app, &examples).await;
    let list = app.admin(Method::GET, "/api/v1/metrics", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let listed = list.body["metrics"].as_array().unwrap();
    assert_eq!(listed.len(), examples.len());
    for sent in &examples {
        let key = sent["key"].as_str().unwrap();
        let one = app
            .admin(Method::GET, &format!("/api/v1/metrics/{key}"), None)
            .await;
        assert_eq!(one.status, StatusCode::OK);
        for (field, value) in sent.as_object().unwrap() {
            assert_eq!(&one.body[field], value, "{key}.{field}: {}", one.body);
        }
        assert_eq!(one.body["version"], 1);
    }
    // Defaults are filled in: a mean adds values, the good direction is up.
    let orders = app.admin(Method::GET, "/api/v1/metrics/orders", None).await;
    assert_eq!(orders.body["direction"], "increase");
    assert_eq!(orders.body["window"], serde_json::Value::Null);
}

#[tokio::test]
async fn bad_metrics_get_a_400_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()[..4]).await;
    let cases = [
        (
            json!({"key": "r", "name": "R", "type": "ratio", "numerator": "aov", "denominator": "orders"}),
            "numerator",
        ),
        (
            json!({"key": "r", "name": "R", "type": "ratio", "numerator": "orders", "denominator": "orders"}),
            "denominator",
        ),
        (
            json!({"key": "r", "name": "R", "type": "ratio", "numerator": "nope", "denominator": "orders"}),
            "numerator",
        ),
        (
            json!({"key": "r", "name": "R", "type": "retention", "event": "open", "from": "8d", "to": "1d"}),
            "to",
        ),
        (
            json!({"key": "r", "name": "R", "type": "conversion", "event": "open", "window": "a week"}),
            "window",
        ),
        (
            json!({"key": "r", "name": "R", "type": "mean", "event": "buy", "cap": {"percentile": 0.4}}),
            "cap.percentile",
        ),
        (
            json!({"key": "r", "name": "R", "type": "median", "event": "buy"}),
            "type",
        ),
        (
            json!({"key": "r", "name": "R", "type": "conversion", "event": "buy", "direction": "sideways"}),
            "direction",
        ),
        (
            json!({"key": "R!", "name": "R", "type": "conversion", "event": "buy"}),
            "key",
        ),
        (
            // Results name the inline goal so.
            json!({"key": "goal", "name": "Goal", "type": "conversion", "event": "buy"}),
            "key",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .admin(Method::POST, "/api/v1/metrics", Some(body.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let count = app.admin(Method::GET, "/api/v1/metrics", None).await;
    assert_eq!(count.body["metrics"].as_array().unwrap().len(), 4);
    let taken = app
        .admin(
            Method::POST,
            "/api/v1/metrics",
            Some(example_metrics()[0].clone()),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn replacing_bumps_the_version_and_deleting_is_refused_while_used() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut edited = example_metrics()[0].clone();
    edited["window"] = json!("3d");
    let replaced = app
        .admin(Method::PUT, "/api/v1/metrics/purchase-rate", Some(edited))
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["window"], "3d");
    assert_eq!(replaced.body["version"], 2);
    // A ratio's part cannot go, nor become a ratio itself.
    let part = app
        .admin(Method::DELETE, "/api/v1/metrics/orders", None)
        .await;
    assert_eq!(part.status, StatusCode::CONFLICT);
    assert!(
        part.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("aov")
    );
    let to_ratio = app
        .admin(
            Method::PUT,
            "/api/v1/metrics/orders",
            Some(json!({"name": "O", "type": "ratio", "numerator": "revenue", "denominator": "purchase-rate"})),
        )
        .await;
    assert_eq!(to_ratio.status, StatusCode::BAD_REQUEST);

    // Used by a running experiment: 409; once stopped, it may go.
    let mut body = experiment_body("banner", "ab");
    body["metrics"] = json!({"secondary": ["uninstalls"]});
    app.running_experiment(body).await;
    let used = app
        .admin(Method::DELETE, "/api/v1/metrics/uninstalls", None)
        .await;
    assert_eq!(used.status, StatusCode::CONFLICT);
    assert!(
        used.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("banner")
    );
    app.admin(Method::POST, "/api/v1/experiments/banner/stop", None)
        .await;
    let gone = app
        .admin(Method::DELETE, "/api/v1/metrics/uninstalls", None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let experiment = app
        .admin(Method::GET, "/api/v1/experiments/banner", None)
        .await;
    assert_eq!(experiment.body["metrics"]["secondary"], json!([]));
    let missing = app
        .admin(Method::GET, "/api/v1/metrics/uninstalls", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"]["code"], "unknown_metric");

    let actions: Vec<String> = app
        .audit_log("")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in ["metric.create", "metric.replace", "metric.delete"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}
