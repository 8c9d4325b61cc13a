//! Operators: request ids, /metrics and /openapi.json.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let get = |path: &str, id: Option<&str>| {
        let mut request = app.http.get(format!("{}{path}", app.address));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    let made = get("/healthz", None).await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    let other = get("/healthz", None).await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);

    let kept = get("/nowhere", Some("trace-abc.123")).await.unwrap();
    assert_eq!(kept.status(), StatusCode::NOT_FOUND);
    assert_eq!(kept.headers()["x-request-id"], "trace-abc.123");
    let long = "x".repeat(200);
    let replaced = get("/healthz", Some(&long)).await.unwrap();
    assert_eq!(
        replaced.headers()["x-request-id"].to_str().unwrap().len(),
        32
    );
    let replaced = get("/healthz", Some("has space")).await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "has space");

    // Errors of every kind too.
    let unauthorized = app
        .request(Method::GET, "/api/v1/experiments", None, None)
        .await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    assert!(unauthorized.headers.contains_key("x-request-id"));
}

fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.parse().unwrap())
}

#[tokio::test]
async fn metrics_in_prometheus_text() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    app.assign(json!({"user_id": "u-1"})).await;
    app.track(json!([{"event_id": "e-1", "user_id": "u-1", "name": "purchase"}]))
        .await;
    app.track(json!([{"event_id": "e-1", "user_id": "u-1", "name": "purchase"}]))
        .await;
    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "http_requests_total{method=\"POST\",route=\"/api/v1/assign\",status=\"200\"}",
        "http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/assign\",status=\"200\",le=\"0.005\"}",
        "http_requests_total{method=\"POST\",route=\"/api/v1/experiments/{key}/start\",status=\"200\"}",
        "posterior_assignments_total{via=\"api\"}",
        "posterior_events_total{outcome=\"accepted\"}",
        "posterior_events_total{outcome=\"duplicate\"}",
        "posterior_writer_batch_rows_bucket",
        "posterior_writer_commit_seconds_bucket",
        "posterior_writer_wait_seconds_bucket",
        "posterior_writer_batches_total",
        "posterior_writer_jobs_total",
        "posterior_writer_rows_total",
        "posterior_writer_failed_batches_total",
        "posterior_writer_timeouts_total",
        "posterior_db_pool_connections{state=\"open\"}",
        "posterior_experiments{status=\"running\"}",
        "# TYPE http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    let age = metric(&text, "posterior_snapshot_age_seconds").unwrap();
    assert!((0.0..5.0).contains(&age), "{age}");
    assert!(metric(&text, "posterior_events_total{outcome=\"duplicate\"}").unwrap() >= 1.0);
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/experiments", "post"),
        ("/api/v1/experiments", "get"),
        ("/api/v1/experiments/{key}", "get"),
        ("/api/v1/experiments/{key}", "patch"),
        ("/api/v1/experiments/{key}/start", "post"),
        ("/api/v1/experiments/{key}/pause", "post"),
        ("/api/v1/experiments/{key}/stop", "post"),
        ("/api/v1/experiments/{key}/results", "get"),
        ("/api/v1/experiments/{key}/ope", "get"),
        ("/api/v1/experiments/{key}/export", "get"),
        ("/api/v1/assign", "post"),
        ("/api/v1/track", "post"),
        ("/api/v1/users/{user_id}", "delete"),
        ("/api/v1/users/{user_id}/profile", "get"),
        ("/api/v1/segments", "post"),
        ("/api/v1/segments", "get"),
        ("/api/v1/metrics", "post"),
        ("/api/v1/metrics", "get"),
        ("/api/v1/metrics/{key}", "get"),
        ("/api/v1/metrics/{key}", "put"),
        ("/api/v1/metrics/{key}", "delete"),
        ("/api/v1/segments/{key}", "get"),
        ("/api/v1/segments/{key}", "put"),
        ("/api/v1/segments/{key}", "delete"),
        ("/api/v1/holdout", "get"),
        ("/api/v1/holdout", "put"),
        ("/api/v1/holdout/results", "get"),
        ("/api/v1/audit", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks/{id}", "delete"),
        ("/api/v1/webhooks/{id}/deliveries", "get"),
        ("/ofrep/v1/evaluate/flags/{key}", "post"),
        ("/ofrep/v1/evaluate/flags", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undocumented"
        );
    }
    // ...and every documented operation is really routed (the fallback answers
    // `not_found` with "no such route").
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{key}", "no-such-experiment")
                .replace("{user_id}", "nobody")
                .replace("{id}", "999");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = app.admin(method.clone(), &concrete, None).await;
            assert!(
                !(reply.status == StatusCode::NOT_FOUND
                    && reply.body["error"]["message"] == "no such route"),
                "{method} {path} is documented but not routed"
            );
            operations += 1;
        }
    }
    assert_eq!(
        operations,
        expected.len(),
        "undocumented extras or missing operations"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Found by fuzzing: PostgreSQL text and JSONB cannot hold NUL, so such input is a 400, not
/// a 500 from the database.
#[tokio::test]
async fn nul_characters_are_refused_up_front() {
    let app = spawn_app().await;
    let mut body = experiment_body("nul", "ab");
    body["description"] = json!("a\u{0}b");
    assert_eq!(
        app.create_experiment(body).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut body = experiment_body("nul", "ab");
    body["variants"][0]["payload"] = json!({"text": "a\u{0}"});
    assert_eq!(
        app.create_experiment(body).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut body = experiment_body("nul", "ab");
    body["targeting"] = json!([{"attribute": "p", "op": "eq", "value": "\u{0}"}]);
    assert_eq!(
        app.create_experiment(body).await.status,
        StatusCode::BAD_REQUEST
    );
    app.running_experiment(experiment_body("ok", "ab")).await;
    let reply = app
        .assign(json!({"user_id": "u-1", "attributes": {"city": "a\u{0}"}}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
}
