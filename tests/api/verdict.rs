//! `decision.verdict`: ship, roll_back, keep_running and no_difference, each reached with real
//! users and events over HTTP; the settings behind them (`min_runtime`, `minimum_effect`),
//! refused when wrong and editable while running.

use crate::helpers::*;
use crate::metrics::create_metrics;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Assigns `n` users to `key` through the API and tracks, for the k-th user of each
/// variant, the events `events(variant, k)` names. Returns the users per variant.
async fn traffic(
    app: &TestApp,
    key: &str,
    n: usize,
    events: impl Fn(&str, usize) -> Vec<&'static str>,
) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut batch = Vec::new();
    for i in 0..n {
        let user = format!("user-{i}");
        let variant = app.variant_of(&user, key, json!({})).await.unwrap();
        let k = seen.entry(variant.clone()).or_default();
        for (j, name) in events(&variant, *k).into_iter().enumerate() {
            batch.push(json!({"event_id": format!("e-{i}-{j}"), "user_id": user, "name": name}));
        }
        *k += 1;
    }
    for chunk in batch.chunks(100) {
        let reply = app.track(json!(chunk)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    seen
}

/// A conversion every `every`-th user of a variant, in `rates` by variant key.
fn converting(
    rates: &'static [(&'static str, usize, usize)],
) -> impl Fn(&str, usize) -> Vec<&'static str> {
    // (variant, converted per, out of): the k-th user converts when k % out_of < per.
    move |variant, k| {
        let (_, per, out_of) = rates.iter().find(|r| r.0 == variant).unwrap();
        if k % out_of < *per {
            vec!["purchase"]
        } else {
            Vec::new()
        }
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn reasons(decision: &Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// The runtime in days from the experiment's start to when the results were computed.
fn runtime_of(experiment: &Value, results: &Value) -> f64 {
    let ran = time(&results["computed_at"]) - time(&experiment["started_at"]);
    ran.num_milliseconds() as f64 / 86_400_000.0
}

#[tokio::test]
async fn a_clear_winner_waits_for_the_minimum_runtime_then_ships() {
    let app = spawn_app().await;
    // The default minimum runtime: a week.
    let started = app.running_experiment(experiment_body("push", "ab")).await;
    assert_eq!(started["min_runtime"], "7d");
    assert_eq!(started["minimum_effect"], 0.05);
    // a converts 10%, b 20%: a clear winner to the Bayesian rule at 400 users per arm.
    traffic(&app, "push", 800, converting(&[("a", 1, 10), ("b", 2, 10)])).await;

    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["outcome"], "winner", "{decision}");
    assert_eq!(decision["verdict"], "keep_running", "{decision}");
    assert!(decision["variant"].is_null());
    let runtime = runtime_of(&started, &results);
    let runtime_days = decision["runtime_days"].as_f64().unwrap();
    assert!(
        (runtime_days - runtime).abs() < 1e-6,
        "{runtime_days} vs {runtime}"
    );
    assert!(runtime_days < 0.01);
    let why = reasons(decision);
    assert!(
        why.iter().any(|r| r.starts_with("ran 0 of 7 days")),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|r| r.starts_with("b beats control on the goal: lift +")),
        "{why:?}"
    );
    // Winning already: no more users, only the rest of the week.
    assert_eq!(decision["users_needed"], 0, "{decision}");
    let days = decision["days_needed"].as_f64().unwrap();
    assert!((days - (7.0 - runtime_days)).abs() < 1e-9, "{days}");
    let summary = decision["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Keep running: b wins by +") && summary.ends_with("; 7 more days."),
        "{summary}"
    );

    // While running, both settings may change: no minimum runtime → ship b.
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/push",
            Some(json!({"min_runtime": "0s", "minimum_effect": 0.1})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["min_runtime"], "0s");
    assert_eq!(patched.body["minimum_effect"], 0.1);
    let audited = app.audit_log("").await;
    let patch = audited
        .iter()
        .find(|e| e["action"] == "experiment.patch")
        .expect("the patch is audited");
    assert_eq!(patch["after"]["min_runtime"], "0s", "{patch}");
    assert_eq!(patch["after"]["minimum_effect"], 0.1, "{patch}");

    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["verdict"], "ship", "{decision}");
    assert_eq!(decision["variant"], "b");
    assert!(decision["users_needed"].is_null() && decision["days_needed"].is_null());
    let lift = results["variants"][1]["lift"]["mean"].as_f64().unwrap();
    let summary = decision["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "Ship b: it beats control by {:+.1}% on the goal",
            lift * 100.0
        )),
        "{summary}"
    );
    assert!(
        reasons(decision)
            .iter()
            .any(|r| r == "ran 0 days (no minimum runtime)"),
        "{decision}"
    );

    // The dashboard says it in one sentence, with the reasons under it.
    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/push").await;
    assert_eq!(page.status, StatusCode::OK);
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    assert!(page.body.contains(&escaped(summary)), "{}", page.body);
    for reason in reasons(decision) {
        assert!(page.body.contains(&escaped(&reason)), "{reason}");
    }
}

