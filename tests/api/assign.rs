//! Assignment: sticky, targeted, stored once with attributes and propensity.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashMap;

#[tokio::test]
async fn assignment_answers_with_variant_and_payload() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    let reply = app
        .assign(json!({"user_id": "u-42", "attributes": {"platform": "ios"}}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let a = &reply.body["assignments"][0];
    assert_eq!(a["experiment"], "banner");
    let variant = a["variant"].as_str().unwrap();
    let expected = if variant == "a" {
        json!({"text": "Hello"})
    } else {
        json!({"text": "Hi there"})
    };
    assert_eq!(a["payload"], expected);
}

#[tokio::test]
async fn a_user_keeps_the_variant_and_is_stored_once() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("sticky", "bandit"))
        .await;
    let first = app
        .variant_of("u-1", "sticky", json!({"plan": "pro"}))
        .await
        .unwrap();
    for _ in 0..20 {
        assert_eq!(
            app.variant_of("u-1", "sticky", json!({"plan": "pro"}))
                .await
                .unwrap(),
            first
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE attributes = '{\"plan\": \"pro\"}' AND propensity > 0 AND propensity <= 1"),
        1
    );
    assert_eq!(
        app.count("SELECT sum(users)::int8 AS n FROM variant_stats"),
        1
    );
}

#[tokio::test]
async fn ab_propensity_is_the_weight() {
    let app = spawn_app().await;
    let mut body = experiment_body("weighted", "ab");
    body["variants"][0]["weight"] = json!(0.2);
    body["variants"][1]["weight"] = json!(0.8);
    app.running_experiment(body).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..400 {
        *counts
            .entry(
                app.variant_of(&format!("user-{i}"), "weighted", json!({}))
                    .await
                    .unwrap(),
            )
            .or_default() += 1;
    }
    // Binomial(400, 0.2): mean 80, sd 8; allow 4 sd.
    let a = counts.get("a").copied().unwrap_or(0) as f64;
    assert!((a - 80.0).abs() < 32.0, "{counts:?}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments a JOIN variants v ON v.id = a.variant_id WHERE a.propensity <> v.weight"),
        0
    );
}

#[tokio::test]
async fn stickiness_survives_a_restart() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("restart", "bandit"))
        .await;
    let mut before = Vec::new();
    for i in 0..30 {
        before.push(
            app.variant_of(&format!("u{i}"), "restart", json!({}))
                .await
                .unwrap(),
        );
    }
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    for (i, variant) in before.iter().enumerate() {
        assert_eq!(
            &app.variant_of(&format!("u{i}"), "restart", json!({}))
                .await
                .unwrap(),
            variant
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 30);
    assert_eq!(
        app.count("SELECT sum(users)::int8 AS n FROM variant_stats"),
        30
    );
}

#[tokio::test]
async fn two_instances_on_one_database_agree() {
    let one = spawn_app().await;
    one.running_experiment(experiment_body("shared", "bandit"))
        .await;
    let two = spawn_app_on(one.db.clone()).await;
    // Users first seen on one instance keep their variant on the other, and the same new
    // users arriving at both at once get exactly one assignment each.
    for i in 0..30 {
        let user = format!("u{i}");
        let (a, b) = tokio::join!(
            one.variant_of(&user, "shared", json!({})),
            two.variant_of(&user, "shared", json!({}))
        );
        assert_eq!(a, b, "user {user}");
        assert!(a.is_some());
        assert_eq!(two.variant_of(&user, "shared", json!({})).await, a);
        assert_eq!(one.variant_of(&user, "shared", json!({})).await, a);
    }
    assert_eq!(one.count("SELECT count(*) AS n FROM assignments"), 30);
    assert_eq!(
        one.count("SELECT sum(users)::int8 AS n FROM variant_stats"),
        30
    );
}

