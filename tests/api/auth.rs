//! Who may call what.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    let app = spawn_app().await;
    for key in [None, Some("wrong-key")] {
        for (method, path) in [
            (Method::GET, "/api/v1/experiments"),
            (Method::POST, "/api/v1/assign"),
            (Method::POST, "/api/v1/track"),
        ] {
            let reply = app
                .request(method.clone(), path, key, Some(json!({})))
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {key:?}"
            );
            assert_eq!(reply.error_code(), "unauthorized");
        }
    }
}

#[tokio::test]
async fn a_client_key_cannot_use_admin_routes() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("guarded", "ab"))
        .await;
    for (method, path) in [
        (Method::GET, "/api/v1/experiments"),
        (Method::POST, "/api/v1/experiments"),
        (Method::GET, "/api/v1/experiments/guarded"),
        (Method::PATCH, "/api/v1/experiments/guarded"),
        (Method::POST, "/api/v1/experiments/guarded/stop"),
        (Method::GET, "/api/v1/experiments/guarded/results"),
        (Method::DELETE, "/api/v1/users/u1"),
    ] {
        let reply = app
            .request(
                method.clone(),
                path,
                Some(CLIENT_KEY),
                Some(json!({"name": "hijack"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(reply.error_code(), "forbidden");
    }
    let e = app
        .admin(Method::GET, "/api/v1/experiments/guarded", None)
        .await;
    assert_eq!(e.body["status"], "running");
}

#[tokio::test]
async fn client_and_admin_keys_both_assign_and_track() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("open", "ab")).await;
    for key in [CLIENT_KEY, ADMIN_KEY] {
        let a = app
            .request(
                Method::POST,
                "/api/v1/assign",
                Some(key),
                Some(json!({"user_id": key})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        let t = app
            .request(
                Method::POST,
                "/api/v1/track",
                Some(key),
                Some(json!({"events": [{"user_id": key, "name": "x"}]})),
            )
            .await;
        assert_eq!(t.status, StatusCode::ACCEPTED);
    }
}

#[tokio::test]
async fn x_api_key_header_is_accepted() {
    let app = spawn_app().await;
    let reply = app
        .http
        .post(format!("{}/api/v1/assign", app.address))
        .header("X-API-Key", CLIENT_KEY)
        .json(&json!({"user_id": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
}

#[tokio::test]
async fn keys_created_at_first_start_work_and_are_stored_hashed() {
    let app = spawn_app_with(|settings| {
        settings.admin_key = None;
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_keys WHERE scope = 'admin'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_keys WHERE length(key_hash) = 64"),
        1
    );
    let key = posterior::startup::create_key(&app.db.url, posterior::domain::Scope::Admin, "test")
        .unwrap();
    app.engine.refresh().await.unwrap();
    let reply = app
        .request(Method::GET, "/api/v1/experiments", Some(&key), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn health_endpoints_need_no_key() {
    let app = spawn_app().await;
    assert_eq!(
        app.request(Method::GET, "/healthz", None, None)
            .await
            .status,
        StatusCode::OK
    );
    let ready = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
}
