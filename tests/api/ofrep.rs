//! OFREP: the protocol's shapes, reasons, errors, auth and bulk ETags, and agreement with
//! `/api/v1/assign`.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct Raw {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

pub async fn ofrep(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> Raw {
    let mut request = app
        .http
        .request(Method::POST, format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Raw {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

async fn flag(app: &TestApp, key: &str, context: Value) -> Raw {
    ofrep(
        app,
        &format!("/ofrep/v1/evaluate/flags/{key}"),
        Some(CLIENT_KEY),
        &json!({ "context": context }).to_string(),
        &[],
    )
    .await
}

#[tokio::test]
async fn a_flag_gives_the_same_sticky_variant_as_assign() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    app.running_experiment(experiment_body("hero", "bandit"))
        .await;
    for user in ["u-1", "u-2", "u-3", "u-4", "u-5"] {
        for experiment in ["banner", "hero"] {
            let evaluated = flag(
                &app,
                experiment,
                json!({"targetingKey": user, "plan": "pro"}),
            )
            .await;
            assert_eq!(evaluated.status, StatusCode::OK, "{}", evaluated.text);
            assert_eq!(
                evaluated.headers["content-type"].to_str().unwrap(),
                "application/json"
            );
            let body = evaluated.json();
            let assigned = app.variant_of(user, experiment, json!({})).await.unwrap();
            assert_eq!(body["variant"], assigned.as_str());
            assert_eq!(body["key"], experiment);
            assert_eq!(body["reason"], "SPLIT");
            let text = if assigned == "a" { "Hello" } else { "Hi there" };
            assert_eq!(body["value"], json!({ "text": text }));
            assert_eq!(body["metadata"]["experiment"], experiment);
            assert_eq!(body["metadata"]["dimension"], "content");
            assert_eq!(body["metadata"]["assigned"], true);
            for (_, v) in body["metadata"].as_object().unwrap() {
                assert!(!v.is_object() && !v.is_array(), "metadata must be flat");
            }
        }
    }
    // Stored once per user and experiment, with the attributes OFREP sent.
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 10);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE attributes = '{\"plan\": \"pro\"}'"),
        10
    );
}

#[tokio::test]
async fn without_payloads_the_value_is_the_variant_key() {
    let app = spawn_app().await;
    let mut body = experiment_body("plain", "ab");
    body["variants"] = json!([{"key": "red"}, {"key": "blue"}]);
    app.running_experiment(body).await;
    let evaluated = flag(&app, "plain", json!({"targetingKey": "u-9"}))
        .await
        .json();
    assert!(evaluated["variant"] == "red" || evaluated["variant"] == "blue");
    assert_eq!(evaluated["value"], evaluated["variant"]);
}

#[tokio::test]
async fn numbers_keep_their_type() {
    let app = spawn_app().await;
    let mut floats = experiment_body("price", "ab");
    floats["variants"] = json!([{"key": "low", "payload": 1.0}, {"key": "high", "payload": 2.5}]);
    floats["variants"][0]["weight"] = json!(1.0);
    floats["variants"][1]["weight"] = json!(0.0);
    app.running_experiment(floats).await;
    let evaluated = flag(&app, "price", json!({"targetingKey": "u-1"})).await;
    assert!(
        evaluated.text.contains("\"value\":1.0"),
        "{}",
        evaluated.text
    );

    let mut big = experiment_body("big-float", "ab");
    big["variants"] = json!([{"key": "a", "payload": 1e17}, {"key": "b", "payload": 0.5}]);
    big["variants"][0]["weight"] = json!(1.0);
    big["variants"][1]["weight"] = json!(0.0);
    app.running_experiment(big).await;
    let evaluated = flag(&app, "big-float", json!({"targetingKey": "u-1"})).await;
    let value = evaluated.json()["value"].clone();
    assert!(
        value.is_f64(),
        "a float flag stays a float: {}",
        evaluated.text
    );
    assert_eq!(value.as_f64(), Some(1e17));

    let mut ints = experiment_body("count", "ab");
    ints["variants"] = json!([{"key": "one", "payload": 1}, {"key": "two", "payload": 2}]);
    ints["variants"][0]["weight"] = json!(1.0);
    ints["variants"][1]["weight"] = json!(0.0);
    app.running_experiment(ints).await;
    let evaluated = flag(&app, "count", json!({"targetingKey": "u-1"})).await;
    assert!(
        evaluated.text.contains("\"value\":1,"),
        "{}",
        evaluated.text
    );
}

#[tokio::test]
async fn reasons() {
    let app = spawn_app().await;
    // Draft: the flag exists but is off; the control's value, no assignment stored.
    app.create_experiment(experiment_body("draft", "ab")).await;
    let draft = flag(&app, "draft", json!({"targetingKey": "u-1"}))
        .await
        .json();
    assert_eq!(draft["reason"], "DISABLED");
    assert_eq!(draft["variant"], "a");
    assert_eq!(draft["value"], json!({"text": "Hello"}));
    assert_eq!(draft["metadata"]["assigned"], false);

    // Targeting leaves the user out: DISABLED, control.
    let mut targeted = experiment_body("ios-only", "ab");
    targeted["targeting"] = json!([{"attribute": "platform", "op": "eq", "value": "ios"}]);
    app.running_experiment(targeted).await;
    let out = flag(
        &app,
        "ios-only",
        json!({"targetingKey": "u-1", "platform": "web"}),
    )
    .await
    .json();
    assert_eq!(out["reason"], "DISABLED");
    assert_eq!(out["variant"], "a");
    let inside = flag(
        &app,
        "ios-only",
        json!({"targetingKey": "u-1", "platform": "ios"}),
    )
    .await
    .json();
    assert_eq!(inside["reason"], "SPLIT");

    // Stopped with a winner: everyone gets it, no user needed.
    app.running_experiment(experiment_body("won", "bandit"))
        .await;
    let stopped = app
        .admin(
            Method::POST,
            "/api/v1/experiments/won/stop",
            Some(json!({"winner": "b"})),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK);
    for context in [json!({"targetingKey": "u-7"}), json!({})] {
        let won = flag(&app, "won", context).await.json();
        assert_eq!(won["reason"], "TARGETING_MATCH");
        assert_eq!(won["variant"], "b");
        assert_eq!(won["value"], json!({"text": "Hi there"}));
    }

    // Stopped without one: DISABLED.
    app.running_experiment(experiment_body("ended", "ab")).await;
    app.admin(Method::POST, "/api/v1/experiments/ended/stop", None)
        .await;
    let ended = flag(&app, "ended", json!({"targetingKey": "u-7"}))
        .await
        .json();
    assert_eq!(ended["reason"], "DISABLED");
    assert_eq!(ended["variant"], "a");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assignments WHERE user_id = 'u-7'"),
        0
    );
}

