//! Deliveries to a real receiver: signed, only to subscribers, retried with backoff until a
//! 2xx, durable across a restart.

use super::api::create_webhook;
use super::receiver::Receiver;
use crate::helpers::*;
use posterior::config::Settings;
use posterior::domain::WebhookEvent;
use posterior::engine::WebhookSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// Retries after ~100 ms (the default is 10 s), looked for every 50 ms.
pub fn fast(settings: &mut Settings) {
    settings.engine.webhooks = WebhookSettings {
        poll_interval: Duration::from_millis(50),
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        timeout: Duration::from_secs(2),
        ..WebhookSettings::DEFAULT
    };
}

async fn post(app: &TestApp, path: &str, body: Option<Value>) {
    let reply = app.admin(Method::POST, path, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
}

async fn deliveries(app: &TestApp, webhook: i64) -> Vec<Value> {
    let reply = app
        .admin(
            Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body["deliveries"].as_array().unwrap().clone()
}

/// Waits until every delivery of `webhook` is delivered (at most 15 s); returns them.
async fn all_delivered(app: &TestApp, webhook: i64, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let list = deliveries(app, webhook).await;
        if list.len() == n && list.iter().all(|d| d["state"] == "delivered") {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not delivered: {:?}", deliveries(app, webhook).await);
}

#[tokio::test]
async fn lifecycle_events_are_delivered_signed_to_their_subscribers_only() {
    let app = spawn_app_with(fast).await;
    let starts = Receiver::start().await;
    let stops = Receiver::start().await;
    let start_hook = create_webhook(&app, &starts.url, &["experiment.started"]).await;
    let stop_hook =
        create_webhook(&app, &stops.url, &["experiment.stopped", "guardrail.fired"]).await;
    let secret = start_hook["secret"].as_str().unwrap();

    app.running_experiment(experiment_body("hooked", "ab"))
        .await;
    post(&app, "/api/v1/experiments/hooked/pause", None).await;
    post(
        &app,
        "/api/v1/experiments/hooked/stop",
        Some(json!({"winner": "b"})),
    )
    .await;

    let got = starts.wait_for(1).await;
    let delivery = &got[0];
    assert!(delivery.signed_with(secret), "{:?}", delivery.headers);
    assert!(!delivery.signed_with("whsec_someone-else"));
    let timestamp: i64 = delivery
        .header("Posterior-Timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    assert_eq!(
        delivery.header("Posterior-Event"),
        Some("experiment.started")
    );
    let body = delivery.json();
    assert_eq!(body["event"], "experiment.started");
    assert_eq!(
        delivery.header("Posterior-Delivery"),
        Some(body["id"].to_string().as_str())
    );
    assert_eq!(body["data"]["experiment"], "hooked");
    assert_eq!(body["data"]["status"], "running");
    assert_eq!(body["data"]["previous_status"], "draft");
    assert!(body["data"]["actor"].is_string());
    assert!(body["created_at"].is_string());

    let got = stops.wait_for(1).await;
    let stop_secret = stop_hook["secret"].as_str().unwrap();
    assert!(got[0].signed_with(stop_secret));
    let body = got[0].json();
    assert_eq!(body["event"], "experiment.stopped");
    assert_eq!(body["data"]["winner"], "b");
    assert_eq!(body["data"]["previous_status"], "paused");

    // A guardrail firing (emitted by the engine) reaches its subscriber only.
    let queued = app
        .engine
        .emit(
            WebhookEvent::GuardrailFired,
            json!({"experiment": "hooked", "metric": "errors"}),
        )
        .await
        .unwrap();
    assert_eq!(queued, 1);
    let got = stops.wait_for(2).await;
    assert_eq!(got[1].json()["event"], "guardrail.fired");
    assert_eq!(got[1].json()["data"]["metric"], "errors");

    // Nobody subscribed to experiment.paused; each receiver got only its own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(starts.received().len(), 1);
    assert_eq!(stops.received().len(), 2);
    let list = all_delivered(&app, start_hook["id"].as_i64().unwrap(), 1).await;
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["last_status"], 200);
    assert_eq!(list[0]["next_attempt_at"], Value::Null);
    assert_eq!(list[0]["payload"]["experiment"], "hooked");
    // Newest first.
    let list = all_delivered(&app, stop_hook["id"].as_i64().unwrap(), 2).await;
    assert_eq!(list[0]["event"], "guardrail.fired");
    assert_eq!(list[1]["event"], "experiment.stopped");

    // A refused transition queues nothing (the deliveries share its transaction).
    let refused = app
        .admin(Method::POST, "/api/v1/experiments/hooked/start", None)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT count(*) AS n FROM webhook_deliveries"), 3);
    starts.stop().await;
    stops.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_until_it_answers_2xx() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::answering(&[500, 503]).await;
    let hook = create_webhook(&app, &receiver.url, &["experiment.started"]).await;
    app.running_experiment(experiment_body("retried", "ab"))
        .await;

    let got = receiver.wait_for(3).await;
    let secret = hook["secret"].as_str().unwrap();
    // The same delivery each time (same id and body), signed anew each time.
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.header("Posterior-Delivery").unwrap().to_string())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert!(got.iter().all(|r| r.signed_with(secret)));
    assert!(got.iter().all(|r| r.body == got[0].body));

    let list = all_delivered(&app, hook["id"].as_i64().unwrap(), 1).await;
    let delivery = &list[0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    let log = delivery["attempt_log"].as_array().unwrap();
    let statuses: Vec<_> = log.iter().map(|a| a["status"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(503), json!(200)]);
    assert!(log[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(log[2]["error"], Value::Null);
    // Backed off: the retries waited about 100 ms, then about 200 ms (±20 %).
    let at =
        |i: usize| chrono::DateTime::parse_from_rfc3339(log[i]["at"].as_str().unwrap()).unwrap();
    assert!((at(1) - at(0)).num_milliseconds() >= 80);
    assert!((at(2) - at(1)).num_milliseconds() >= 160);
    receiver.stop().await;
}

#[tokio::test]
async fn a_pending_delivery_survives_a_restart() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    let hook = create_webhook(&app, &receiver.url, &["experiment.started"]).await;
    let id = hook["id"].as_i64().unwrap();
    app.running_experiment(experiment_body("durable", "ab"))
        .await;
    receiver.wait_for(1).await;
    let db = app.stop().await;

    // While no server runs, the delivery waits as a row.
    receiver.answer_always(200);
    let pending = |db: &TestDb| {
        use diesel::{QueryableByName, RunQueryDsl, sql_types::BigInt};
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query(
            "SELECT count(*) AS n FROM webhook_deliveries WHERE delivered_at IS NULL \
             AND given_up_at IS NULL",
        )
        .get_result::<Count>(&mut db.connect())
        .unwrap()
        .n
    };
    assert_eq!(pending(&db), 1);

    let restarted = spawn_app_on_with(db, fast).await;
    let list = all_delivered(&restarted, id, 1).await;
    assert!(list[0]["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(list[0]["last_status"], 200);
    let got = receiver.received();
    assert_eq!(got.last().unwrap().json()["event"], "experiment.started");
    assert!(
        got.last()
            .unwrap()
            .signed_with(hook["secret"].as_str().unwrap())
    );
    receiver.stop().await;
}

#[tokio::test]
async fn deleting_a_webhook_gives_up_its_pending_deliveries() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    let hook = create_webhook(&app, &receiver.url, &["experiment.started"]).await;
    let id = hook["id"].as_i64().unwrap();
    app.running_experiment(experiment_body("dropped", "ab"))
        .await;
    receiver.wait_for(1).await;
    let deleted = app
        .admin(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let list = deliveries(&app, id).await;
    assert_eq!(list[0]["state"], "given_up");
    assert_eq!(list[0]["last_error"], "webhook deleted");
    // Nothing more is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), sent);
    receiver.stop().await;
}

#[tokio::test]
async fn two_instances_never_post_the_same_delivery_twice() {
    let first = spawn_app_with(fast).await;
    let second = spawn_app_on_with(first.db.clone(), fast).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&first, &receiver.url, &["guardrail.fired"]).await;
    for i in 0..40 {
        let instance = if i % 2 == 0 { &first } else { &second };
        instance
            .engine
            .emit(WebhookEvent::GuardrailFired, json!({"n": i}))
            .await
            .unwrap();
    }
    let got = receiver.wait_for(40).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("Posterior-Delivery").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 40, "{} posts for 40 deliveries", ids.len());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert!(
        got.iter()
            .all(|r| r.signed_with(hook["secret"].as_str().unwrap()))
    );
    receiver.stop().await;
}

#[tokio::test]
async fn finished_deliveries_are_purged_after_30_days_pending_ones_never() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&app, &receiver.url, &["guardrail.fired"]).await;
    for n in 0..2 {
        app.engine
            .emit(WebhookEvent::GuardrailFired, json!({"n": n}))
            .await
            .unwrap();
    }
    all_delivered(&app, hook["id"].as_i64().unwrap(), 2).await;
    app.execute(
        "UPDATE webhook_deliveries SET delivered_at = now() - interval '31 days' \
         WHERE payload->>'n' = '0'; \
         INSERT INTO webhook_deliveries (webhook_id, event, payload, created_at, next_attempt_at) \
         SELECT id, 'guardrail.fired', '{}', now() - interval '40 days', now() + interval '1 hour' \
         FROM webhooks",
    );
    let purged = app.engine.purge_expired().await.unwrap();
    assert_eq!(purged.webhook_deliveries, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM webhook_deliveries"), 2);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM webhook_attempts a \
             LEFT JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.id IS NULL"
        ),
        0
    );
    receiver.stop().await;
}
