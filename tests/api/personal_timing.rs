//! Each user's own best time: a timing variant whose payload holds `{"best_hour_of": event}`
//! answers each user the hour at which they most often sent that event, the population's
//! hour when they sent it fewer than `min_events` times.

use crate::helpers::*;
use chrono::{DurationRound, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn send_time_body(key: &str, personal_payload: Value) -> Value {
    json!({
        "key": key,
        "name": "Send time",
        "dimension": "timing",
        "kind": "ab",
        "variants": [
            {"key": "personal", "payload": personal_payload, "weight": 1.0},
            {"key": "fixed", "payload": {"send_at_hour": 9}, "weight": 0.0}
        ],
        "goal": {"event": "open", "metric": "conversion"}
    })
}

/// `n` opens of `user` at `hour` UTC on the days before today.
async fn opens_at(app: &TestApp, user: &str, hour: i64, n: i64) {
    let midnight = Utc::now().duration_trunc(TimeDelta::days(1)).unwrap();
    let events: Vec<Value> = (1..=n)
        .map(|d| {
            let at = midnight - TimeDelta::days(d) + TimeDelta::hours(hour) + TimeDelta::minutes(7);
            json!({"user_id": user, "name": "open", "timestamp": at})
        })
        .collect();
    let reply = app.track(Value::Array(events)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
}

async fn payload_of(app: &TestApp, user: &str, key: &str) -> Value {
    let reply = app
        .assign(json!({"user_id": user, "experiments": [key]}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["assignments"][0]["payload"].clone()
}

#[tokio::test]
async fn each_user_gets_their_own_hour_and_the_rest_the_populations() {
    let app = spawn_app().await;
    // The population mostly opens at 21:00; one regular at 19:00; one light user twice at 6.
    for i in 0..3 {
        opens_at(&app, &format!("crowd-{i}"), 21, 6).await;
    }
    opens_at(&app, "regular", 19, 6).await;
    opens_at(&app, "light", 6, 2).await;
    app.running_experiment(send_time_body(
        "send-time",
        json!({"send_at_hour": {"best_hour_of": "open"}, "copy": "We miss you"}),
    ))
    .await;
    assert_eq!(
        payload_of(&app, "regular", "send-time").await,
        json!({"send_at_hour": 19, "copy": "We miss you"})
    );
    // Fewer than 5 opens, and a user never seen: the population's hour once it is read.
    eventually(|| async { payload_of(&app, "light", "send-time").await["send_at_hour"] == 21 })
        .await;
    assert_eq!(
        payload_of(&app, "stranger", "send-time").await["send_at_hour"],
        21
    );
    // OFREP answers the same filled value.
    let reply = app
        .request(
            Method::POST,
            "/ofrep/v1/evaluate/flags/send-time",
            Some(CLIENT_KEY),
            Some(json!({"context": {"targetingKey": "regular"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["value"]["send_at_hour"], 19, "{:?}", reply.body);
    // The stored variant is the personal one; the template stays as written.
    let experiment = app
        .admin(Method::GET, "/api/v1/experiments/send-time", None)
        .await;
    assert_eq!(
        experiment.body["variants"][0]["payload"]["send_at_hour"],
        json!({"best_hour_of": "open"})
    );
}

#[tokio::test]
async fn min_events_and_default_are_settable() {
    let app = spawn_app().await;
    opens_at(&app, "light", 6, 2).await;
    app.running_experiment(send_time_body(
        "send-time",
        json!({"at": {"best_hour_of": "open", "min_events": 2},
               "buy_at": {"best_hour_of": "purchase", "default": 18}}),
    ))
    .await;
    assert_eq!(
        payload_of(&app, "light", "send-time").await,
        json!({"at": 6, "buy_at": 18})
    );
}

#[tokio::test]
async fn placeholders_are_checked() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"at": {"best_hour_of": "open", "min_events": 0}}),
            "variants.personal.payload.at.min_events: ",
        ),
        (
            json!({"at": {"best_hour_of": "open", "default": 24}}),
            "variants.personal.payload.at.default: ",
        ),
        (
            json!({"at": {"best_hour_of": "open", "zone": "CET"}}),
            "variants.personal.payload.at.zone: ",
        ),
        (
            json!({"at": {"best_hour_of": 7}}),
            "variants.personal.payload.at.best_hour_of: ",
        ),
    ];
    for (payload, field) in cases {
        let reply = app
            .create_experiment(send_time_body("bad", payload.clone()))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{payload}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{payload}: {message}");
    }
    // Only timing experiments fill payloads per user.
    let mut content = send_time_body("content", json!({"at": {"best_hour_of": "open"}}));
    content["dimension"] = json!("content");
    let reply = app.create_experiment(content).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timing")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);
    // Without profiles there is nothing to fill them from.
    let off = spawn_app_with(crate::profiles::profiles_off).await;
    let reply = off
        .create_experiment(send_time_body(
            "send-time",
            json!({"at": {"best_hour_of": "open"}}),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("profiles")
    );
}