fn assert_failure(raw: &Raw, status: StatusCode, code: &str, key: Option<&str>) {
    assert_eq!(raw.status, status, "{}", raw.text);
    let body = raw.json();
    assert_eq!(body["errorCode"], code, "{}", raw.text);
    assert!(
        body["errorDetails"].as_str().is_some_and(|d| !d.is_empty()),
        "errorDetails missing: {}",
        raw.text
    );
    match key {
        Some(k) => assert_eq!(body["key"], k),
        None => assert!(body.get("key").is_none()),
    }
}

#[tokio::test]
async fn errors_follow_the_protocol() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    let path = "/ofrep/v1/evaluate/flags/banner";

    let missing = flag(&app, "nope", json!({"targetingKey": "u-1"})).await;
    assert_failure(
        &missing,
        StatusCode::NOT_FOUND,
        "FLAG_NOT_FOUND",
        Some("nope"),
    );
    let odd = flag(&app, "Not A Key", json!({"targetingKey": "u-1"})).await;
    assert_eq!(odd.status, StatusCode::NOT_FOUND);

    for body in [
        r#"{"context": {}}"#,
        "{}",
        "",
        r#"{"context": {"targetingKey": ""}}"#,
    ] {
        let raw = ofrep(&app, path, Some(CLIENT_KEY), body, &[]).await;
        assert_failure(
            &raw,
            StatusCode::BAD_REQUEST,
            "TARGETING_KEY_MISSING",
            Some("banner"),
        );
    }
    for context in [
        json!({"targetingKey": 42}),
        json!({"targetingKey": "u-1", "address": {"city": "Paris"}}),
        json!({"targetingKey": "u-1", "tags": ["a"]}),
        json!({"targetingKey": "u\u{1}"}),
    ] {
        let raw = flag(&app, "banner", context.clone()).await;
        assert_failure(
            &raw,
            StatusCode::BAD_REQUEST,
            "INVALID_CONTEXT",
            Some("banner"),
        );
    }
    for body in ["{", "[1, 2]", r#"{"context": 3}"#, "null"] {
        let raw = ofrep(&app, path, Some(CLIENT_KEY), body, &[]).await;
        assert_failure(&raw, StatusCode::BAD_REQUEST, "PARSE_ERROR", Some("banner"));
    }
    let bulk = ofrep(&app, "/ofrep/v1/evaluate/flags", Some(CLIENT_KEY), "{", &[]).await;
    assert_failure(&bulk, StatusCode::BAD_REQUEST, "PARSE_ERROR", None);

    let body = r#"{"context": {"targetingKey": "u-1"}}"#;
    let anonymous = ofrep(&app, path, None, body, &[]).await;
    assert_failure(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "GENERAL",
        Some("banner"),
    );
    let wrong = ofrep(&app, path, Some("not-a-key"), body, &[]).await;
    assert_failure(&wrong, StatusCode::UNAUTHORIZED, "GENERAL", Some("banner"));
    let bulk_anonymous = ofrep(&app, "/ofrep/v1/evaluate/flags", None, body, &[]).await;
    assert_eq!(bulk_anonymous.status, StatusCode::UNAUTHORIZED);
    // An admin key may do what a client key may.
    let admin = ofrep(&app, path, Some(ADMIN_KEY), body, &[]).await;
    assert_eq!(admin.status, StatusCode::OK);
    // Nothing was assigned by the failures.
    assert_eq!(app.count("SELECT count(*) AS n FROM assignments"), 1);
}

