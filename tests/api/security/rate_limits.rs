//! Per-key rate limits: 429 with Retry-After for the key over its limit, and only for it.

use crate::helpers::*;
use posterior::domain::Scope;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

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
    let (limited, _) = app.stored_key(Scope::Client, "limited", Some(5.0));
    let (free, _) = app.stored_key(Scope::Client, "free", None);
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
    let app = spawn_app_with(|settings| {
        settings.engine.default_rate_limit = Some(3.0);
    })
    .await;
    let (own, _) = app.stored_key(Scope::Client, "own limit", Some(1000.0));
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
