//! The sign-in form is where a person types a key, and where a guesser would: once an address
//! is over its budget of failed authentications, the form answers 429 without looking at the
//! key (the right one included, so a guess never tells whether it was right), until the budget
//! refills. Apps with a valid key keep working from that address.

use crate::helpers::*;
use posterior::config::AuthThrottleSettings;
use reqwest::{Method, StatusCode};
use std::time::Duration;

#[tokio::test]
async fn a_throttled_address_cannot_sign_in_even_with_the_right_key_until_it_refills() {
    // One failure every 4 s, after a burst of 3.
    let app = spawn_app_with(|settings| {
        settings.engine.auth_throttle = AuthThrottleSettings {
            failures_per_minute: 15.0,
            burst: 3,
            ..AuthThrottleSettings::DEFAULT
        }
    })
    .await;
    let browser = Browser::new(&app);

    for i in 0..3 {
        let guess = browser.sign_in_with(&format!("admin-guess-{i}")).await;
        assert_eq!(guess.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let throttled = browser.sign_in_with("admin-guess-3").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);

    // The right key gets the same answer as a wrong one: 429, no session.
    let right = browser.sign_in_with(ADMIN_KEY).await;
    assert_eq!(
        right.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        right.body
    );
    let wait: u64 = right.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&wait), "Retry-After {wait}");
    assert_eq!(browser.cookie("posterior_session"), None);
    assert_eq!(
        browser.get("/dashboard/experiments").await.status,
        StatusCode::SEE_OTHER,
        "still signed out"
    );

    // An app's valid key still works from this address (tests/api/throttle.rs: every route).
    let listed = app.admin(Method::GET, "/api/v1/experiments", None).await;
    assert_eq!(listed.status, StatusCode::OK);

    // Once the budget has room again, the right key signs in.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let signed_in = browser.sign_in_with(ADMIN_KEY).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/dashboard/experiments");
    assert_eq!(
        browser.get("/dashboard/experiments").await.status,
        StatusCode::OK
    );
}
