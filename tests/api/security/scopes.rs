//! Every route of the server's own OpenAPI document × every kind of key: each answers as the
//! scope it declares.

use crate::helpers::*;
use posterior::domain::Scope;
use posterior::engine::Actor;
use posterior::startup;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Nothing,
    Client,
    Admin,
}

/// Every operation of the server's own OpenAPI document, with the scope it declares.
async fn operations(app: &TestApp) -> Vec<(Method, String, Needs)> {
    let doc = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let mut found = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (name, method) in [
            ("get", Method::GET),
            ("post", Method::POST),
            ("put", Method::PUT),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
        ] {
            let Some(op) = item.get(name) else { continue };
            let roles: Vec<&str> = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter()
                        .flat_map(|r| r.as_object().unwrap().values())
                        .flat_map(|v| v.as_array().unwrap())
                        .map(|v| v.as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let needs = if op.get("security").is_none() {
                Needs::Nothing
            } else if roles.contains(&"admin") {
                Needs::Admin
            } else if roles.contains(&"client") {
                Needs::Client
            } else {
                panic!(
                    "{name} {path} must declare its scope in its #[utoipa::path]: \
                     security((\"bearer\" = [\"admin\"]), (\"api_key\" = [\"admin\"])) \
                     (or \"client\"); it has {}",
                    op["security"]
                );
            };
            found.push((method, path.clone(), needs));
        }
    }
    found
}

#[tokio::test]
async fn every_route_answers_each_kind_of_key_as_its_scope_says() {
    // The revoked key is refused on every route: a budget of failures large enough that the
    // failure throttle (tests/api/throttle.rs) never answers 429 here.
    let app = spawn_app_with(|settings| {
        settings.engine.auth_throttle.burst = 10_000;
    })
    .await;
    app.running_experiment(experiment_body("matrix", "ab"))
        .await;
    let (revoked, id) = app.stored_key(Scope::Admin, "soon revoked", None);
    app.engine.refresh().await.unwrap();
    let before = app
        .request(Method::GET, "/api/v1/experiments", Some(&revoked), None)
        .await;
    assert_eq!(
        before.status,
        StatusCode::OK,
        "the key works before it is revoked"
    );
    startup::revoke_key(&app.db.url, &Actor::cli(), id).unwrap();
    app.engine.refresh().await.unwrap();

    let ops = operations(&app).await;
    // The document must really list the API (so this test cannot pass by walking nothing).
    for (method, path) in [
        (Method::POST, "/api/v1/assign"),
        (Method::POST, "/api/v1/experiments"),
        (Method::DELETE, "/api/v1/users/{user_id}"),
        (Method::GET, "/api/v1/audit"),
        (Method::POST, "/ofrep/v1/evaluate/flags"),
        (Method::GET, "/healthz"),
    ] {
        assert!(
            ops.iter().any(|(m, p, _)| *m == method && p == path),
            "{method} {path} missing from /openapi.json"
        );
    }
    assert!(ops.len() >= 19, "{} operations", ops.len());

    let mut checked = 0;
    for (method, template, needs) in &ops {
        let path = template
            .replace("{key}", "matrix")
            .replace("{user_id}", "u-matrix");
        let body = matches!(*method, Method::POST | Method::PATCH | Method::PUT).then(|| json!({}));
        let what = |who: &str| format!("{method} {template} with {who}");
        let fine = |status: StatusCode| {
            status != StatusCode::UNAUTHORIZED
                && status != StatusCode::FORBIDDEN
                && !status.is_server_error()
        };
        for (who, key) in [
            ("no key", None),
            ("a revoked key", Some(revoked.as_str())),
            ("a client key", Some(CLIENT_KEY)),
            ("an admin key", Some(ADMIN_KEY)),
        ] {
            let reply = app.request(method.clone(), &path, key, body.clone()).await;
            let status = reply.status;
            match (needs, who) {
                (Needs::Nothing, _) => {
                    assert_eq!(status, StatusCode::OK, "{}", what(who))
                }
                (_, "no key" | "a revoked key") => {
                    assert_eq!(
                        status,
                        StatusCode::UNAUTHORIZED,
                        "{}: {:?}",
                        what(who),
                        reply.body
                    );
                    assert_eq!(reply.headers["www-authenticate"], "Bearer");
                }
                (Needs::Admin, "a client key") => {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{}: {:?}",
                        what(who),
                        reply.body
                    )
                }
                _ => assert!(fine(status), "{}: {status} {:?}", what(who), reply.body),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ops.len() * 4);
}
