//! Events: stored once, attributed by the rules, counted into the statistics.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn duplicate_event_ids_are_stored_and_counted_once() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("dedupe", "ab"))
        .await;
    app.variant_of("u1", "dedupe", json!({})).await.unwrap();
    let first = app
        .track(json!([{"event_id": "e-1", "user_id": "u1", "name": "purchase"}]))
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.body, json!({"accepted": 1, "duplicates": 0}));
    let retry = app
        .track(
            json!([{"event_id": "e-1", "user_id": "u1", "name": "purchase"},
                                 {"event_id": "e-2", "user_id": "u1", "name": "purchase"},
                                 {"event_id": "e-2", "user_id": "u1", "name": "purchase"}]),
        )
        .await;
    assert_eq!(retry.body, json!({"accepted": 1, "duplicates": 2}));
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 2);
    assert_eq!(
        app.count("SELECT sum(conversions)::int8 AS n FROM variant_stats"),
        1
    );
}

#[tokio::test]
async fn concurrent_retries_of_one_event_count_once() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("race", "ab")).await;
    app.variant_of("u1", "race", json!({})).await.unwrap();
    let body = json!([{"event_id": "same", "user_id": "u1", "name": "purchase", "value": 5.0}]);
    let replies = futures_util::future::join_all((0..10).map(|_| app.track(body.clone()))).await;
    let accepted: i64 = replies
        .iter()
        .map(|r| r.body["accepted"].as_i64().unwrap())
        .sum();
    let duplicates: i64 = replies
        .iter()
        .map(|r| r.body["duplicates"].as_i64().unwrap())
        .sum();
    assert_eq!((accepted, duplicates), (1, 9));
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 1);
    assert_eq!(
        app.count("SELECT sum(value_sum)::int8 AS n FROM variant_stats"),
        5
    );
}

#[tokio::test]
async fn a_conversion_counts_a_user_once_for_the_matching_goal_only() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("conv", "ab")).await;
    let variant = app.variant_of("buyer", "conv", json!({})).await.unwrap();
    app.variant_of("browser", "conv", json!({})).await.unwrap();
    app.track(json!([
        {"user_id": "buyer", "name": "purchase"},
        {"user_id": "buyer", "name": "purchase"},
        {"user_id": "browser", "name": "page_view"},
        {"user_id": "never-assigned", "name": "purchase"}
    ]))
    .await;
    let results = app.results("conv").await;
    let row = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == variant.as_str())
        .unwrap();
    assert_eq!(row["conversions"], 1);
    let total: i64 = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["conversions"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1);
    let users: i64 = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["users"].as_i64().unwrap())
        .sum();
    assert_eq!(users, 2);
}

#[tokio::test]
async fn events_before_the_assignment_do_not_count() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("timing", "ab"))
        .await;
    app.variant_of("u1", "timing", json!({})).await.unwrap();
    let reply = app
        .track(json!([{"user_id": "u1", "name": "purchase", "timestamp": "2020-01-01T00:00:00Z"}]))
        .await;
    assert_eq!(reply.body["accepted"], 1);
    assert_eq!(
        app.count("SELECT sum(conversions)::int8 AS n FROM variant_stats"),
        0
    );
    // A conversion the user made before being assigned stays unattributed even if they
    // convert again later: only the later event counts.
    app.track(json!([{"user_id": "u1", "name": "purchase"}]))
        .await;
    assert_eq!(
        app.count("SELECT sum(conversions)::int8 AS n FROM variant_stats"),
        1
    );
}