#[tokio::test]
async fn targeting_decides_who_is_enrolled() {
    let app = spawn_app().await;
    let mut body = experiment_body("ios-only", "ab");
    body["targeting"] = json!([{"attribute": "platform", "op": "in", "value": ["ios", "android"]},
                               {"attribute": "age", "op": "gte", "value": 18}]);
    app.running_experiment(body).await;
    assert!(
        app.variant_of("u1", "ios-only", json!({"platform": "ios", "age": 30}))
            .await
            .is_some()
    );
    assert_eq!(
        app.variant_of("u2", "ios-only", json!({"platform": "web", "age": 30}))
            .await,
        None
    );
    assert_eq!(
        app.variant_of("u3", "ios-only", json!({"platform": "ios", "age": 12}))
            .await,
        None
    );
    assert_eq!(app.variant_of("u4", "ios-only", json!({})).await, None);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
}

#[tokio::test]
async fn traffic_enrols_that_fraction_of_users() {
    let app = spawn_app().await;
    let mut body = experiment_body("partial", "ab");
    body["traffic"] = json!(0.3);
    app.running_experiment(body).await;
    let mut outcomes = Vec::new();
    for i in 0..500 {
        outcomes.push(app.variant_of(&format!("t{i}"), "partial", json!({})).await);
    }
    let enrolled = outcomes.iter().filter(|o| o.is_some()).count() as i64;
    // Binomial(500, 0.3): mean 150, sd 10.2; allow 4 sd.
    assert!((enrolled as f64 - 150.0).abs() < 41.0, "{enrolled}");
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), enrolled);
    // Enrolment is deterministic: excluded users stay excluded, enrolled ones stay enrolled.
    for (i, outcome) in outcomes.iter().enumerate().take(100) {
        assert_eq!(
            &app.variant_of(&format!("t{i}"), "partial", json!({})).await,
            outcome
        );
    }
}

#[tokio::test]
async fn omitted_experiments_means_every_live_one() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("one", "ab")).await;
    app.running_experiment(experiment_body("two", "bandit"))
        .await;
    app.create_experiment(experiment_body("three", "ab")).await;
    let reply = app.assign(json!({"user_id": "u"})).await;
    let mut keys: Vec<&str> = reply.body["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["experiment"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["one", "two"]);
    let only = app
        .assign(json!({"user_id": "u", "experiments": ["two"]}))
        .await;
    assert_eq!(only.body["assignments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_experiment_in_assign_is_404_and_stores_nothing() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("real", "ab")).await;
    let reply = app
        .assign(json!({"user_id": "u", "experiments": ["real", "ghost"]}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "unknown_experiment");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
}

#[tokio::test]
async fn changing_ab_weights_keeps_existing_users() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("reweigh", "ab"))
        .await;
    let mut before = Vec::new();
    for i in 0..40 {
        before.push(
            app.variant_of(&format!("u{i}"), "reweigh", json!({}))
                .await
                .unwrap(),
        );
    }
    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/reweigh",
            Some(json!({"weights": {"a": 0.0, "b": 1.0}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    for (i, v) in before.iter().enumerate() {
        assert_eq!(
            &app.variant_of(&format!("u{i}"), "reweigh", json!({}))
                .await
                .unwrap(),
            v
        );
    }
    for i in 0..20 {
        assert_eq!(
            app.variant_of(&format!("new{i}"), "reweigh", json!({}))
                .await
                .as_deref(),
            Some("b")
        );
    }
}

#[tokio::test]
async fn concurrent_new_users_share_transactions() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("burst", "ab")).await;
    let users: Vec<String> = (0..300).map(|i| format!("burst-{i}")).collect();
    let replies =
        futures_util::future::join_all(users.iter().map(|u| app.variant_of(u, "burst", json!({}))))
            .await;
    assert!(replies.iter().all(Option::is_some));
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 300);
    // A row's xmin is the transaction that inserted it.
    let batches = app.count("SELECT count(DISTINCT xmin::text) AS n FROM assignments");
    // Every new user needed a durable write; group commit packed them into fewer transactions.
    assert!(
        batches < 300,
        "{batches} transactions for 300 concurrent new users"
    );
}
