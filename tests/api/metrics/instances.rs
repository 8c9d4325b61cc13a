//! Two instances over one database: events counted through either add up exactly, and a
//! metric edited through one is recomputed for both.

use super::create_metrics;
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn two_instances_count_exactly_and_follow_a_metric_edit() {
    let one = spawn_app().await;
    create_metrics(
        &one,
        &[json!({"key": "spend", "name": "Spend", "type": "mean", "event": "buy"})],
    )
    .await;
    let mut body = experiment_body("twin", "ab");
    body["metrics"] = json!({"secondary": ["spend"]});
    one.running_experiment(body).await;
    let two = spawn_app_on(one.db.clone()).await;
    eventually(|| async { two.engine.snapshot().get("twin").is_some() }).await;

    const USERS: usize = 60;
    for i in 0..USERS {
        one.variant_of(&format!("t-{i}"), "twin", json!({}))
            .await
            .unwrap();
    }
    // Every user buys three times, the purchases split between the instances and sent at
    // once: the counts must add up exactly.
    let (one, two) = (&one, &two);
    let sends = (0..USERS).flat_map(|i| {
        (0..3).map(move |k| {
            let app = if (i + k) % 2 == 0 { one } else { two };
            let event = json!([{"event_id": format!("e-{i}-{k}"), "user_id": format!("t-{i}"),
                                "name": "buy", "value": (k + 1) as f64}]);
            async move { app.track(event).await }
        })
    });
    futures_util::future::join_all(sends).await;
    let sum = |app: &TestApp| {
        app.float(
            "SELECT coalesce(sum(total), 0) AS x FROM metric_stats s JOIN metrics m ON m.id = s.metric_id \
             WHERE m.key = 'spend'",
        )
    };
    assert_eq!(sum(one), USERS as f64 * 6.0);
    assert_eq!(
        one.count("SELECT count(*) AS n FROM metric_values WHERE events = 3"),
        USERS as i64
    );

    // Edited through the second instance to count purchases instead of adding their values:
    // recomputed from the raw rows (whichever instance does it, once).
    let edited = two
        .admin(
            Method::PUT,
            "/api/v1/metrics/spend",
            Some(json!({"name": "Purchases", "type": "mean", "event": "buy", "of": "count"})),
        )
        .await;
    assert_eq!(edited.status, reqwest::StatusCode::OK, "{}", edited.body);
    eventually(|| async {
        one.count(
            "SELECT count(*) AS n FROM tracked_metrics t JOIN metrics m ON m.id = t.metric_id \
             WHERE m.key = 'spend' AND t.computed_version = m.version",
        ) == 1
    })
    .await;
    assert_eq!(sum(one), USERS as f64 * 3.0);
}
