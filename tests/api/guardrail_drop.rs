//! A guardrail's `drop` action (bandits only): when the sequential test shows harm beyond the
//! threshold, the harmed arm gets no new users (weight 0, on every instance and after a
//! restart), audited by the actor `guardrail` and sent to webhooks; users already in the arm
//! keep it. An A/B test refuses `drop` (its weights are its design).

use crate::helpers::*;
use crate::metrics::{User, assigned_users, create_metrics, example_metrics, send_events};
use crate::webhooks::api::create_webhook;
use crate::webhooks::delivery::fast;
use crate::webhooks::receiver::Receiver;
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A contextual bandit over a (control), b and c with purchase-rate as its goal and the
/// uninstall rate as a `drop` guardrail, 1,200 users: b converts more than a and c but
/// uninstalls three times as often (30% against 10%).
async fn harmful_bandit(app: &TestApp) -> Vec<User> {
    create_metrics(app, &example_metrics()).await;
    let mut body = experiment_body("push", "bandit");
    body.as_object_mut().unwrap().remove("goal");
    body["variants"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "c", "payload": {"text": "Hey"}}));
    body["context"] = json!(["platform"]);
    body["metrics"] = json!({
        "goal": "purchase-rate",
        "guardrails": [{"metric": "uninstalls", "threshold": 0.02, "action": "drop"}]
    });
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(app, "push", 1200, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let at = u.assigned_at + TimeDelta::minutes(1);
        let b = u.variant == "b";
        if i % if b { 3 } else { 5 } == 0 {
            u.events.push(("purchase", Some(1.0), at));
        }
        if i % 10 < if b { 3 } else { 1 } {
            u.events.push(("uninstall", None, at));
        }
    }
    send_events(app, &users).await;
    users
}

fn weights(results: &Value) -> Vec<f64> {
    results["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect()
}

/// New users (ids starting with `prefix`, some in the experiment's known context, some in
/// one it has not seen): how many got each variant.
async fn new_users(app: &TestApp, prefix: &str, n: usize) -> [usize; 3] {
    let mut got = [0; 3];
    for i in 0..n {
        let attributes = if i % 2 == 0 {
            json!({})
        } else {
            json!({"platform": "ios"})
        };
        let variant = app
            .variant_of(&format!("{prefix}{i}"), "push", attributes)
            .await
            .expect("a running bandit enrolls everyone");
        got[["a", "b", "c"].iter().position(|k| *k == variant).unwrap()] += 1;
    }
    got
}

#[tokio::test]
async fn a_drop_guardrail_takes_the_harmed_arm_out_of_the_bandit_for_good() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&app, &receiver.url, &["guardrail.fired"]).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let users = harmful_bandit(&app).await;
    eventually(|| async { weights(&app.results("push").await)[1] == 0.0 }).await;

    // The webhook hears it, signed, and what it did.
    let received = receiver.wait_for(1).await;
    assert!(received[0].signed_with(&secret));
    let body = received[0].json();
    assert_eq!(body["event"], "guardrail.fired");
    assert_eq!(body["data"]["metric"], "uninstalls");
    assert_eq!(body["data"]["variant"], "b");
    assert_eq!(body["data"]["action"], "drop");
    receiver.stop().await;

    // Audited by the guardrail: the firing and the drop, with the evidence.
    let log = app.audit_log("").await;
    let by_guardrail = |action: &str| -> Vec<Value> {
        log.iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    };
    let fired = by_guardrail("guardrail.fired");
    assert_eq!(fired.len(), 1, "fires once: {fired:?}");
    let dropped = by_guardrail("variant.dropped");
    assert_eq!(dropped.len(), 1, "dropped once: {dropped:?}");
    let entry = &dropped[0];
    assert_eq!(entry["actor"], "guardrail");
    assert_eq!(entry["target"], "push");
    assert_eq!(entry["after"]["variant"], "b");
    assert_eq!(entry["after"]["metric"], "uninstalls");
    assert!(
        entry["after"]["lift"]["low"].as_f64().unwrap() > 0.02,
        "{entry}"
    );
    assert!(entry["after"]["dropped_at"].is_string(), "{entry}");

    // Results: b at weight 0 and marked dropped; a and c share all the traffic.
    let results = app.results("push").await;
    let w = weights(&results);
    assert!((w[0] + w[2] - 1.0).abs() < 1e-9, "{w:?}");
    assert!(w[2] > 0.0, "c keeps at least its floor: {w:?}");
    assert_eq!(results["variants"][1]["weight"], 0.0);
    assert!(results["variants"][1]["dropped_at"].is_string());
    assert!(results["variants"][0]["dropped_at"].is_null());
    assert!(results["variants"][2]["dropped_at"].is_null());

    // New users never get b; users already in b keep it.
    let got = new_users(&app, "new-", 300).await;
    assert_eq!(got[1], 0, "{got:?}");
    assert_eq!(got[0] + got[2], 300);
    let in_b: Vec<&User> = users.iter().filter(|u| u.variant == "b").take(20).collect();
    assert!(!in_b.is_empty());
    for u in &in_b {
        assert_eq!(
            app.variant_of(&u.id, "push", json!({})).await.as_deref(),
            Some("b")
        );
    }
    // Nor did any stored assignment of a new user land in b.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM assignments s JOIN variants v ON v.id = s.variant_id \
             WHERE s.user_id LIKE 'new-%' AND v.key = 'b'"
        ),
        0
    );

    // The page marks the arm dropped and shows the numbers that fired it.
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/push").await;
    let b_row = html::row(&page.body, "variant-b");
    assert!(b_row.contains("dropped"), "{b_row}");
    assert!(!html::row(&page.body, "variant-c").contains("tag-dropped"));
    assert!(
        page.body
            .contains("data-metric=\"uninstalls\" data-variant=\"b\"")
    );
    assert!(page.body.contains("The arm was dropped"), "{}", page.body);

    // After a restart over the same database the arm is still out, and b's users keep it.
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    assert_eq!(weights(&app.results("push").await)[1], 0.0);
    let got = new_users(&app, "after-restart-", 200).await;
    assert_eq!(got[1], 0, "{got:?}");
    assert_eq!(
        app.variant_of(&in_b[0].id, "push", json!({}))
            .await
            .as_deref(),
        Some("b")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM guardrail_firings"), 1);
}

#[tokio::test]
async fn a_drop_guardrail_is_refused_for_an_ab_test_and_changes_nothing() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let drop = json!({"guardrails": [{"metric": "uninstalls", "action": "drop"}]});
    let mut body = experiment_body("split", "ab");
    body["metrics"] = drop.clone();
    let reply = app.create_experiment(body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("metrics.guardrails[0].action") && message.contains("bandit"),
        "{message}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    // Nor added to a running A/B test: refused, its guardrails as they were.
    app.running_experiment(experiment_body("split", "ab")).await;
    let before = app
        .admin(Method::GET, "/api/v1/experiments/split", None)
        .await
        .body;
    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/split",
            Some(json!({"metrics": drop})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let after = app
        .admin(Method::GET, "/api/v1/experiments/split", None)
        .await
        .body;
    assert_eq!(before, after);

    // A bandit takes it, and reads it back.
    let mut body = experiment_body("bandit", "bandit");
    body["metrics"] = json!({"guardrails": [{"metric": "uninstalls", "action": "drop"}]});
    let created = app.create_experiment(body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["metrics"]["guardrails"][0]["action"], "drop");
}
