//! The webhooks API: create (the secret shown once), list, delete, each audited without the
//! secret; bad input refused naming the field, nothing created.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn create_webhook(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let created = app
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": url, "events": events})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

#[tokio::test]
async fn webhooks_are_created_with_a_secret_shown_once_listed_and_deleted_audited() {
    let app = spawn_app().await;
    let created = create_webhook(
        &app,
        "https://hooks.example.com/posterior",
        &["experiment.started", "guardrail.fired"],
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 64,
        "{secret}"
    );
    assert_eq!(created["url"], "https://hooks.example.com/posterior");
    assert_eq!(
        created["events"],
        json!(["experiment.started", "guardrail.fired"])
    );

    let list = app.admin(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let hooks = list.body["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], id);
    assert!(hooks[0].get("secret").is_none());
    assert!(!list.body.to_string().contains(&secret));

    // Only admins.
    let as_client = app
        .request(Method::GET, "/api/v1/webhooks", Some(CLIENT_KEY), None)
        .await;
    assert_eq!(as_client.status, StatusCode::FORBIDDEN);

    let deleted = app
        .admin(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = app
        .admin(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_code(), "unknown_webhook");
    let list = app.admin(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list.body["webhooks"], json!([]));
    // A deleted webhook's deliveries stay readable; an unknown one's are not found.
    let history = app
        .admin(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let unknown = app
        .admin(Method::GET, "/api/v1/webhooks/4242/deliveries", None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let not_a_number = app
        .admin(Method::DELETE, "/api/v1/webhooks/abc", None)
        .await;
    assert_eq!(not_a_number.status, StatusCode::NOT_FOUND);

    // Both audited, and the secret is nowhere in the log (nor stored once deleted).
    let log = app.audit_log("").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["webhook.create", "webhook.delete"]);
    assert_eq!(log[0]["target"], id.to_string());
    assert_eq!(
        log[0]["after"]["url"],
        "https://hooks.example.com/posterior"
    );
    assert_eq!(log[1]["before"]["id"], id);
    for entry in &log {
        assert!(!entry.to_string().contains(&secret));
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhooks WHERE secret <> ''"),
        0
    );
}

#[tokio::test]
async fn bad_webhooks_are_refused_naming_the_field_and_nothing_is_created() {
    let app = spawn_app().await;
    let long = format!("https://h.example/{}", "a".repeat(2048));
    let cases = [
        (
            json!({"url": "ftp://h.example/", "events": ["experiment.started"]}),
            "url",
        ),
        (
            json!({"url": "no url", "events": ["experiment.started"]}),
            "url",
        ),
        (
            json!({"url": long, "events": ["experiment.started"]}),
            "url",
        ),
        (json!({"url": "https://h.example/", "events": []}), "events"),
        (
            json!({"url": "https://h.example/", "events": ["experiment.started", "experiment.won"]}),
            "events[1]",
        ),
        (
            json!({"url": "https://h.example/", "events": ["guardrail.fired", "guardrail.fired"]}),
            "events[1]",
        ),
        (
            json!({"url": "https://h.example/", "events": ["experiment.started", "experiment.paused", "experiment.stopped", "experiment.decided", "guardrail.fired", "guardrail.fired"]}),
            "events",
        ),
    ];
    for (body, field) in cases {
        let refused = app
            .admin(Method::POST, "/api/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body}: {message}"
        );
    }
    let unknown_field = app
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "https://h.example/", "events": ["guardrail.fired"], "secret": "mine"})),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT count(*) AS n FROM webhooks"), 0);
    assert!(app.audit_log("").await.is_empty());
}
