//! Guardrails that act: when the sequential test shows harm beyond a guardrail's threshold,
//! the guardrail fires once per variant, is audited by the actor `guardrail` with its
//! evidence, shows on the experiment page, and a `pause` guardrail pauses the experiment.

use crate::helpers::*;
use crate::metrics::{User, assigned_users, create_metrics, example_metrics, send_events};
use crate::webhooks::api::create_webhook;
use crate::webhooks::delivery::fast;
use crate::webhooks::receiver::Receiver;
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An experiment with purchase-rate as its goal and the uninstall rate as a guardrail
/// (`action`), 800 users: b converts more than a and uninstalls `b_uninstalls` of its users
/// against a's 10%.
async fn push(app: &TestApp, action: &str, b_uninstalls: usize) -> Vec<User> {
    create_metrics(app, &example_metrics()).await;
    let mut body = experiment_body("push", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["metrics"] = json!({
        "goal": "purchase-rate",
        "guardrails": [{"metric": "uninstalls", "threshold": 0.02, "action": action}]
    });
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(app, "push", 800, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let at = u.assigned_at + TimeDelta::minutes(1);
        let b = u.variant == "b";
        if i % if b { 3 } else { 5 } == 0 {
            u.events.push(("purchase", Some(1.0), at));
        }
        let uninstalls = if b {
            i % 10 < b_uninstalls
        } else {
            i % 10 == 0
        };
        if uninstalls {
            u.events.push(("uninstall", None, at));
        }
    }
    send_events(app, &users).await;
    users
}

async fn status(app: &TestApp) -> Value {
    app.admin(Method::GET, "/api/v1/experiments/push", None)
        .await
        .body["status"]
        .clone()
}

#[tokio::test]
async fn a_guardrail_that_shows_harm_pauses_the_experiment_and_says_why() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(
        &app,
        &receiver.url,
        &["guardrail.fired", "experiment.paused"],
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    push(&app, "pause", 3).await;
    eventually(|| async { status(&app).await == "paused" }).await;

    // Both sent to the webhook, signed: what fired and the pause it caused.
    let received = receiver.wait_for(2).await;
    let events: Vec<String> = received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert!(
        events.contains(&"guardrail.fired".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"experiment.paused".to_string()),
        "{events:?}"
    );
    assert!(received.iter().all(|r| r.signed_with(&secret)));
    let fired = received
        .iter()
        .find(|r| r.json()["event"] == "guardrail.fired")
        .unwrap()
        .json();
    assert_eq!(fired["data"]["metric"], "uninstalls");
    assert_eq!(fired["data"]["variant"], "b");
    receiver.stop().await;

    let log = app.audit_log("").await;
    let fired: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "guardrail.fired")
        .collect();
    assert_eq!(fired.len(), 1, "fires once: {fired:?}");
    let entry = fired[0];
    assert_eq!(entry["actor"], "guardrail");
    assert_eq!(entry["target"], "push");
    let evidence = &entry["after"];
    assert_eq!(evidence["metric"], "uninstalls");
    assert_eq!(evidence["variant"], "b");
    assert_eq!(evidence["action"], "pause");
    // The evidence is the confidence sequence, entirely beyond the threshold.
    assert!(
        evidence["lift"]["low"].as_f64().unwrap() > 0.02,
        "{evidence}"
    );
    let results = app.results("push").await;
    let seq = &results["metrics"][1]["variants"][1]["sequential"];
    assert_eq!(results["metrics"][1]["key"], "uninstalls");
    assert!(seq["lift"]["low"].as_f64().unwrap() > 0.02, "{seq}");
    let paused = log
        .iter()
        .find(|e| e["action"] == "experiment.pause")
        .expect("the pause is audited");
    assert_eq!(paused["actor"], "guardrail");

    // Paused: enrolled users keep their variant, nobody new enters.
    let reply = app
        .assign(json!({"user_id": "newcomer", "experiments": ["push"]}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["experiment"] != "push" || a["variant"].is_null()),
        "{:?}",
        reply.body
    );

    // The page shows what fired, with its numbers.
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/push").await;
    assert!(page.body.contains("Guardrails that fired"), "{}", page.body);
    assert!(
        page.body
            .contains("data-metric=\"uninstalls\" data-variant=\"b\"")
    );
    assert!(page.body.contains("The experiment was paused."));

    // Started again, it does not fire twice.
    let started = app
        .admin(Method::POST, "/api/v1/experiments/push/start", None)
        .await;
    assert_eq!(started.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(status(&app).await, "running");
    assert_eq!(app.count("SELECT count(*) AS n FROM guardrail_firings"), 1);
}

#[tokio::test]
async fn an_alert_guardrail_fires_without_pausing_and_no_harm_fires_nothing() {
    let app = spawn_app().await;
    push(&app, "alert", 3).await;
    eventually(|| async { app.count("SELECT count(*) AS n FROM guardrail_firings") == 1 }).await;
    assert_eq!(status(&app).await, "running");

    // Same uninstall rate in both arms: nothing fires.
    let quiet = spawn_app().await;
    push(&quiet, "pause", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    assert_eq!(
        quiet.count("SELECT count(*) AS n FROM guardrail_firings"),
        0
    );
    assert_eq!(status(&quiet).await, "running");
}

/// `drop` is for bandits (tests/api/guardrail_drop.rs); an action the server does not know
/// is refused.
#[tokio::test]
async fn an_unknown_action_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("bandit", "bandit");
    body["metrics"] = json!({"guardrails": [{"metric": "uninstalls", "action": "explode"}]});
    assert_eq!(
        app.create_experiment(body).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
}

/// `experiment.decided`: the first time the verdict names a winner, once.
#[tokio::test]
async fn a_verdict_that_names_a_winner_is_announced_once() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&app, &receiver.url, &["experiment.decided"]).await;
    app.running_experiment(experiment_body("push", "ab")).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "push", 400, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        if i % if u.variant == "b" { 2 } else { 10 } == 0 {
            u.events
                .push(("purchase", None, u.assigned_at + TimeDelta::minutes(1)));
        }
    }
    send_events(&app, &users).await;
    assert_eq!(app.results("push").await["decision"]["outcome"], "winner");
    let received = receiver.wait_for(1).await;
    let body = received[0].json();
    assert!(received[0].signed_with(hook["secret"].as_str().unwrap()));
    assert_eq!(body["event"], "experiment.decided");
    assert_eq!(body["data"]["experiment"], "push");
    assert_eq!(body["data"]["winner"], "b");
    assert_eq!(body["data"]["analysis"], "bayesian");
    // Checked again and again: announced once.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM experiment_decisions"),
        1
    );
    receiver.stop().await;
}
