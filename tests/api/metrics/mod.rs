//! Metrics: the library, experiments' goal, secondary metrics and guardrails, and the values
//! the server counts for them.

mod counting;
mod experiments;
mod exports;
mod instances;
mod library;
mod results;

use crate::helpers::*;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

/// The example library: conversion, mean (capped), mean of counts, ratio,
/// retention, and a decrease-is-good conversion.
pub fn example_metrics() -> Vec<Value> {
    vec![
        json!({"key": "purchase-rate", "name": "Purchase rate", "type": "conversion", "event": "purchase", "window": "7d", "direction": "increase"}),
        json!({"key": "revenue", "name": "Revenue per user", "type": "mean", "event": "purchase", "of": "value", "cap": {"percentile": 0.99}}),
        json!({"key": "orders", "name": "Orders per user", "type": "mean", "event": "purchase", "of": "count"}),
        json!({"key": "aov", "name": "Average order value", "type": "ratio", "numerator": "revenue", "denominator": "orders"}),
        json!({"key": "d7-retention", "name": "Day-7 retention", "type": "retention", "event": "open", "from": "1d", "to": "8d"}),
        json!({"key": "uninstalls", "name": "Uninstall rate", "type": "conversion", "event": "uninstall", "direction": "decrease"}),
    ]
}

/// Creates every metric of `metrics`, in order.
pub async fn create_metrics(app: &TestApp, metrics: &[Value]) {
    for m in metrics {
        let reply = app
            .admin(Method::POST, "/api/v1/metrics", Some(m.clone()))
            .await;
        assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
    }
}

/// A user of the test: their variant, when they were assigned, and what they did.
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) variant: String,
    pub(crate) assigned_at: DateTime<Utc>,
    /// (event name, value, time)
    pub(crate) events: Vec<(&'static str, Option<f64>, DateTime<Utc>)>,
}

/// Assigns `n` users to `experiment` and moves their assignments to `assigned_at(i)`.
pub(crate) async fn assigned_users(
    app: &TestApp,
    experiment: &str,
    n: usize,
    assigned_at: impl Fn(usize) -> DateTime<Utc>,
) -> Vec<User> {
    let mut users = Vec::new();
    for i in 0..n {
        let id = format!("u{i}");
        let variant = app.variant_of(&id, experiment, json!({})).await.unwrap();
        users.push(User {
            id,
            variant,
            assigned_at: assigned_at(i),
            events: Vec::new(),
        });
    }
    eventually(|| async { app.count("SELECT count(*) AS n FROM assignments") == n as i64 }).await;
    // One statement: row by row took seconds on a busy machine, long enough for the server to
    // close the client's idle keep-alive connection just as the next request reused it.
    let rows: Vec<String> = users
        .iter()
        .map(|u| {
            format!(
                "('{}', '{}'::timestamptz)",
                u.id,
                u.assigned_at.to_rfc3339()
            )
        })
        .collect();
    app.execute(&format!(
        "UPDATE assignments a SET assigned_at = v.at FROM (VALUES {}) AS v(user_id, at)
         WHERE a.user_id = v.user_id",
        rows.join(", ")
    ));
    users
}

/// Sends every user's events, a hundred at a time.
pub(crate) async fn send_events(app: &TestApp, users: &[User]) {
    let events: Vec<Value> = users
        .iter()
        .flat_map(|u| {
            u.events
                .iter()
                .enumerate()
                .map(move |(k, (name, value, at))| {
                    let mut e = json!({"event_id": format!("{}-{k}", u.id), "user_id": u.id,
                                   "name": name, "timestamp": at.to_rfc3339()});
                    if let Some(v) = value {
                        e["value"] = json!(v);
                    }
                    e
                })
        })
        .collect();
    for chunk in events.chunks(100) {
        let reply = app.track(json!(chunk)).await;
        assert!(reply.status.is_success(), "{:?}", reply.body);
    }
}
