//! `"analysis": "sequential"`: every comparison carries its confidence sequence and
//! always-valid p-value, and the chosen analysis decides the verdict. (The formulas are checked
//! against gbstats in tests/stats/metrics_reference.rs; here, the wiring.)

use crate::helpers::*;
use crate::metrics::{assigned_users, send_events};
use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The asymptotic confidence sequence (Waudby-Smith et al. 2023, eq. 9; N* = 5000, α = 0.05)
/// of the relative lift of two proportions, computed here.
fn confidence_sequence(n_a: f64, c_a: f64, n_b: f64, c_b: f64) -> (f64, f64) {
    let (pa, pb) = (c_a / n_a, c_b / n_b);
    let lift = (pb - pa) / pa;
    let variance =
        pb * (1.0 - pb) / (pa * pa * n_b) + pa * (1.0 - pa) * pb * pb / (pa.powi(4) * n_a);
    let n = n_a + n_b;
    let alpha: f64 = 0.05;
    let rho2 = (-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / 5000.0;
    let half = (variance * n * 2.0 * (n * rho2 + 1.0) * ((n * rho2 + 1.0).sqrt() / alpha).ln()
        / (n * n * rho2))
        .sqrt();
    (lift - half, lift + half)
}

#[tokio::test]
async fn the_chosen_analysis_decides_and_both_are_shown() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("push", "ab")).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "push", 800, |_| now - TimeDelta::hours(1)).await;
    // a converts 10%, b 20%: clear to the Bayesian rule at ~400 users per arm, not yet to
    // a confidence sequence.
    for (i, u) in users.iter_mut().enumerate() {
        let every = if u.variant == "a" { 10 } else { 5 };
        if i % every == 0 {
            u.events
                .push(("purchase", None, u.assigned_at + TimeDelta::minutes(1)));
        }
    }
    send_events(&app, &users).await;
    let results = app.results("push").await;
    assert_eq!(results["analysis"], "bayesian");
    assert_eq!(
        results["decision"]["outcome"], "winner",
        "{}",
        results["decision"]
    );
    let goal = &results["metrics"][0];
    let (a, b) = (&results["variants"][0], &results["variants"][1]);
    let (low, high) = confidence_sequence(
        a["users"].as_f64().unwrap(),
        a["conversions"].as_f64().unwrap(),
        b["users"].as_f64().unwrap(),
        b["conversions"].as_f64().unwrap(),
    );
    let sequential = &goal["variants"][1]["sequential"];
    let close =
        |x: &serde_json::Value, y: f64| (x.as_f64().unwrap() - y).abs() < 1e-9 * y.abs().max(1.0);
    assert!(
        close(&sequential["lift"]["low"], low),
        "{sequential} vs {low}"
    );
    assert!(
        close(&sequential["lift"]["high"], high),
        "{sequential} vs {high}"
    );
    assert!(low < 0.0, "the sequence still holds 0: {low}");
    assert_eq!(
        sequential["decisive"], true,
        "30 conversions and non-conversions per arm"
    );
    assert!(
        goal["variants"][0]["sequential"].is_null(),
        "control has none"
    );

    // Switching to the sequential analysis: the same data are not yet a winner.
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/push",
            Some(json!({"analysis": "sequential"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["analysis"], "sequential");
    let results = app.results("push").await;
    assert_eq!(results["analysis"], "sequential");
    assert_eq!(
        results["decision"]["outcome"], "keep_running",
        "{}",
        results["decision"]
    );
    assert!(
        results["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("Sequential analysis decides"))
    );

    // b converting 60%: the sequence excludes 0 and b wins.
    let mut more = Vec::new();
    for (i, u) in users.iter().enumerate() {
        if u.variant == "b" && (i % 5 == 1 || i % 5 == 2) {
            more.push(
                json!({"event_id": format!("more-{i}"), "user_id": u.id, "name": "purchase",
                             "timestamp": (u.assigned_at + TimeDelta::minutes(2)).to_rfc3339()}),
            );
        }
    }
    for chunk in more.chunks(100) {
        assert!(app.track(json!(chunk)).await.status.is_success());
    }
    let results = app.results("push").await;
    assert_eq!(
        results["decision"]["outcome"], "winner",
        "{}",
        results["decision"]
    );
    assert!(
        results["metrics"][0]["variants"][1]["sequential"]["lift"]["low"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[tokio::test]
async fn an_unknown_analysis_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let mut body = experiment_body("x", "ab");
    body["analysis"] = json!("frequentist");
    let reply = app.create_experiment(body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("analysis"),
        "{:?}",
        reply.body
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    let mut body = experiment_body("y", "ab");
    body["analysis"] = json!("sequential");
    let created = app.create_experiment(body).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["analysis"], "sequential");
    let reply = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/y",
            Some(json!({"analysis": 3})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let read = app.admin(Method::GET, "/api/v1/experiments/y", None).await;
    assert_eq!(read.body["analysis"], "sequential");
}
