//! Experiments name their goal, secondary metrics and guardrails from the library; the inline
//! goal keeps working.

use super::{create_metrics, example_metrics};
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_experiment_names_its_metrics_and_reads_them_back() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("banner", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["metrics"] = json!({"goal": "purchase-rate",
                             "secondary": ["revenue", "aov", "d7-retention"],
                             "guardrails": [{"metric": "uninstalls", "threshold": 0.02}]});
    let created = app.create_experiment(body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // Read back as sent, with the default action of a guardrail spelled out.
    let mut expected = body["metrics"].clone();
    expected["guardrails"][0]["action"] = json!("alert");
    assert_eq!(created.body["metrics"], expected);
    // The goal as the assignment rows follow it: conversion to the goal metric's event.
    assert_eq!(
        created.body["goal"],
        json!({"event": "purchase", "metric": "conversion"})
    );

    // A bandit cannot optimize a ratio or a retention goal.
    let mut bandit = experiment_body("bandit", "bandit");
    bandit.as_object_mut().unwrap().remove("goal");
    bandit["metrics"] = json!({"goal": "aov"});
    let refused = app.create_experiment(bandit.clone()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("metrics.goal")
    );
    bandit["metrics"] = json!({"goal": "revenue"});
    assert_eq!(
        app.create_experiment(bandit).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn bad_metric_lists_get_a_400_and_create_nothing() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let too_many: Vec<String> = (0..21).map(|_| "revenue".to_string()).collect();
    let cases = [
        (json!({"secondary": ["nope"]}), "metrics.secondary[0]"),
        (
            json!({"guardrails": [{"metric": "nope"}]}),
            "metrics.guardrails[0].metric",
        ),
        (
            json!({"guardrails": [{"metric": "uninstalls", "threshold": -1}]}),
            "threshold",
        ),
        (json!({"secondary": too_many}), "metrics.secondary"),
        (
            json!({"secondary": ["revenue", "revenue"]}),
            "metrics.secondary[1]",
        ),
        (json!({"goal": "purchase-rate"}), "goal"),
    ];
    for (metrics, field) in cases {
        let mut body = experiment_body("x", "ab");
        body["metrics"] = metrics.clone();
        let reply = app.create_experiment(body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{metrics}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{metrics}: {message}");
    }
    let mut no_goal = experiment_body("x", "ab");
    no_goal.as_object_mut().unwrap().remove("goal");
    assert_eq!(
        app.create_experiment(no_goal).await.status,
        StatusCode::BAD_REQUEST
    );
    let list = app.admin(Method::GET, "/api/v1/experiments", None).await;
    assert_eq!(list.body["experiments"], json!([]));
}

#[tokio::test]
async fn metrics_change_on_running_and_stopped_experiments_but_the_goal_stays() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    let patch = |metrics: serde_json::Value| json!({"metrics": metrics});
    let added = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/banner",
            Some(patch(
                json!({"secondary": ["revenue"], "guardrails": [{"metric": "uninstalls"}]}),
            )),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["metrics"]["secondary"], json!(["revenue"]));
    let goal = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/banner",
            Some(patch(json!({"goal": "purchase-rate"}))),
        )
        .await;
    assert_eq!(goal.status, StatusCode::BAD_REQUEST);
    app.admin(Method::POST, "/api/v1/experiments/banner/stop", None)
        .await;
    let after_stop = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/banner",
            Some(patch(json!({"secondary": ["revenue", "orders"]}))),
        )
        .await;
    assert_eq!(after_stop.status, StatusCode::OK, "{}", after_stop.body);
    let renamed = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/banner",
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::CONFLICT);
}
