//! What every test uses: `spawn_app()` (a server on port 0 over a fresh database),
//! `spawn_app_with(|settings| …)` (the same with settings changed), `spawn_app_on(db)` (another
//! instance over the same database), `TestApp` (a client that speaks to it), and `Browser` (the
//! dashboard as a browser uses it).

mod app;
mod browser;
mod cli;
mod database;
pub mod html;
mod reply;

pub use app::{
    TestApp, http_client, spawn_app, spawn_app_on, spawn_app_on_with, spawn_app_with,
    start_refused_with,
};
pub use browser::{Browser, Page};
pub use cli::{posterior, posterior_ok};
pub use database::TestDb;
pub use reply::{Reply, jsonl};

use serde_json::{Value, json};
use std::time::Duration;

// At least 24 characters: the length the server asks of the keys it is given.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
pub const CLIENT_KEY: &str = "test-client-key-0123456789";

/// A two-variant experiment body; `kind` is "ab" or "bandit".
pub fn experiment_body(key: &str, kind: &str) -> Value {
    json!({
        "key": key,
        "name": format!("Experiment {key}"),
        "dimension": "content",
        "kind": kind,
        "variants": [
            {"key": "a", "payload": {"text": "Hello"}},
            {"key": "b", "payload": {"text": "Hi there"}}
        ],
        "goal": {"event": "purchase", "metric": "conversion"}
    })
}

/// Waits until `check` holds (instances see each other's changes within a refresh interval;
/// background ticks, within a few). Twenty seconds: the whole suite runs in parallel on two
/// cores, where a tick can come late (a guardrail's drop, seen in 6 s alone, once took over
/// 10 s there); a check that holds returns at once.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 20 s");
}
