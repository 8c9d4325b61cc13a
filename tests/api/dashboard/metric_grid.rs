//! The experiment page's metrics × variants grid (goal, guardrails with their status,
//! secondary metrics; what the results API says, formatted), the notice of a guardrail that
//! holds back the winner, and the list's mark on an experiment with a failing guardrail.

use crate::helpers::html::{cell, row, text};
use crate::helpers::*;
use crate::metrics::{assigned_users, create_metrics, example_metrics, send_events};
use chrono::{TimeDelta, Utc};
use posterior::templates::format;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn metric<'a>(results: &'a Value, key: &str) -> &'a Value {
    results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("no metric {key} in {results}"))
}

fn variant<'a>(metric: &'a Value, key: &str) -> &'a Value {
    metric["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The data of `a_failing_guardrail_holds_back_the_winner` (tests/api/metrics/results.rs):
/// b wins the goal (purchases) but raises uninstalls far beyond the guardrail's 2%.
#[tokio::test]
async fn the_grid_shows_every_metric_and_the_guardrail_that_holds_back_the_winner() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    let mut body = experiment_body("push", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["variants"][1]["name"] = json!("Pushy");
    body["metrics"] = json!({
        "goal": "purchase-rate",
        "secondary": ["orders"],
        "guardrails": [{"metric": "uninstalls", "threshold": 0.02}]
    });
    app.running_experiment(body).await;
    // Another running experiment with a guardrail that holds, and one without any.
    let mut calm = experiment_body("calm", "ab");
    calm["metrics"] = json!({"guardrails": [{"metric": "uninstalls", "threshold": 0.02}]});
    app.running_experiment(calm).await;
    app.running_experiment(experiment_body("plain", "ab")).await;

    let now = Utc::now();
    let mut users = assigned_users(&app, "push", 400, |_| now - TimeDelta::hours(1)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let at = u.assigned_at + TimeDelta::minutes(1);
        let treated = u.variant == "b";
        if treated || i % 10 == 0 {
            u.events.push(("purchase", Some(1.0), at));
        }
        if (treated && i % 2 == 0) || i % 20 == 0 {
            u.events.push(("uninstall", None, at));
        }
    }
    send_events(&app, &users).await;
    let results = app.results("push").await;
    assert_eq!(metric(&results, "uninstalls")["status"], "failing");
    let blocked = &results["decision"]["blocked_by"];
    assert_eq!(blocked["metric"], "uninstalls", "{results}");

    let browser = Browser::signed_in(&app).await;
    let page = browser.get("/dashboard/experiments/push").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.body;
    // The results table is still there, and the grid after it.
    assert!(html.contains(r#"id="variant-b""#));
    assert!(html.contains(r#"id="metrics-heading""#));

    // Rows: the goal, then the guardrail, then the secondary metric.
    let at = |id: &str| {
        html.find(&format!(r#"id="metric-{id}""#))
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    assert!(at("purchase-rate") < at("uninstalls"));
    assert!(at("uninstalls") < at("orders"));
    assert_eq!(html.matches(r#"id="metric-"#).count(), 3);
    for (key, role) in [
        ("purchase-rate", "goal"),
        ("uninstalls", "guardrail"),
        ("orders", "secondary"),
    ] {
        let r = row(html, &format!("metric-{key}"));
        assert!(r.contains(&format!(r#"data-role="{role}""#)), "{key}: {r}");
        assert!(
            r.contains(&format!(r#"href="/dashboard/metrics/{key}""#)),
            "{key}"
        );
    }

    // The guardrail: its status, threshold and direction in words; b's cell fails.
    let guardrail = row(html, "metric-uninstalls");
    assert!(
        guardrail.contains(r#"data-status="failing""#),
        "{guardrail}"
    );
    let header = text(&guardrail[..guardrail.find("</th>").unwrap()]);
    assert!(header.contains("Uninstall rate"), "{header}");
    assert!(header.contains("failing"), "{header}");
    assert!(header.contains("a harm beyond 2% matters"), "{header}");
    assert!(header.contains("lower is better"), "{header}");
    let uninstalls = metric(&results, "uninstalls");
    let b = variant(uninstalls, "b");
    let harm = cell(guardrail, "b");
    assert!(
        harm.contains(&format!(
            "chance of harm {}",
            format::probability(f(&b["chance_of_harm"]))
        )),
        "{harm}"
    );
    assert!(harm.contains("failing"), "{harm}");
    // Uninstalls rose: the interval is on the metric's bad side, so the bar is red.
    let lift = &b["lift"];
    assert!(f(&lift["low"]) > 0.0, "{lift}");
    let b_cell = &guardrail[guardrail.find(r#"data-field="b""#).unwrap()..];
    assert!(b_cell.contains(r#"class="lift-bar lift-bad""#), "{b_cell}");

    // Every cell says what the results API says, formatted as on the page.
    for m in results["metrics"].as_array().unwrap() {
        let key = m["key"].as_str().unwrap();
        let r = row(html, &format!("metric-{key}"));
        let rate = m["type"] == "conversion";
        for v in m["variants"].as_array().unwrap() {
            let vkey = v["key"].as_str().unwrap();
            let shown = cell(r, vkey);
            let mean = f(&v["value"]["mean"]);
            let value = if rate {
                format::percent(mean, 2)
            } else {
                format::number(mean)
            };
            assert!(shown.starts_with(&value), "{key}/{vkey}: {shown} ≠ {value}");
            if vkey == "a" {
                assert!(shown.contains("baseline"), "{key}/{vkey}: {shown}");
                continue;
            }
            let l = &v["lift"];
            for expected in [
                format::signed_percent(f(&l["mean"])),
                format!(
                    "{} to {}",
                    format::signed_percent(f(&l["low"])),
                    format::signed_percent(f(&l["high"]))
                ),
                "chance to win".to_string(),
                format::probability(f(&v["chance_to_beat_control"])),
            ] {
                assert!(
                    shown.contains(&expected),
                    "{key}/{vkey}: {shown} lacks {expected}"
                );
            }
            if m["role"] == "secondary" {
                let q = format::p_value(v["p_value_adjusted"].as_f64());
                assert!(shown.contains("adjusted p"), "{key}/{vkey}: {shown}");
                assert!(shown.contains(&q), "{key}/{vkey}: {shown} lacks {q}");
            }
        }
    }
    // The goal: b purchases more, and more is better: green.
    let goal = row(html, "metric-purchase-rate");
    let goal_b = &goal[goal.find(r#"data-field="b""#).unwrap()..];
    assert!(goal_b.contains(r#"class="lift-bar lift-good""#), "{goal_b}");

    // The notice above the grid names the guardrail, the variant, the harm and the lift.
    let notice_at = html.find(r#"id="guardrail-block""#).expect("the notice");
    let heading = html.find(r#"id="metrics-heading""#).unwrap();
    assert!(heading < notice_at && notice_at < at("purchase-rate"));
    let notice = text(&html[notice_at..notice_at + html[notice_at..].find("</section>").unwrap()]);
    let lift = &blocked["lift"];
    for expected in [
        "A guardrail holds back the winner".to_string(),
        "Pushy".to_string(),
        "Uninstall rate".to_string(),
        format::probability(f(&blocked["chance_of_harm"])),
        format::short_percent(f(&blocked["threshold"])),
        format!(
            "lift {}, {} to {}",
            format::signed_percent(f(&lift["mean"])),
            format::signed_percent(f(&lift["low"])),
            format::signed_percent(f(&lift["high"]))
        ),
    ] {
        assert!(notice.contains(&expected), "{expected} not in: {notice}");
    }

    // The list marks the experiment that fails a guardrail, and only it.
    let list = browser.get("/dashboard/experiments").await;
    assert_eq!(list.status, StatusCode::OK);
    let marked = row(&list.body, "experiment-push");
    assert!(text(marked).contains("guardrail failing"), "{marked}");
    assert!(text(marked).contains("Uninstall rate"), "{marked}");
    for other in ["calm", "plain"] {
        let r = row(&list.body, &format!("experiment-{other}"));
        assert!(!r.contains("guardrail failing"), "{other}: {r}");
    }
    // Paused, it is still marked; stopped, it is not (its guardrails no longer guard).
    for (action, marked) in [("pause", true), ("stop", false)] {
        let reply = app
            .admin(
                Method::POST,
                &format!("/api/v1/experiments/push/{action}"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{action}: {:?}", reply.body);
        let list = browser.get("/dashboard/experiments").await;
        assert_eq!(
            row(&list.body, "experiment-push").contains("guardrail failing"),
            marked,
            "{action}"
        );
    }
}

/// Without metrics of the library the page has no grid (the table says it all); with only
/// secondary metrics the grid starts with the inline goal, which has no library page.
#[tokio::test]
async fn the_grid_appears_only_with_metrics_of_the_library() {
    let app = spawn_app().await;
    create_metrics(&app, &example_metrics()).await;
    app.running_experiment(experiment_body("bare", "ab")).await;
    let mut body = experiment_body("extra", "ab");
    body["metrics"] = json!({"secondary": ["orders"]});
    app.running_experiment(body).await;
    for i in 0..20 {
        app.variant_of(&format!("u{i}"), "bare", json!({})).await;
        app.variant_of(&format!("u{i}"), "extra", json!({})).await;
    }

    let browser = Browser::signed_in(&app).await;
    let bare = browser.get("/dashboard/experiments/bare").await;
    assert_eq!(bare.status, StatusCode::OK);
    assert!(bare.body.contains(r#"id="variant-a""#), "the results table");
    assert!(!bare.body.contains(r#"id="metrics-heading""#));
    assert!(!bare.body.contains(r#"id="metric-"#));

    let extra = browser.get("/dashboard/experiments/extra").await;
    assert_eq!(extra.status, StatusCode::OK);
    let goal = extra
        .body
        .find(r#"id="metric-goal""#)
        .expect("the goal row");
    let orders = extra.body.find(r#"id="metric-orders""#).expect("orders");
    assert!(goal < orders);
    let goal_row = row(&extra.body, "metric-goal");
    assert!(!goal_row.contains("/dashboard/metrics/"), "{goal_row}");
    assert!(!extra.body.contains(r#"id="guardrail-block""#));
}
