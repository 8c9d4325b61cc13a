//! Metrics: the library, experiments' goal, secondary metrics and guardrails, and the values
//! the server counts for them.

mod counting;
mod experiments;
mod exports;
mod instances;
mod library;
mod results;

use crate::helpers::*;
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
