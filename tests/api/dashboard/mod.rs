//! The dashboard, over real HTTP as a browser would use it (cookies, forms, redirects), one
//! topic a file. `experiment_page::render_time_with_10_variants_and_a_million_users` is the
//! speed check.

mod assets;
mod experiment_forms;
mod experiment_list;
mod experiment_page;
mod keys;
mod list_render_time;
mod metric_grid;
mod metrics_pages;
mod name_limit;
mod segments;
mod sessions;
mod sign_in_throttle;
mod users;

use crate::helpers::*;
use reqwest::Method;

async fn experiment_json(app: &TestApp, key: &str) -> Reply {
    app.admin(Method::GET, &format!("/api/v1/experiments/{key}"), None)
        .await
}

/// The form fields of a valid two-variant A/B experiment.
fn create_form<'a>(csrf: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("action", "create"),
        ("key", key),
        ("name", "Banner text"),
        ("description", "Does a warmer greeting sell more?"),
        ("dimension", "content"),
        ("kind", "ab"),
        ("goal_event", "purchase"),
        ("goal_metric", "conversion"),
        ("traffic", "80"),
        ("min_users_per_arm", "1,000"),
        ("variant-0-key", "hello"),
        ("variant-0-name", "Hello"),
        ("variant-0-payload", r#"{"text": "Hello"}"#),
        ("variant-0-weight", "40"),
        ("variant-1-key", "hi"),
        ("variant-1-payload", r#"{"text": "Hi there"}"#),
        ("variant-1-weight", "60"),
        ("variant-2-key", ""),
        ("variant-2-payload", ""),
        ("control", "0"),
        ("rule-0-attribute", "platform"),
        ("rule-0-op", "in"),
        ("rule-0-value", "ios, android"),
        ("rule-1-attribute", "age"),
        ("rule-1-op", "gte"),
        ("rule-1-value", "18"),
    ]
}

/// Revokes the key `id` on the keys page, confirmed.
async fn revoke_in_dashboard(admin: &Browser, csrf: &str, id: i64) -> Page {
    admin
        .post(
            &format!("/dashboard/keys/{id}/revoke"),
            &[("csrf", csrf), ("confirm", "yes")],
        )
        .await
}
