//! The user page: a user's profile, assignments with variants, latest events and holdout
//! membership, looked up by id.

use crate::helpers::*;
use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_user_page_shows_profile_assignments_and_events() {
    let app = spawn_app().await;
    app.running_experiment(experiment_body("banner", "ab"))
        .await;
    let variant = app
        .variant_of("u-42", "banner", json!({}))
        .await
        .expect("assigned");
    let at = Utc::now() - TimeDelta::minutes(5);
    let receipt = app
        .track(json!([
            {"event_id": "ev-open-1", "user_id": "u-42", "name": "open", "timestamp": at},
            {"event_id": "ev-buy-1", "user_id": "u-42", "name": "purchase", "value": 12.5, "timestamp": at}
        ]))
        .await;
    assert_eq!(receipt.status, StatusCode::ACCEPTED);
    let browser = Browser::signed_in(&app).await;

    let page = browser.get("/dashboard/users?user_id=u-42").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let text = html::text(&page.body);
    for expected in [
        "open",
        "purchase",
        "ev-open-1",
        "ev-buy-1",
        "banner",
        &variant,
        "12.5",
    ] {
        assert!(text.contains(expected), "{expected} missing: {text}");
    }
    assert!(!text.contains("No event of this user is known"));

    let unknown = browser.get("/dashboard/users?user_id=nobody").await;
    assert_eq!(unknown.status, StatusCode::OK);
    let text = html::text(&unknown.body);
    assert!(text.contains("No event of this user is known"), "{text}");
    assert!(text.contains("No assignment"), "{text}");

    let refused = browser
        .get(&format!("/dashboard/users?user_id={}", "u".repeat(300)))
        .await;
    refused.assert_error_at("user_id");

    let form = browser.get("/dashboard/users").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"name="user_id""#));

    let anonymous = Browser::new(&app)
        .get("/dashboard/users?user_id=u-42")
        .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}
