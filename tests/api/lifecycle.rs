//! draft → running ⇄ paused → stopped, and what users get in each state.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn status_transitions_follow_the_lifecycle() {
    let app = spawn_app().await;
    app.create_experiment(experiment_body("life", "ab")).await;
    let post = |action: &'static str| {
        let app = &app;
        async move {
            app.admin(
                Method::POST,
                &format!("/api/v1/experiments/life/{action}"),
                None,
            )
            .await
        }
    };
    assert_eq!(
        post("pause").await.status,
        StatusCode::CONFLICT,
        "a draft cannot pause"
    );
    assert_eq!(
        post("stop").await.status,
        StatusCode::CONFLICT,
        "a draft cannot stop"
    );
    let started = post("start").await;
    assert_eq!(started.body["status"], "running");
    assert!(started.body["started_at"].is_string());
    assert_eq!(post("start").await.status, StatusCode::CONFLICT);
    assert_eq!(post("pause").await.body["status"], "paused");
    assert_eq!(post("start").await.body["status"], "running");
    assert_eq!(post("stop").await.body["status"], "stopped");
    assert_eq!(
        post("start").await.status,
        StatusCode::CONFLICT,
        "stopped is final"
    );
    let edit = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/life",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(edit.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn drafts_give_no_assignment() {
    let app = spawn_app().await;
    app.create_experiment(experiment_body("draft", "ab")).await;
    assert_eq!(app.variant_of("u1", "draft", json!({})).await, None);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
}

#[tokio::test]
async fn paused_keeps_enrolled_users_and_enrols_nobody_new() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("pause", "ab")).await;
    let before = app
        .variant_of("enrolled", "pause", json!({}))
        .await
        .unwrap();
    app.admin(Method::POST, "/api/v1/experiments/pause/pause", None)
        .await;
    assert_eq!(
        app.variant_of("enrolled", "pause", json!({})).await,
        Some(before.clone())
    );
    assert_eq!(app.variant_of("newcomer", "pause", json!({})).await, None);
    assert_eq!(app.variant_of("newcomer", "pause", json!({})).await, None);

    // An enrolled user this instance has never seen (restart) is found in the database.
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    assert_eq!(
        app.variant_of("enrolled", "pause", json!({})).await,
        Some(before)
    );
    assert_eq!(app.variant_of("newcomer", "pause", json!({})).await, None);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);

    // Resumed: newcomers are enrolled again.
    app.admin(Method::POST, "/api/v1/experiments/pause/start", None)
        .await;
    assert!(
        app.variant_of("newcomer", "pause", json!({}))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn stopped_with_a_winner_gives_everyone_the_winner() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("won", "ab")).await;
    let mut saw_a = false;
    for i in 0..40 {
        saw_a |= app
            .variant_of(&format!("u{i}"), "won", json!({}))
            .await
            .as_deref()
            == Some("a");
    }
    assert!(saw_a);
    let reply = app
        .admin(
            Method::POST,
            "/api/v1/experiments/won/stop",
            Some(json!({"winner": "b"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["winner"], "b");
    for i in 0..40 {
        assert_eq!(
            app.variant_of(&format!("u{i}"), "won", json!({}))
                .await
                .as_deref(),
            Some("b")
        );
    }
    assert_eq!(
        app.variant_of("stranger", "won", json!({}))
            .await
            .as_deref(),
        Some("b")
    );
    let all = app.assign(json!({"user_id": "stranger"})).await;
    assert_eq!(
        all.body["assignments"][0]["payload"],
        json!({"text": "Hi there"})
    );
}

#[tokio::test]
async fn stopped_without_a_winner_gives_nobody_anything() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("over", "ab")).await;
    assert!(app.variant_of("u1", "over", json!({})).await.is_some());
    app.admin(Method::POST, "/api/v1/experiments/over/stop", None)
        .await;
    assert_eq!(app.variant_of("u1", "over", json!({})).await, None);
}

#[tokio::test]
async fn stop_with_an_unknown_winner_is_refused() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("w", "ab")).await;
    let reply = app
        .admin(
            Method::POST,
            "/api/v1/experiments/w/stop",
            Some(json!({"winner": "zzz"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zzz")
    );
    let e = app.admin(Method::GET, "/api/v1/experiments/w", None).await;
    assert_eq!(e.body["status"], "running");
}