#[tokio::test]
async fn bulk_evaluation_with_etag() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("zeta", "ab")).await;
    app.running_experiment(experiment_body("alpha", "bandit"))
        .await;
    app.create_experiment(experiment_body("draft", "ab")).await;
    let bulk = "/ofrep/v1/evaluate/flags";
    let body = r#"{"context": {"targetingKey": "u-1", "plan": "pro"}}"#;

    let first = ofrep(&app, bulk, Some(CLIENT_KEY), body, &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let flags = first.json()["flags"].as_array().unwrap().clone();
    let keys: Vec<&str> = flags.iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["alpha", "draft", "zeta"]);
    assert_eq!(flags[1]["reason"], "DISABLED");
    for f in [&flags[0], &flags[2]] {
        let key = f["key"].as_str().unwrap();
        assert_eq!(f["reason"], "SPLIT");
        assert_eq!(
            f["variant"],
            app.variant_of("u-1", key, json!({}))
                .await
                .unwrap()
                .as_str()
        );
    }

    // Same context, same answer: 304 with no body; the web provider echoes the ETag as is.
    let again = ofrep(
        &app,
        bulk,
        Some(CLIENT_KEY),
        body,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());
    assert_eq!(again.headers["etag"].to_str().unwrap(), etag);
    let weak = format!("W/{etag}");
    let listed = format!("\"other\", {weak}");
    let again = ofrep(
        &app,
        bulk,
        Some(CLIENT_KEY),
        body,
        &[("if-none-match", &listed)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let stale = ofrep(
        &app,
        bulk,
        Some(CLIENT_KEY),
        body,
        &[("if-none-match", "\"stale\"")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);

    // The ETag follows the content: another answer, another ETag.
    let other = ofrep(
        &app,
        bulk,
        Some(CLIENT_KEY),
        r#"{"context": {"plan": "pro"}}"#,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_ne!(other.headers["etag"].to_str().unwrap(), etag);

    // No targeting key: per-flag errors for the experiments that need a user.
    let anonymous = ofrep(&app, bulk, Some(CLIENT_KEY), "{}", &[]).await;
    assert_eq!(anonymous.status, StatusCode::OK, "{}", anonymous.text);
    let flags = anonymous.json()["flags"].as_array().unwrap().clone();
    assert_eq!(flags[0]["errorCode"], "TARGETING_KEY_MISSING");
    assert_eq!(flags[0]["key"], "alpha");
    assert!(flags[0]["errorDetails"].is_string());
    assert_eq!(flags[1]["reason"], "DISABLED");
}