#[tokio::test]
async fn a_clearly_worse_variant_is_rolled_back_at_once() {
    let app = spawn_app().await;
    // The default minimum runtime of a week does not hold a roll back.
    app.running_experiment(experiment_body("push", "ab")).await;
    // a converts 30%, b 10%: clear to both analyses (30 of each outcome in each arm).
    traffic(&app, "push", 800, converting(&[("a", 3, 10), ("b", 1, 10)])).await;

    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["verdict"], "roll_back", "{decision}");
    assert_eq!(decision["variant"], "a", "control");
    let chance = results["variants"][1]["chance_to_beat_control"]
        .as_f64()
        .unwrap();
    assert!(chance <= 0.05, "{chance}");
    let why = reasons(decision);
    assert!(
        why.iter()
            .any(|r| r.starts_with("b loses to control on the goal: lift -")),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|r| r.contains("does not wait for the minimum runtime")),
        "{why:?}"
    );
    assert!(
        decision["summary"]
            .as_str()
            .unwrap()
            .starts_with("Roll back to control: b loses on the goal (-"),
        "{decision}"
    );
    assert!(decision["users_needed"].is_null());

    // The sequential analysis agrees, by the goal's confidence sequence.
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/push",
            Some(json!({"analysis": "sequential"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["verdict"], "roll_back", "{decision}");
    let sequence = &results["metrics"][0]["variants"][1]["sequential"];
    assert_eq!(sequence["decisive"], true);
    assert!(
        sequence["lift"]["high"].as_f64().unwrap() < 0.0,
        "{sequence}"
    );
    let high = sequence["lift"]["high"].as_f64().unwrap();
    assert!(
        reasons(decision)
            .iter()
            .any(|r| r.starts_with("b loses to control on the goal")
                && r.contains(&format!("{:+.1}%] (confidence sequence)", high * 100.0))),
        "{decision}"
    );
}

#[tokio::test]
async fn a_failing_guardrail_rolls_back_although_the_goal_is_level() {
    let app = spawn_app().await;
    create_metrics(
        &app,
        &[
            json!({"key": "uninstalls", "name": "Uninstall rate", "type": "conversion",
                 "event": "uninstall", "direction": "decrease"}),
        ],
    )
    .await;
    let mut body = experiment_body("push", "ab");
    body["metrics"] = json!({"guardrails": [{"metric": "uninstalls", "threshold": 0.02}]});
    app.running_experiment(body).await;
    // The goal converts 20% in both; b triples uninstalls (5% → 15%).
    traffic(&app, "push", 800, |variant, k| {
        let mut events = Vec::new();
        if k % 10 < 2 {
            events.push("purchase");
        }
        let uninstalls = if variant == "a" { 1 } else { 3 };
        if k % 20 < uninstalls {
            events.push("uninstall");
        }
        events
    })
    .await;

    eventually(|| async {
        let results = app.results("push").await;
        results["metrics"][1]["variants"][1]["status"] == "failing"
    })
    .await;
    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["verdict"], "roll_back", "{decision}");
    assert_eq!(decision["variant"], "a");
    let goal_chance = results["variants"][1]["chance_to_beat_control"]
        .as_f64()
        .unwrap();
    assert!(
        goal_chance > 0.05,
        "the goal alone would not roll back: {goal_chance}"
    );
    assert!(
        reasons(decision)
            .iter()
            .any(|r| r.starts_with("b fails the guardrail Uninstall rate: lift +")),
        "{decision}"
    );
    assert_eq!(
        decision["summary"],
        "Roll back to control: b fails the guardrail Uninstall rate."
    );
}

