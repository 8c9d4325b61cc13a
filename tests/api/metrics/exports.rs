//! Exports of an experiment with metrics: a results row per metric × variant with the
//! figures of `/results`, and a row per user with each metric's value, from which the test
//! recomputes the results' figures itself.

use super::results::{assert_close, cell, metric, quantile};
use super::{assigned_users, create_metrics, example_metrics, send_events};
use crate::helpers::*;
use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn download(app: &TestApp, path: &str) -> Vec<Value> {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    jsonl(&response.text().await.unwrap())
}

/// An experiment whose goal is purchase-rate, with revenue (percentile-capped), orders and
/// their ratio; 40 users, some buying once or twice.
async fn shop(app: &TestApp) {
    create_metrics(app, &example_metrics()).await;
    let mut body = experiment_body("shop", "ab");
    body.as_object_mut().unwrap().remove("goal");
    body["metrics"] = json!({"goal": "purchase-rate", "secondary": ["revenue", "orders", "aov"]});
    app.running_experiment(body).await;
    let now = Utc::now();
    let mut users = assigned_users(app, "shop", 40, |_| now - TimeDelta::hours(3)).await;
    for (i, u) in users.iter_mut().enumerate() {
        let at = u.assigned_at + TimeDelta::minutes(10);
        if i % 3 != 0 {
            u.events.push(("purchase", Some(5.0 + i as f64), at));
        }
        if i % 4 == 1 {
            u.events.push((
                "purchase",
                Some(300.0 + 7.0 * i as f64),
                at + TimeDelta::minutes(1),
            ));
        }
    }
    send_events(app, &users).await;
}

#[tokio::test]
async fn the_results_export_has_a_row_per_metric_and_variant() {
    let app = spawn_app().await;
    shop(&app).await;
    let results = app.results("shop").await;
    let rows = download(
        &app,
        "/api/v1/experiments/shop/export?data=results&format=jsonl",
    )
    .await;
    let metric_rows: Vec<&Value> = rows.iter().filter(|r| !r["metric_key"].is_null()).collect();
    assert_eq!(
        rows.len(),
        2 + 4 * 2,
        "two variant rows, then 4 metrics × 2 variants"
    );
    assert_eq!(metric_rows.len(), 8);
    for row in metric_rows {
        let m = metric(&results, row["metric_key"].as_str().unwrap());
        let v = cell(m, row["variant"].as_str().unwrap());
        assert_eq!(row["metric_role"], m["role"]);
        assert_eq!(row["metric_type"], m["type"]);
        assert_eq!(row["users"], v["users"]);
        assert_close(
            &row["value_mean"],
            v["value"]["mean"].as_f64().unwrap(),
            "value",
        );
        assert_close(
            &row["value_low"],
            v["value"]["low"].as_f64().unwrap(),
            "value low",
        );
        if v["lift"].is_null() {
            assert!(row["lift_mean"].is_null());
        } else {
            assert_close(
                &row["lift_mean"],
                v["lift"]["mean"].as_f64().unwrap(),
                "lift",
            );
            assert_close(&row["p_value"], v["p_value"].as_f64().unwrap(), "p-value");
        }
        if let Some(q) = v["p_value_adjusted"].as_f64() {
            assert_close(&row["p_value_adjusted"], q, "adjusted p-value");
        }
    }
    // CSV has the same columns.
    let response = app
        .http
        .get(format!(
            "{}/api/v1/experiments/shop/export?data=results&format=csv",
            app.address
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let csv = response.text().await.unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            "metric_type,p_value_adjusted,value_high,value_low,value_mean,analysis,\
             decision_verdict,decision_variant,decision_summary,decision_reasons,\
             decision_runtime_days,decision_users_needed,decision_days_needed,policy"
        ),
        "{header}"
    );
    assert_eq!(csv.lines().count(), 1 + 10);
}

#[tokio::test]
async fn the_users_export_lets_an_analyst_recompute_every_metric() {
    let app = spawn_app().await;
    shop(&app).await;
    let results = app.results("shop").await;
    let rows = download(
        &app,
        "/api/v1/experiments/shop/export?data=users&format=jsonl",
    )
    .await;
    assert_eq!(rows.len(), 40);
    let columns: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    for expected in [
        "experiment",
        "user_id",
        "variant",
        "assigned_at",
        "context",
        "orders",
        "purchase-rate",
        "revenue",
    ] {
        assert!(
            columns.iter().any(|c| *c == expected),
            "{expected} in {columns:?}"
        );
    }
    assert!(rows[0].get("aov").is_none(), "a ratio is its parts");
    let x = |r: &Value, k: &str| r[k].as_f64().unwrap();
    let bought: Vec<f64> = rows
        .iter()
        .map(|r| x(r, "revenue"))
        .filter(|&v| v > 0.0)
        .collect();
    let cap = quantile(&bought, 0.99);
    for variant in ["a", "b"] {
        let mine: Vec<&Value> = rows.iter().filter(|r| r["variant"] == variant).collect();
        let n = mine.len() as f64;
        let converted: f64 = mine.iter().map(|r| x(r, "purchase-rate")).sum();
        let revenue: f64 = mine.iter().map(|r| x(r, "revenue").min(cap)).sum();
        let orders: f64 = mine.iter().map(|r| x(r, "orders")).sum();
        let value = |key: &str| cell(metric(&results, key), variant)["value"]["mean"].clone();
        assert_close(
            &value("purchase-rate"),
            (1.0 + converted) / (2.0 + n),
            "purchase rate",
        );
        assert_close(&value("revenue"), revenue / n, "revenue per user");
        assert_close(&value("orders"), orders / n, "orders per user");
        assert_close(&value("aov"), revenue / orders, "average order value");
    }
    // CSV: the header names the metrics.
    let response = app
        .http
        .get(format!(
            "{}/api/v1/experiments/shop/export?data=users&format=csv",
            app.address
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let csv = response.text().await.unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "experiment,user_id,variant,assigned_at,context,orders,purchase-rate,revenue"
    );
}

#[tokio::test]
async fn the_users_export_of_an_inline_goal_has_a_goal_column() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("plain", "ab")).await;
    let now = Utc::now();
    let mut users = assigned_users(&app, "plain", 6, |_| now - TimeDelta::hours(1)).await;
    users[0]
        .events
        .push(("purchase", None, now - TimeDelta::minutes(5)));
    send_events(&app, &users).await;
    let rows = download(
        &app,
        "/api/v1/experiments/plain/export?data=users&format=jsonl",
    )
    .await;
    assert_eq!(rows.len(), 6);
    let converted: Vec<&Value> = rows.iter().filter(|r| r["goal"] == 1).collect();
    assert_eq!(converted.len(), 1);
    assert_eq!(converted[0]["user_id"], "u0");
}
