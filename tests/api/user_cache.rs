//! One bounded memory for what is kept of users (sticky assignments, holdout records,
//! profiles): the budget holds whatever the number of users, and what is evicted is read
//! back, so answers never change.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;

/// A bandit's variants are random draws: only the stored row can give the same one back.
async fn assign_users(
    app: &TestApp,
    experiment: &str,
    users: std::ops::Range<usize>,
) -> HashMap<String, String> {
    let mut variants = HashMap::new();
    for i in users {
        let user = format!("user-{i}");
        let variant = app
            .variant_of(&user, experiment, json!({}))
            .await
            .expect("assigned");
        variants.insert(user, variant);
    }
    variants
}

#[tokio::test]
async fn with_no_room_every_answer_is_read_back_and_stays_the_same() {
    let app = spawn_app_with(|s| s.engine.cache_bytes = 1).await;
    app.running_experiment(experiment_body("roomless", "bandit"))
        .await;
    let first = assign_users(&app, "roomless", 0..60).await;
    assert_eq!(
        app.engine.user_cache_usage().bytes,
        0,
        "nothing fits in one byte"
    );
    for (user, variant) in &first {
        assert_eq!(
            app.variant_of(user, "roomless", json!({})).await.as_ref(),
            Some(variant)
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 60);
    assert_eq!(
        app.count("SELECT sum(users)::int8 AS n FROM variant_stats"),
        60
    );

    // Paused: the enrolled keep their variant (read back), nobody new is enrolled.
    app.admin(Method::POST, "/api/v1/experiments/roomless/pause", None)
        .await;
    for (user, variant) in first.iter().take(20) {
        assert_eq!(
            app.variant_of(user, "roomless", json!({})).await.as_ref(),
            Some(variant)
        );
    }
    assert_eq!(
        app.variant_of("newcomer", "roomless", json!({})).await,
        None
    );
    app.admin(Method::POST, "/api/v1/experiments/roomless/start", None)
        .await;
    assert!(
        app.variant_of("newcomer", "roomless", json!({}))
            .await
            .is_some()
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 61);
}

#[tokio::test]
async fn held_out_users_are_recorded_once_though_forgotten() {
    let app = spawn_app_with(|s| s.engine.cache_bytes = 1).await;
    app.running_experiment(experiment_body("held", "ab")).await;
    let set = app
        .admin(
            Method::PUT,
            "/api/v1/holdout",
            Some(json!({"fraction": 0.5})),
        )
        .await;
    assert_eq!(set.status, reqwest::StatusCode::OK, "{:?}", set.body);
    let mut held = 0;
    for round in 0..3 {
        for i in 0..40 {
            let reply = app.assign(json!({"user_id": format!("h-{i}")})).await;
            if round == 0 && reply.body["holdout"] == true {
                held += 1;
            }
        }
    }
    assert!(held > 5 && held < 35, "{held} of 40 held out");
    assert_eq!(app.count("SELECT count(*) AS n FROM holdout_users"), held);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments"),
        40 - held
    );
}

#[tokio::test]
async fn memory_stays_within_the_budget_and_evicted_users_keep_their_variants() {
    let budget = 64 << 10;
    let app = spawn_app_with(|s| s.engine.cache_bytes = budget).await;
    app.running_experiment(experiment_body("first", "bandit"))
        .await;
    app.running_experiment(experiment_body("second", "bandit"))
        .await;
    let mut first = HashMap::new();
    for i in 0..1_500 {
        let reply = app.assign(json!({"user_id": format!("user-{i}")})).await;
        let items = reply.body["assignments"]
            .as_array()
            .expect("assignments")
            .clone();
        assert_eq!(items.len(), 2);
        first.insert(format!("user-{i}"), items);
        let usage = app.engine.user_cache_usage();
        assert!(usage.bytes <= budget, "{usage:?} over a budget of {budget}");
    }
    let usage = app.engine.user_cache_usage();
    assert!(usage.entries > 50 && usage.entries < 1_000, "{usage:?}");
    // Users long evicted and users still kept alike get what they got.
    for i in (0..1_500).step_by(7) {
        let user = format!("user-{i}");
        let reply = app.assign(json!({"user_id": user})).await;
        assert_eq!(
            reply.body["assignments"].as_array(),
            first.get(&user),
            "{user}"
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 3_000);
}

#[tokio::test]
async fn a_user_evicted_here_and_assigned_elsewhere_gets_the_other_instances_variant() {
    let one = spawn_app_with(|s| s.engine.cache_bytes = 1).await;
    one.running_experiment(experiment_body("elsewhere", "bandit"))
        .await;
    let two = spawn_app_on(one.db.clone()).await;
    let on_two = assign_users(&two, "elsewhere", 0..30).await;
    for (user, variant) in &on_two {
        assert_eq!(
            one.variant_of(user, "elsewhere", json!({})).await.as_ref(),
            Some(variant)
        );
    }
    assert_eq!(one.count("SELECT count(*) AS n FROM assignments"), 30);
}
