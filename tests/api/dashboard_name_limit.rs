//! The dashboard's experiment and segment forms hold names to the configured limit
//! (`POSTERIOR_MAX_NAME_BYTES`), as the API does: a longer name comes back beside its field and
//! nothing is created or changed.

use crate::dashboard_browser::Browser;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn spawn_with_short_names() -> TestApp {
    let db = TestDb::create();
    let mut settings = test_settings(&db);
    settings.limits.max_name_bytes = 20;
    spawn_with(settings, db).await
}

/// 21 bytes: one more than the limit (and far below the domain's own 200).
const TOO_LONG: &str = "A name of 21 bytes...";

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

    let refused = browser
        .submit(
            "/dashboard/new",
            "/dashboard/experiments",
            &experiment_form("long-name", TOO_LONG, ""),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.has_error_at("name"), "{}", refused.body);
    assert!(refused.body.contains("20 bytes"), "{}", refused.body);
    assert!(refused.body.contains(TOO_LONG), "what was typed is kept");

    let refused = browser
        .submit(
            "/dashboard/new",
            "/dashboard/experiments",
            &experiment_form("long-variant", "Short", TOO_LONG),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.has_error_at("variant-0-name"), "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) AS n FROM experiments"), 0);

    // At the limit it is created; renaming it past the limit is refused and changes nothing.
    let at_limit = "A name of 20 bytes..";
    let created = browser
        .submit(
            "/dashboard/new",
            "/dashboard/experiments",
            &experiment_form("limit", at_limit, ""),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let refused = browser
        .submit(
            "/dashboard/experiments/limit/edit",
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
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.has_error_at("name"), "{}", refused.body);
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

    let refused = browser
        .submit(
            "/dashboard/segments/new",
            "/dashboard/segments",
            &segment(TOO_LONG),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.has_error_at("name"), "{}", refused.body);
    assert!(refused.body.contains("20 bytes"), "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) AS n FROM segments"), 0);

    let created = browser
        .submit(
            "/dashboard/segments/new",
            "/dashboard/segments",
            &segment("iOS users"),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let refused = browser
        .submit(
            "/dashboard/segments/ios",
            "/dashboard/segments/ios",
            &segment(TOO_LONG),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.has_error_at("name"), "{}", refused.body);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM segments WHERE name = 'iOS users'"),
        1
    );
}
