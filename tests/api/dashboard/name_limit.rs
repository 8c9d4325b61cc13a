//! The dashboard's experiment and segment forms hold names to the configured limit
//! (`POSTERIOR_MAX_NAME_BYTES`), as the API does: a longer name comes back beside its field and
//! nothing is created or changed.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn spawn_with_short_names() -> TestApp {
    spawn_app_with(|settings| settings.engine.limits.max_name_bytes = 20).await
}

/// 21 bytes: one more than the limit (and far below the domain's own 200).
const TOO_LONG: &str = "A name of 21 bytes...";

/// Submits a form of `browser`'s session: its CSRF token, then `fields`.
async fn submit(browser: &Browser, action: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = browser.csrf().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(action, &form).await
}

fn experiment_form<'a>(
    key: &'a str,
    name: &'a str,
    variant_name: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("action", "create"),
        ("key", key),
        ("name", name),
        ("dimension", "content"),
        ("kind", "ab"),
        ("goal_event", "purchase"),
        ("goal_metric", "conversion"),
        ("variant-0-key", "a"),
        ("variant-0-name", variant_name),
        ("variant-0-payload", r#"{"text": "Hello"}"#),
        ("variant-1-key", "b"),
        ("variant-1-payload", r#"{"text": "Hi"}"#),
        ("control", "0"),
    ]
}

#[tokio::test]
async fn experiment_forms_refuse_names_over_the_configured_limit() {
    assert_eq!(TOO_LONG.len(), 21);
    let app = spawn_with_short_names().await;
    let browser = Browser::signed_in(&app).await;

    let refused = submit(
        &browser,
        "/dashboard/experiments",
        &experiment_form("long-name", TOO_LONG, ""),
    )
    .await;
    refused.assert_error_at("name");
    assert!(refused.body.contains("20 bytes"), "{}", refused.body);
    assert!(refused.body.contains(TOO_LONG), "what was typed is kept");

    let refused = submit(
        &browser,
        "/dashboard/experiments",
        &experiment_form("long-variant", "Short", TOO_LONG),
    )
    .await;
    refused.assert_error_at("variant-0-name");
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    // At the limit it is created; renaming it past the limit is refused and changes nothing.
    let at_limit = "A name of 20 bytes..";
    let created = submit(
        &browser,
        "/dashboard/experiments",
        &experiment_form("limit", at_limit, ""),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let refused = submit(
        &browser,
        "/dashboard/experiments/limit/edit",
        &[
            ("action", "save"),
            ("name", TOO_LONG),
            ("traffic", "100"),
            ("variant-0-key", "a"),
            ("variant-0-weight", "50"),
            ("variant-1-key", "b"),
            ("variant-1-weight", "50"),
        ],
    )
    .await;
    refused.assert_error_at("name");
    let stored = app
        .admin(Method::GET, "/api/v1/experiments/limit", None)
        .await;
    assert_eq!(stored.body["name"], Value::from(at_limit));
}

#[tokio::test]
async fn segment_forms_refuse_names_over_the_configured_limit() {
    let app = spawn_with_short_names().await;
    let browser = Browser::signed_in(&app).await;
    let segment = |name: &'static str| {
        vec![
            ("action", "save"),
            ("key", "ios"),
            ("name", name),
            ("group", "all"),
            ("cond-0-attribute", "platform"),
            ("cond-0-op", "eq"),
            ("cond-0-value", "ios"),
        ]
    };

    let refused = submit(&browser, "/dashboard/segments", &segment(TOO_LONG)).await;
    refused.assert_error_at("name");
    assert!(refused.body.contains("20 bytes"), "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);

    let created = submit(&browser, "/dashboard/segments", &segment("iOS users")).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let refused = submit(&browser, "/dashboard/segments/ios", &segment(TOO_LONG)).await;
    refused.assert_error_at("name");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM segments WHERE name = 'iOS users'"),
        1
    );
}
