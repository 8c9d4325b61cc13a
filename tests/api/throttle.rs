//! Failed authentications are throttled per client address: unknown or revoked keys and
//! refused dashboard sign-ins. Valid API keys keep working from a throttled address; requests
//! without a key are not counted; the budget refills.

use crate::helpers::*;
use posterior::config::AuthThrottleSettings;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

async fn spawn_throttled(failures_per_minute: f64, burst: u32) -> TestApp {
    spawn_app_with(|settings| {
        settings.engine.auth_throttle = AuthThrottleSettings {
            failures_per_minute,
            burst,
            ..AuthThrottleSettings::DEFAULT
        };
    })
    .await
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds")
}

async fn assign_with(app: &TestApp, key: Option<&str>) -> Reply {
    app.request(
        Method::POST,
        "/api/v1/assign",
        key,
        Some(json!({"user_id": "u-throttle"})),
    )
    .await
}

#[tokio::test]
async fn bad_keys_from_one_address_get_429_after_the_budget_and_valid_keys_still_work() {
    // 30 a minute (one every 2 s) after a burst of 5.
    let app = spawn_throttled(30.0, 5).await;
    app.running_experiment(experiment_body("guarded", "ab"))
        .await;

    // Requests without a key are not guesses: 401 however many, and not counted.
    for _ in 0..20 {
        let reply = assign_with(&app, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error_code(), "unauthorized");
    }

    // The burst of bad keys gets the usual 401...
    for i in 0..5 {
        let guess = format!("guess-{i}");
        let reply = assign_with(&app, Some(&guess)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {i}");
        assert_eq!(reply.error_code(), "unauthorized");
    }
    // ... and the next one 429, with Retry-After and the usual error shape.
    let throttled = assign_with(&app, Some("guess-5")).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.error_code(), "too_many_failures");
    assert!(
        throttled.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{:?}",
        throttled.body
    );
    let wait = retry_after(&throttled.headers);
    assert!(
        (1..=2).contains(&wait),
        "Retry-After {wait}: one failure every 2 s"
    );

    // An admin route with a bad key, and X-Forwarded-For claiming another address, change
    // nothing: the peer address is what counts.
    let forged = app
        .http
        .get(format!("{}/api/v1/experiments", app.address))
        .bearer_auth("guess-6")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-real-ip", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(forged.headers().contains_key("retry-after"));

    // OFREP answers in its own error shape.
    let ofrep = app
        .request(
            Method::POST,
            "/ofrep/v1/evaluate/flags",
            Some("guess-7"),
            Some(json!({"context": {"targetingKey": "u"}})),
        )
        .await;
    assert_eq!(ofrep.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ofrep.body["errorCode"], "GENERAL");
    assert!(
        ofrep.body["errorDetails"]
            .as_str()
            .unwrap()
            .contains("failed authentications")
    );
    assert!(retry_after(&ofrep.headers) >= 1);

    // Valid keys from the same (throttled) address still work: an app behind the same NAT
    // as the guesser is not locked out.
    let assigned = assign_with(&app, Some(CLIENT_KEY)).await;
    assert_eq!(assigned.status, StatusCode::OK, "{:?}", assigned.body);
    assert_eq!(assigned.body["assignments"][0]["experiment"], "guarded");
    let listed = app.admin(Method::GET, "/api/v1/experiments", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let flags = app
        .request(
            Method::POST,
            "/ofrep/v1/evaluate/flags",
            Some(CLIENT_KEY),
            Some(json!({"context": {"targetingKey": "u"}})),
        )
        .await;
    assert_eq!(flags.status, StatusCode::OK, "{:?}", flags.body);
    // A request without a key is still a plain 401, not a 429.
    let anonymous = assign_with(&app, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Still throttled: the valid requests did not refill the budget.
    let again = assign_with(&app, Some("guess-8")).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);

    // Operators see it in /metrics (the recorder is shared by the tests of this binary: at
    // least this test's refusals).
    let throttled_count = app
        .metric("posterior_auth_failures_total{outcome=\"throttled\"}")
        .await
        .expect("posterior_auth_failures_total in /metrics");
    assert!(throttled_count >= 4.0, "{throttled_count}");
}

#[tokio::test]
async fn a_revoked_key_counts_as_a_failure() {
    let app = spawn_throttled(30.0, 2).await;
    let (secret, record) = posterior::startup::create_key_with(
        &app.db.url,
        &posterior::engine::Actor::cli(),
        posterior::domain::Scope::Client,
        "revoked",
        None,
    )
    .unwrap();
    posterior::startup::revoke_key(&app.db.url, &posterior::engine::Actor::cli(), record.id)
        .unwrap();
    app.engine.refresh().await.unwrap();
    let statuses: Vec<StatusCode> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(assign_with(&app, Some(&secret)).await.status);
        }
        out
    };
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn the_budget_refills_at_the_configured_rate() {
    // 600 a minute: one failure every 100 ms, after a burst of 2.
    let app = spawn_throttled(600.0, 2).await;
    for _ in 0..2 {
        assert_eq!(
            assign_with(&app, Some("nope")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled_at = Instant::now();
    let throttled = assign_with(&app, Some("nope")).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&throttled.headers), 1, "rounded up to a second");

    // Poll (with a deadline) until a failure is allowed again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = assign_with(&app, Some("nope")).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "the budget never refilled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        throttled_at.elapsed() >= Duration::from_millis(50),
        "refilled after {:?}, faster than the rate",
        throttled_at.elapsed()
    );
    // Only one token came back: the next failure at once is throttled again.
    assert_eq!(
        assign_with(&app, Some("nope")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn dashboard_sign_in_is_throttled_the_same_way() {
    let app = spawn_throttled(30.0, 3).await;
    let browser = Browser::new(&app);

    // A client key is a known key, merely not an admin one: refused, never counted.
    for _ in 0..5 {
        let page = browser.sign_in_with(CLIENT_KEY).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    for i in 0..3 {
        let page = browser.sign_in_with(&format!("admin-secret-{i}")).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "guess {i}");
        assert!(page.body.contains("not an admin key"));
    }
    let throttled = browser.sign_in_with("admin-secret-3").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        throttled.body.contains("Too many failed sign-ins"),
        "{}",
        throttled.body
    );
    assert!(
        throttled.body.contains(r#"name="key""#),
        "the sign-in page, with its form"
    );
    assert!(retry_after(&throttled.headers) >= 1);
    assert!(browser.cookie("posterior_session").is_none());

    // The budget is the address's, shared with the API.
    assert_eq!(
        assign_with(&app, Some("admin-secret-4")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // From here the form does not look at keys, the right one included, until the budget
    // refills: dashboard/sign_in_throttle.rs.
}

#[tokio::test]
async fn a_budget_that_allows_nothing_is_refused_at_start() {
    for (per_minute, burst, needle) in [
        (0.0, 10, "POSTERIOR_AUTH_FAILURES_PER_MINUTE"),
        (f64::NAN, 10, "POSTERIOR_AUTH_FAILURES_PER_MINUTE"),
        (30.0, 0, "POSTERIOR_AUTH_FAILURE_BURST"),
    ] {
        let error = start_refused_with(|settings| {
            settings.engine.auth_throttle.failures_per_minute = per_minute;
            settings.engine.auth_throttle.burst = burst;
        })
        .await;
        assert!(error.contains(needle), "{error}");
    }
}
