//! What the writer counts: per-user values and their statistics, checked against counts made
//! here from the events the test sent.

use super::create_metrics;
use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn the_writer_counts_windows_counts_and_values_per_user() {
    let app = spawn_app().await;
    create_metrics(
        &app,
        &[
            json!({"key": "buy-1h", "name": "Bought within an hour", "type": "conversion", "event": "buy", "window": "1h"}),
            json!({"key": "spend", "name": "Spend", "type": "mean", "event": "buy", "cap": {"value": 50}}),
            json!({"key": "buys", "name": "Buys", "type": "mean", "event": "buy", "of": "count"}),
        ],
    )
    .await;
    let mut body = experiment_body("shop", "ab");
    body["metrics"] = json!({"secondary": ["buy-1h", "spend", "buys"]});
    app.running_experiment(body).await;
    let variant = app.variant_of("u1", "shop", json!({})).await.unwrap();
    // Assigned now: one purchase in the hour, one two hours later, one before the assignment.
    let now = chrono::Utc::now();
    let at = |minutes: i64| (now + chrono::TimeDelta::minutes(minutes)).to_rfc3339();
    app.track(json!([
        {"event_id": "e1", "user_id": "u1", "name": "buy", "value": 30.0, "timestamp": at(10)},
        {"event_id": "e2", "user_id": "u1", "name": "buy", "value": 40.0, "timestamp": at(120)},
        {"event_id": "e3", "user_id": "u1", "name": "buy", "value": 99.0, "timestamp": at(-10)},
    ]))
    .await;
    let value = |metric: &str, column: &str| {
        app.float(&format!(
            "SELECT {column} AS x FROM metric_values v JOIN metrics m ON m.id = v.metric_id \
             WHERE m.key = '{metric}' AND v.user_id = 'u1'"
        ))
    };
    assert_eq!(value("buy-1h", "events::float8"), 1.0);
    assert_eq!(value("spend", "value_sum"), 70.0);
    assert_eq!(value("buys", "events::float8"), 2.0);
    let total = |metric: &str| {
        app.float(&format!(
            "SELECT sum(total) AS x FROM metric_stats s JOIN metrics m ON m.id = s.metric_id \
             JOIN variants v ON v.id = s.variant_id WHERE m.key = '{metric}' AND v.key = '{variant}'"
        ))
    };
    assert_eq!(total("buy-1h"), 1.0);
    assert_eq!(total("spend"), 50.0, "capped at 50");
    assert_eq!(total("buys"), 2.0);
}