#[tokio::test]
async fn revenue_sums_values_per_user() {
    let app = spawn_app().await;
    let mut body = experiment_body("rev", "ab");
    body["goal"] = json!({"event": "purchase", "metric": "revenue"});
    app.running_experiment(body).await;
    let v = app.variant_of("u1", "rev", json!({})).await.unwrap();
    app.variant_of("u2", "rev", json!({})).await.unwrap();
    app.track(json!([{"user_id": "u1", "name": "purchase", "value": 10.0},
                     {"user_id": "u1", "name": "purchase", "value": 5.5}]))
        .await;
    assert_eq!(
        app.count("SELECT (value * 10)::int8 AS n FROM assignments WHERE user_id = 'u1'"),
        155
    );
    let vs = app.count(&format!(
        "SELECT (sum(s.value_sum) * 10)::int8 AS n FROM variant_stats s JOIN variants v ON v.id = s.variant_id WHERE v.key = '{v}'"
    ));
    assert_eq!(vs, 155);
    // Sum of squares is over per-user totals: 15.5² = 240.25.
    let sq = app.count(&format!(
        "SELECT (sum(s.value_sum_sq) * 100)::int8 AS n FROM variant_stats s JOIN variants v ON v.id = s.variant_id WHERE v.key = '{v}'"
    ));
    assert_eq!(sq, 24025);
}

#[tokio::test]
async fn events_count_only_for_live_experiments() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("live", "ab")).await;
    app.running_experiment(experiment_body("ended", "ab")).await;
    app.assign(json!({"user_id": "u1"})).await;
    app.admin(Method::POST, "/api/v1/experiments/ended/stop", None)
        .await;
    app.track(json!([{"user_id": "u1", "name": "purchase"}]))
        .await;
    let live: i64 = app.results("live").await["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["conversions"].as_i64().unwrap())
        .sum();
    let ended: i64 = app.results("ended").await["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["conversions"].as_i64().unwrap())
        .sum();
    assert_eq!((live, ended), (1, 0));
}

#[tokio::test]
async fn statistics_equal_a_rebuild_from_raw_rows() {
    let app = spawn_app().await;
    let mut body = experiment_body("exact", "bandit");
    body["goal"] = json!({"event": "purchase", "metric": "revenue"});
    app.running_experiment(body).await;
    let users: Vec<String> = (0..60).map(|i| format!("u{i}")).collect();
    futures_util::future::join_all(users.iter().map(|u| app.variant_of(u, "exact", json!({}))))
        .await;
    futures_util::future::join_all(users.iter().enumerate().map(|(i, u)| {
        app.track(json!([{"event_id": format!("p{i}"), "user_id": u, "name": "purchase", "value": (i % 7) as f64}]))
    }))
    .await;
    let mismatches = app.count(
        "SELECT count(*) AS n FROM ( \
           SELECT variant_id, sum(users) AS users, sum(conversions) AS conversions, sum(value_sum) AS value_sum \
           FROM variant_stats GROUP BY variant_id) s JOIN ( \
           SELECT variant_id, count(*) AS users, count(converted_at) AS conversions, sum(value) AS value_sum \
           FROM assignments GROUP BY variant_id) r USING (variant_id) \
         WHERE s.users <> r.users OR s.conversions <> r.conversions OR abs(s.value_sum - r.value_sum) > 1e-9",
    );
    assert_eq!(mismatches, 0);
    assert_eq!(
        app.count("SELECT sum(users)::int8 AS n FROM variant_stats"),
        60
    );
    assert_eq!(
        app.count("SELECT sum(users)::int8 AS n FROM period_stats"),
        60
    );
}

#[tokio::test]
async fn event_ids_are_unique_per_user_not_across_users() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("ids", "ab")).await;
    app.variant_of("u1", "ids", json!({})).await.unwrap();
    app.variant_of("u2", "ids", json!({})).await.unwrap();
    // Two apps that number their events "e-1", "e-2", ... must not lose each other's events.
    let reply = app
        .track(
            json!([{"event_id": "e-1", "user_id": "u1", "name": "purchase"},
                      {"event_id": "e-1", "user_id": "u2", "name": "purchase"}]),
        )
        .await;
    assert_eq!(reply.body, json!({"accepted": 2, "duplicates": 0}));
    assert_eq!(
        app.count("SELECT sum(conversions)::int8 AS n FROM variant_stats"),
        2
    );
}