#[tokio::test]
async fn equal_rates_with_many_users_are_no_difference() {
    let app = spawn_app().await;
    let mut body = experiment_body("push", "ab");
    body["min_runtime"] = json!("0s");
    body["minimum_effect"] = json!(0.5);
    app.running_experiment(body).await;
    traffic(&app, "push", 800, converting(&[("a", 3, 10), ("b", 3, 10)])).await;

    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["verdict"], "no_difference", "{decision}");
    assert!(decision["variant"].is_null());
    let lift = &results["variants"][1]["lift"];
    let (low, high) = (
        lift["low"].as_f64().unwrap(),
        lift["high"].as_f64().unwrap(),
    );
    assert!(-0.5 < low && high < 0.5, "{lift}");
    assert!(
        reasons(decision)
            .iter()
            .any(|r| r.contains("within ±50.0%")),
        "{decision}"
    );

    // The default minimum effect (5%) is far inside that interval: keep running.
    let patched = app
        .admin(
            Method::PATCH,
            "/api/v1/experiments/push",
            Some(json!({"minimum_effect": 0.05})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(
        app.results("push").await["decision"]["verdict"],
        "keep_running"
    );
}

#[tokio::test]
async fn an_open_question_says_how_many_more_users_and_days() {
    let app = spawn_app().await;
    let mut body = experiment_body("push", "ab");
    body["min_runtime"] = json!("0s");
    app.running_experiment(body).await;
    // 10% against 12%: far from settled at 400 users per arm.
    let users = traffic(&app, "push", 800, converting(&[("a", 1, 10), ("b", 3, 25)])).await;

    let results = app.results("push").await;
    let decision = &results["decision"];
    assert_eq!(decision["verdict"], "keep_running", "{decision}");
    // Recomputed here: the half-width h of b's lift interval shrinks as 1/√n, so it reaches
    // max(|lift|, minimum effect − |lift|) after n·(h/target)² users.
    let lift = &results["variants"][1]["lift"];
    let (mean, low, high) = (
        lift["mean"].as_f64().unwrap(),
        lift["low"].as_f64().unwrap(),
        lift["high"].as_f64().unwrap(),
    );
    let h = (high - low) / 2.0;
    let target = mean.abs().max(0.05 - mean.abs());
    let n: usize = users.values().sum();
    assert_eq!(n, 800);
    let expected = (n as f64 * ((h / target).powi(2) - 1.0)).ceil() as u64;
    let needed = decision["users_needed"].as_u64().unwrap();
    assert!(needed > 0);
    assert_eq!(needed, expected, "{decision}");
    // Today's traffic is every user of the test (all assigned within the last 24 hours).
    let days = decision["days_needed"].as_f64().unwrap();
    assert!((days - needed as f64 / 800.0).abs() < 1e-9, "{days}");
    let summary = decision["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Keep running: b leads by +")
            && summary.contains("but the interval still includes no effect")
            && summary.contains(" more users (≈ "),
        "{summary}"
    );
    assert!(
        reasons(decision)
            .iter()
            .any(|r| r == "today's traffic: 800 users in the last 24 hours"),
        "{decision}"
    );
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    for (field, value) in [
        ("minimum_effect", json!(0)),
        ("minimum_effect", json!(10.5)),
        ("min_runtime", json!("abc")),
        ("min_runtime", json!("-1d")),
    ] {
        let mut body = experiment_body("push", "ab");
        body[field] = value.clone();
        let reply = app.create_experiment(body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field} {value}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    let mut body = experiment_body("push", "ab");
    body["min_runtime"] = json!("14d");
    body["minimum_effect"] = json!(0.2);
    app.running_experiment(body).await;
    let before = app.audit_log("").await.len();
    for (field, value) in [("minimum_effect", json!(0)), ("min_runtime", json!("abc"))] {
        let reply = app
            .admin(
                Method::PATCH,
                "/api/v1/experiments/push",
                Some(json!({ field: value, "name": "Renamed" })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{field}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
    }
    let read = app
        .admin(Method::GET, "/api/v1/experiments/push", None)
        .await;
    assert_eq!(read.body["min_runtime"], "14d");
    assert_eq!(read.body["minimum_effect"], 0.2);
    assert_eq!(read.body["name"], "Experiment push");
    assert_eq!(app.audit_log("").await.len(), before, "nothing audited");
}

#[tokio::test]
async fn the_edit_form_shows_and_changes_both_settings_while_running() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("push", "ab")).await;
    let browser = Browser::signed_in(&app).await;
    let form = browser.get("/dashboard/experiments/push/edit").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains(r#"name="min_runtime" value="7d""#),
        "{}",
        form.body
    );
    assert!(form.body.contains(r#"name="minimum_effect" value="5""#));
    let csrf = form.csrf();
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("name", "Experiment push"),
        ("description", ""),
        ("traffic", "100"),
        ("variant-0-key", "a"),
        ("variant-0-weight", "50"),
        ("variant-1-key", "b"),
        ("variant-1-weight", "50"),
        ("min_runtime", "a week"),
        ("minimum_effect", "10"),
    ];
    let refused = browser
        .post("/dashboard/experiments/push/edit", &fields)
        .await;
    refused.assert_error_at("min_runtime");
    let read = app
        .admin(Method::GET, "/api/v1/experiments/push", None)
        .await;
    assert_eq!(read.body["minimum_effect"], 0.05, "nothing changed");
    fields[9] = ("min_runtime", "3d");
    let saved = browser
        .post("/dashboard/experiments/push/edit", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let read = app
        .admin(Method::GET, "/api/v1/experiments/push", None)
        .await;
    assert_eq!(read.body["min_runtime"], "3d");
    assert_eq!(read.body["minimum_effect"], 0.1);
    let page = browser.get("/dashboard/experiments/push").await;
    assert!(
        page.body.contains("3d before a “ship” verdict"),
        "{}",
        page.body
    );
}
