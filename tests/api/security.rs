//! Security: every route × every kind of key, revocation everywhere within a second, the
//! dashboard's keys page, per-key rate limits, input limits and the audit log.

use crate::helpers::*;
use posterior::domain::Scope;
use posterior::engine::Actor;
use posterior::startup;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Creates a stored key the way `posterior keys create` does; returns (secret, id).
fn stored_key(app: &TestApp, scope: Scope, name: &str, rate: Option<f64>) -> (String, i64) {
    let (secret, record) =
        startup::create_key_with(&app.db.url, &Actor::cli(), scope, name, rate).unwrap();
    (secret, record.id)
}

// ---- every route × every key -----------------------------------------------------------------

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
    let db = TestDb::create();
    let mut settings = test_settings(&db);
    settings.auth_throttle.burst = 10_000;
    let app = spawn_with(settings, db).await;
    app.running_experiment(experiment_body("matrix", "ab"))
        .await;
    let (revoked, id) = stored_key(&app, Scope::Admin, "soon revoked", None);
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

/// A browser that keeps cookies and does not follow redirects.
struct Browser {
    address: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl Page {
    fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            address: app.address.clone(),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Page {
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", header.join("; "));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") || v.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), v.to_string());
            }
        }
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Page {
            status,
            location,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.address));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let request = self
            .http
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    async fn signed_in(app: &TestApp, key: &str) -> Browser {
        let mut browser = Browser::new(app);
        let csrf = browser.get("/dashboard/sign-in").await.csrf();
        let page = browser
            .post(
                "/dashboard/sign-in",
                &[("csrf", &csrf), ("key", key), ("next", "/dashboard/keys")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }
}

#[tokio::test]
async fn dashboard_pages_send_visitors_without_a_session_to_sign_in() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("guarded", "ab"))
        .await;
    let mut browser = Browser::new(&app);
    for path in [
        "/dashboard/experiments",
        "/dashboard/new",
        "/dashboard/experiments/guarded",
        "/dashboard/experiments/guarded/edit",
        "/dashboard/experiments/guarded/stop",
        "/dashboard/keys",
        "/dashboard/keys/1/revoke",
        "/dashboard/audit",
        "/dashboard/audit/export?format=csv",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "GET {path}");
        assert!(
            page.location.starts_with("/dashboard/sign-in?next="),
            "GET {path}: {}",
            page.location
        );
    }
    for path in [
        "/dashboard/experiments",
        "/dashboard/experiments/guarded/edit",
        "/dashboard/experiments/guarded/start",
        "/dashboard/experiments/guarded/pause",
        "/dashboard/experiments/guarded/stop",
        "/dashboard/keys",
        "/dashboard/keys/1/revoke",
        "/dashboard/sign-out",
    ] {
        let page = browser.post(path, &[("confirm", "yes")]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "POST {path}");
        assert_eq!(page.location, "/dashboard/sign-in", "POST {path}");
    }
    let e = app
        .admin(Method::GET, "/api/v1/experiments/guarded", None)
        .await;
    assert_eq!(e.body["status"], "running", "nothing changed");
    // A client key opens no session.
    let mut client = Browser::new(&app);
    let csrf = client.get("/dashboard/sign-in").await.csrf();
    let refused = client
        .post(
            "/dashboard/sign-in",
            &[("csrf", &csrf), ("key", CLIENT_KEY)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

// ---- keys ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_instance_within_a_second() {
    let a = spawn_app().await;
    let b = spawn_app_on(a.db.clone()).await;
    let (key, id) = stored_key(&a, Scope::Client, "app", None);
    let assign = |app: &TestApp| {
        let key = key.clone();
        let (http, address) = (app.http.clone(), app.address.clone());
        async move {
            http.post(format!("{address}/api/v1/assign"))
                .bearer_auth(key)
                .json(&json!({"user_id": "u"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Both instances pick the new key up on their own (refresh), without a restart.
    eventually(|| async {
        assign(&a).await == StatusCode::OK && assign(&b).await == StatusCode::OK
    })
    .await;

    let revoked_at = Instant::now();
    a.engine.revoke_key(&Actor::new("test"), id).await.unwrap();
    assert_eq!(
        assign(&a).await,
        StatusCode::UNAUTHORIZED,
        "at once where it was revoked"
    );
    eventually(|| async { assign(&b).await == StatusCode::UNAUTHORIZED }).await;
    let took = revoked_at.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the other instance took {took:?}"
    );
}

#[tokio::test]
async fn keys_are_created_shown_once_listed_without_secrets_and_revoked_from_the_dashboard() {
    let app = spawn_app().await;
    let mut admin = Browser::signed_in(&app, ADMIN_KEY).await;
    let keys = admin.get("/dashboard/keys").await;
    assert_eq!(keys.status, StatusCode::OK);
    let csrf = keys.csrf();

    // Refused input keeps what was typed and creates nothing.
    let before = app.count("SELECT count(*) AS n FROM api_keys");
    for (scope, rate) in [("root", ""), ("client", "fast"), ("client", "-1")] {
        let refused = admin
            .post(
                "/dashboard/keys",
                &[
                    ("csrf", &csrf),
                    ("name", "bot"),
                    ("scope", scope),
                    ("rate_limit", rate),
                ],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{scope} {rate}"
        );
    }
    let forged = admin
        .post(
            "/dashboard/keys",
            &[("csrf", "x"), ("name", "bot"), ("scope", "admin")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) AS n FROM api_keys"), before);

    let created = admin
        .post(
            "/dashboard/keys",
            &[
                ("csrf", &csrf),
                ("name", "ios app"),
                ("scope", "client"),
                ("rate_limit", "50"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let start = created
        .body
        .find("pst_client_")
        .expect("the secret is shown");
    let secret = created.body[start..start + 43].to_string();
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{secret}"
    );
    let id = app.count("SELECT max(id) AS n FROM api_keys");
    let stored: i64 = app.count(&format!(
        "SELECT count(*) AS n FROM api_keys WHERE id = {id} AND key_hash <> '{secret}' \
         AND length(key_hash) = 64 AND rate_limit = 50 AND label = 'ios app'"
    ));
    assert_eq!(stored, 1, "stored hashed, with its name and limit");
    let ok = app
        .request(
            Method::POST,
            "/api/v1/assign",
            Some(&secret),
            Some(json!({"user_id": "u"})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "usable at once");

    // Its use is recorded (off the request path, within a reload interval).
    eventually(|| async {
        app.count(&format!(
            "SELECT count(*) AS n FROM api_keys WHERE id = {id} AND last_used_at > now() - interval '1 minute'"
        )) == 1
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_keys WHERE last_used_at IS NOT NULL"),
        1,
        "only the key that was used"
    );

    let listed = admin.get("/dashboard/keys").await;
    assert!(listed.body.contains("ios app"));
    let row_start = listed.body.find(&format!("id=\"key-{id}\"")).unwrap();
    let row = &listed.body[row_start..row_start + listed.body[row_start..].find("</tr>").unwrap()];
    assert!(!row.contains("never"), "last use shown: {row}");
    assert!(
        !listed.body.contains(&secret),
        "the secret is shown only once"
    );
    assert!(
        !listed
            .body
            .contains(&posterior::engine::keys::hash_key(&secret)),
        "nor its full hash"
    );

    // Revoking asks for confirmation first.
    let confirm = admin.get(&format!("/dashboard/keys/{id}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let unconfirmed = admin
        .post(&format!("/dashboard/keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let still = app
        .request(
            Method::POST,
            "/api/v1/assign",
            Some(&secret),
            Some(json!({"user_id": "u"})),
        )
        .await;
    assert_eq!(still.status, StatusCode::OK);
    let revoked = admin
        .post(
            &format!("/dashboard/keys/{id}/revoke"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location, "/dashboard/keys?done=revoked");
    let refused = app
        .request(
            Method::POST,
            "/api/v1/assign",
            Some(&secret),
            Some(json!({"user_id": "u"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // Both are in the audit log, by this dashboard session's key.
    let log = audit_lines(&app, "").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["key.create", "key.revoke"]);
    assert_eq!(log[0]["actor"], "dashboard:env:admin");
    assert_eq!(log[0]["target"], id.to_string());
    assert_eq!(log[0]["after"]["name"], "ios app");
    assert_eq!(log[0]["after"]["rate_limit"], 50.0);
    assert!(log[0]["after"].get("key_hash").is_none());
    assert_eq!(log[1]["before"]["revoked_at"], Value::Null);
    assert!(log[1]["after"]["revoked_at"].is_string());
}

#[tokio::test]
async fn a_dashboard_session_ends_when_its_key_is_revoked() {
    let app = spawn_app().await;
    let (key, id) = stored_key(&app, Scope::Admin, "marketer", None);
    app.engine.refresh().await.unwrap();
    let mut marketer = Browser::signed_in(&app, &key).await;
    assert_eq!(
        marketer.get("/dashboard/experiments").await.status,
        StatusCode::OK
    );

    let mut admin = Browser::signed_in(&app, ADMIN_KEY).await;
    let csrf = admin.get("/dashboard/keys").await.csrf();
    let revoked = admin
        .post(
            &format!("/dashboard/keys/{id}/revoke"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);

    let after = marketer.get("/dashboard/experiments").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location.starts_with("/dashboard/sign-in"));
    // ... on other instances too.
    let other = spawn_app_on(app.db.clone()).await;
    marketer.address = other.address.clone();
    assert_eq!(
        marketer.get("/dashboard/keys").await.status,
        StatusCode::SEE_OTHER
    );
    admin.address = other.address.clone();
    assert_eq!(admin.get("/dashboard/keys").await.status, StatusCode::OK);
}

// ---- rate limits -----------------------------------------------------------------------------

async fn burst(app: &TestApp, key: &str, n: usize) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(n);
    for i in 0..n {
        replies.push(
            app.request(
                Method::POST,
                "/api/v1/assign",
                Some(key),
                Some(json!({"user_id": format!("u{i}")})),
            )
            .await,
        );
    }
    replies
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after_and_other_keys_do_not() {
    let app = spawn_app().await;
    let (limited, _) = stored_key(&app, Scope::Client, "limited", Some(5.0));
    let (free, _) = stored_key(&app, Scope::Client, "free", None);
    app.engine.refresh().await.unwrap();

    let started = Instant::now();
    let replies = burst(&app, &limited, 20).await;
    let elapsed = started.elapsed().as_secs_f64();
    let passed = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let limited_replies: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(passed + limited_replies.len(), 20);
    // A burst of 5, then 5 a second.
    let allowed = 5 + (elapsed * 5.0).ceil() as usize;
    assert!(
        (5..=allowed).contains(&passed),
        "{passed} passed in {elapsed:.2} s"
    );
    assert!(replies[..5].iter().all(|r| r.status == StatusCode::OK));
    let refused = limited_replies[0];
    assert_eq!(refused.error_code(), "rate_limited");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 1, "a token comes back within 200 ms");

    // Other keys are not affected, and the limited key recovers.
    assert!(
        burst(&app, &free, 30)
            .await
            .iter()
            .all(|r| r.status == StatusCode::OK)
    );
    assert!(
        burst(&app, CLIENT_KEY, 30)
            .await
            .iter()
            .all(|r| r.status == StatusCode::OK)
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(burst(&app, &limited, 1).await[0].status, StatusCode::OK);

    // OFREP answers a limited key in its own shape, with Retry-After too.
    let mut attempts = 0;
    let ofrep = loop {
        attempts += 1;
        assert!(attempts < 50, "OFREP never refused the limited key");
        let r = app
            .request(
                Method::POST,
                "/ofrep/v1/evaluate/flags",
                Some(&limited),
                Some(json!({"context": {"targetingKey": "u"}})),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
    };
    assert_eq!(ofrep.body["errorCode"], "GENERAL");
    assert!(ofrep.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn the_server_default_rate_limit_applies_to_keys_without_their_own() {
    let db = TestDb::create();
    let mut settings = test_settings(&db);
    settings.rate_limit = Some(3.0);
    let app = spawn_with(settings, db).await;
    let (own, _) = stored_key(&app, Scope::Client, "own limit", Some(1000.0));
    app.engine.refresh().await.unwrap();
    let env = burst(&app, CLIENT_KEY, 10).await;
    assert!(
        env.iter()
            .any(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    );
    assert!(
        burst(&app, &own, 10)
            .await
            .iter()
            .all(|r| r.status == StatusCode::OK)
    );
}

// ---- limits ----------------------------------------------------------------------------------

async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
    status: StatusCode,
    needle: &str,
) {
    let reply = app
        .request(method.clone(), path, Some(ADMIN_KEY), Some(body))
        .await;
    assert_eq!(reply.status, status, "{method} {path}: {:?}", reply.body);
    let code = reply.error_code().to_string();
    assert!(
        code == "invalid_request" || code == "payload_too_large" || code == "malformed_json",
        "{code}"
    );
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
}

fn events(n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"event_id": format!("e{i}"), "user_id": "u", "name": "purchase"}))
        .collect();
    json!({ "events": list })
}

fn attributes(n: usize) -> Value {
    Value::Object((0..n).map(|i| (format!("a{i}"), json!(i))).collect())
}

#[tokio::test]
async fn default_limits_answer_clear_4xx_and_change_nothing() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("limits", "ab"))
        .await;
    let bad = StatusCode::BAD_REQUEST;
    let assign = "/api/v1/assign";

    let huge = "x".repeat(1024 * 1024 + 1);
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"a": huge}}),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too large",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        events(1001),
        bad,
        "the limit is 1000",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": attributes(51)}),
        bad,
        "at most 50",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"k".repeat(65): 1}}),
        bad,
        "64 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"k": "v".repeat(257)}}),
        bad,
        "256 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u".repeat(257)}),
        bad,
        "user_id",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "a\u{7}b"}),
        bad,
        "control characters",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        json!({"events": [{"user_id": "u".repeat(257), "name": "x"}]}),
        bad,
        "user_id",
    )
    .await;

    let mut body = experiment_body("Bad Key", "ab");
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body.clone(),
        bad,
        "lowercase",
    )
    .await;
    body["key"] = json!("ok-key");
    body["variants"][0]["key"] = json!("A B");
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body.clone(),
        bad,
        "variants[0].key",
    )
    .await;
    let mut body = experiment_body("named", "ab");
    body["name"] = json!("n".repeat(201));
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body.clone(),
        bad,
        "200 bytes",
    )
    .await;
    let mut body = experiment_body("named", "ab");
    body["variants"][1]["name"] = json!("n".repeat(201));
    refused(&app, Method::POST, "/api/v1/experiments", body, bad, "200").await;
    refused(
        &app,
        Method::PATCH,
        "/api/v1/experiments/limits",
        json!({"name": "n".repeat(201)}),
        bad,
        "200 bytes",
    )
    .await;

    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM experiments WHERE name = 'Experiment limits'"),
        1
    );
    // At the limits, everything is accepted.
    let at = app
        .assign(json!({"user_id": "u".repeat(256), "attributes": attributes(50)}))
        .await;
    assert_eq!(at.status, StatusCode::OK, "{:?}", at.body);
    assert_eq!(
        app.track(events(1000)["events"].clone()).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn configured_limits_are_enforced() {
    let db = TestDb::create();
    let mut settings = test_settings(&db);
    settings.limits.max_body_bytes = 4096;
    settings.limits.max_events_per_request = 3;
    settings.limits.max_attributes = 2;
    settings.limits.max_attribute_name_bytes = 8;
    settings.limits.max_attribute_value_bytes = 10;
    settings.limits.max_user_id_bytes = 12;
    settings.limits.max_name_bytes = 20;
    let app = spawn_with(settings, db).await;
    app.running_experiment(experiment_body("small", "ab")).await;
    let bad = StatusCode::BAD_REQUEST;
    let assign = "/api/v1/assign";

    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"a": "x".repeat(5000)}}),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too large",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        events(4),
        bad,
        "the limit is 3",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": attributes(3)}),
        bad,
        "at most 2",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"long-name": 1}}),
        bad,
        "8 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "u", "attributes": {"k": "12345678901"}}),
        bad,
        "10 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        assign,
        json!({"user_id": "1234567890123"}),
        bad,
        "12 bytes",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/api/v1/track",
        json!({"events": [{"user_id": "1234567890123", "name": "x"}]}),
        bad,
        "12 bytes",
    )
    .await;
    let mut body = experiment_body("named", "ab");
    body["name"] = json!("n".repeat(21));
    refused(
        &app,
        Method::POST,
        "/api/v1/experiments",
        body,
        bad,
        "20 bytes",
    )
    .await;
    let ofrep = app
        .request(
            Method::POST,
            "/ofrep/v1/evaluate/flags/small",
            Some(CLIENT_KEY),
            Some(json!({"context": {"targetingKey": "1234567890123"}})),
        )
        .await;
    assert_eq!(ofrep.status, bad);
    assert_eq!(ofrep.body["errorCode"], "INVALID_CONTEXT");

    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
    let ok = app
        .assign(json!({"user_id": "123456789012", "attributes": {"k": "1234567890", "n": 1}}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        app.track(events(3)["events"].clone()).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn limits_above_the_ceilings_are_refused_at_start() {
    let db = TestDb::create();
    let mut settings = test_settings(&db);
    settings.limits.max_attributes = 51;
    let error = posterior::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("max_attributes"), "{error}");
}

// ---- the audit log ---------------------------------------------------------------------------

async fn audit_lines(app: &TestApp, query: &str) -> Vec<Value> {
    let reply = app
        .http
        .get(format!("{}/api/v1/audit?format=jsonl{query}", app.address))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["content-type"], "application/x-ndjson");
    let text = reply.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn admin_actions_through_the_api_are_audited_with_actor_before_and_after() {
    let app = spawn_app().await;
    let (key, id) = stored_key(&app, Scope::Admin, "ci bot", None);
    app.engine.refresh().await.unwrap();
    let as_bot = |method: Method, path: &str, body: Option<Value>| {
        let key = key.clone();
        let path = path.to_string();
        let app = &app;
        async move { app.request(method, &path, Some(&key), body).await }
    };
    let created = as_bot(
        Method::POST,
        "/api/v1/experiments",
        Some(experiment_body("audited", "ab")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let patched = as_bot(
        Method::PATCH,
        "/api/v1/experiments/audited",
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    app.admin(Method::POST, "/api/v1/experiments/audited/start", None)
        .await;
    app.admin(Method::POST, "/api/v1/experiments/audited/pause", None)
        .await;
    let stopped = app
        .admin(
            Method::POST,
            "/api/v1/experiments/audited/stop",
            Some(json!({"winner": "b"})),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK);
    let erased = app
        .admin(Method::DELETE, "/api/v1/users/u-gone", None)
        .await;
    assert_eq!(erased.status, StatusCode::OK);

    // Refused changes leave no trace.
    let before = app.count("SELECT count(*) AS n FROM audit_log");
    as_bot(
        Method::PATCH,
        "/api/v1/experiments/audited",
        Some(json!({"traffic": 2})),
    )
    .await;
    app.request(
        Method::POST,
        "/api/v1/experiments",
        Some(CLIENT_KEY),
        Some(experiment_body("x", "ab")),
    )
    .await;
    app.admin(Method::POST, "/api/v1/experiments/audited/start", None)
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log"), before);

    let log = audit_lines(&app, "").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "key.create",
            "experiment.create",
            "experiment.patch",
            "experiment.start",
            "experiment.pause",
            "experiment.stop",
            "user.erase"
        ]
    );
    let bot = format!("key:{id} (ci bot)");
    assert_eq!(log[0]["actor"], "cli");
    assert_eq!(log[1]["actor"], bot);
    assert_eq!(log[1]["target"], "audited");
    assert_eq!(log[1]["before"], Value::Null);
    assert_eq!(log[1]["after"]["status"], "draft");
    assert_eq!(log[2]["actor"], bot);
    assert_eq!(log[2]["before"]["name"], "Experiment audited");
    assert_eq!(log[2]["after"]["name"], "Renamed");
    assert_eq!(log[3]["actor"], "env:admin");
    assert_eq!(log[3]["before"]["status"], "draft");
    assert_eq!(log[3]["after"]["status"], "running");
    assert_eq!(log[5]["after"]["winner"], "b");
    // An erased user is named by a hash: the erased id must not live on in the log.
    assert_eq!(
        log[6]["target"],
        posterior::engine::hashing::audit_user("u-gone")
    );
    assert_eq!(log[6]["after"]["assignments"], 0);
    let ids: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
    for e in &log {
        assert!(chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).is_ok());
    }

    // CSV has the same rows; the time range filters.
    let csv = app
        .http
        .get(format!("{}/api/v1/audit?format=csv", app.address))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "at", "actor", "action", "target", "before", "after"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), log.len());
    assert_eq!(&records[2][3], "experiment.patch");
    let after: Value = serde_json::from_str(&records[2][6]).unwrap();
    assert_eq!(after["name"], "Renamed");
    assert!(audit_lines(&app, "&from=2999-01-01").await.is_empty());
    assert_eq!(audit_lines(&app, "&to=2999-01-01").await.len(), log.len());
    let bad = app
        .admin(Method::GET, "/api/v1/audit?from=yesterday", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let client = app
        .request(Method::GET, "/api/v1/audit", Some(CLIENT_KEY), None)
        .await;
    assert_eq!(client.status, StatusCode::FORBIDDEN);

    // The dashboard shows it, newest first, and offers the downloads.
    let mut browser = Browser::signed_in(&app, ADMIN_KEY).await;
    let page = browser.get("/dashboard/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    let newest = page.body.find("user.erase").unwrap();
    let oldest = page.body.find("key.create").unwrap();
    assert!(newest < oldest);
    assert!(page.body.contains("Renamed"));
    assert!(page.body.contains(r#"href="/api/v1/audit?format=csv""#));
    // The page's old download address sends the browser to the API's.
    let moved = browser.get("/dashboard/audit/export?format=csv").await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER);
    assert_eq!(moved.location, "/api/v1/audit?format=csv");
    let download = browser.get(&moved.location).await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(
        download
            .body
            .starts_with("id,at,actor,action,target,before,after")
    );
    // The API's downloads, linked from the dashboard, accept the session (and only a valid one).
    for path in [
        "/api/v1/audit?format=csv",
        "/api/v1/experiments/audited/export?data=results&format=csv",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let mut stranger = Browser::new(&app);
        stranger
            .cookies
            .insert("posterior_session".into(), "1.2.3.4".into());
        assert_eq!(
            stranger.get(path).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let client_session = app
        .http
        .get(format!("{}/api/v1/audit", app.address))
        .bearer_auth(CLIENT_KEY)
        .header(
            "cookie",
            format!("posterior_session={}", browser.cookies["posterior_session"]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        client_session.status(),
        StatusCode::FORBIDDEN,
        "a presented key decides"
    );
}

#[tokio::test]
async fn dashboard_actions_are_audited_as_the_sessions_key_and_the_log_pages() {
    let app = spawn_app().await;
    let mut browser = Browser::signed_in(&app, ADMIN_KEY).await;
    let csrf = browser.get("/dashboard/experiments").await.csrf();
    app.create_experiment(experiment_body("paged", "ab")).await;
    let started = browser
        .post("/dashboard/experiments/paged/start", &[("csrf", &csrf)])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let log = audit_lines(&app, "").await;
    assert_eq!(log.last().unwrap()["action"], "experiment.start");
    assert_eq!(log.last().unwrap()["actor"], "dashboard:env:admin");

    // 60 more entries: the page shows 50, then the older ones.
    for i in 0..30 {
        app.admin(
            Method::PATCH,
            "/api/v1/experiments/paged",
            Some(json!({"name": format!("Name {i}")})),
        )
        .await;
        app.admin(Method::DELETE, &format!("/api/v1/users/u{i}"), None)
            .await;
    }
    let first = browser.get("/dashboard/audit").await;
    assert_eq!(first.body.matches("<tr id=\"audit-").count(), 50);
    let marker = "/dashboard/audit?before=";
    let start = first.body.find(marker).expect("a link to older entries") + marker.len();
    let end = first.body[start..].find('"').unwrap() + start;
    let second = browser
        .get(&format!("{marker}{}", &first.body[start..end]))
        .await;
    assert_eq!(second.body.matches("<tr id=\"audit-").count(), 62 - 50);
    assert!(second.body.contains("experiment.create"));
    assert!(
        !second.body.contains(marker),
        "no older page after the last"
    );
}

#[tokio::test]
async fn keys_created_at_first_start_are_audited_and_never_logged_in_full() {
    let db = TestDb::create();
    let mut settings = test_settings(&db);
    settings.client_key = None;
    let app = spawn_with(settings, db).await;
    let log = audit_lines(&app, "").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["action"], "key.create");
    assert_eq!(log[0]["actor"], "server");
    assert_eq!(log[0]["after"]["scope"], "client");
    let text = log[0].to_string();
    assert!(!text.contains("pst_"), "no secret in the log: {text}");
    let hash = app.count("SELECT count(*) AS n FROM audit_log WHERE after::text LIKE '%key_hash%'");
    assert_eq!(hash, 0, "no hash in the log");
    // Entries cannot be changed or deleted.
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(&app.db.url).unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let refused = diesel::sql_query(sql).execute(&mut conn).unwrap_err();
        assert!(refused.to_string().contains("append-only"), "{refused}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE actor = 'server'"),
        1
    );
}

#[tokio::test]
async fn segment_and_holdout_changes_are_audited() {
    let app = spawn_app().await;
    let rule = json!({"attribute": "platform", "op": "eq", "value": "ios"});
    let created = app
        .admin(
            Method::POST,
            "/api/v1/segments",
            Some(json!({"key": "ios", "name": "iOS", "rule": rule})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let replaced = app
        .admin(
            Method::PUT,
            "/api/v1/segments/ios",
            Some(json!({"name": "iOS users", "rule": rule})),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    let held = app
        .admin(
            Method::PUT,
            "/api/v1/holdout",
            Some(json!({"fraction": 0.05})),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{:?}", held.body);
    let refused = app
        .admin(
            Method::PUT,
            "/api/v1/holdout",
            Some(json!({"fraction": 0.9})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let deleted = app
        .admin(Method::DELETE, "/api/v1/segments/ios", None)
        .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);

    let log = audit_lines(&app, "").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "segment.create",
            "segment.replace",
            "holdout.set",
            "segment.delete"
        ]
    );
    assert!(log.iter().all(|e| e["actor"] == "env:admin"));
    assert_eq!(log[0]["target"], "ios");
    assert_eq!(log[1]["before"]["name"], "iOS");
    assert_eq!(log[1]["after"]["name"], "iOS users");
    assert_eq!(log[2]["before"]["fraction"], 0.0);
    assert_eq!(log[2]["after"]["fraction"], 0.05);
    assert_eq!(log[3]["before"]["name"], "iOS users");
    assert_eq!(log[3]["after"], Value::Null);
}
