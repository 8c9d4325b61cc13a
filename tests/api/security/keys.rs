//! Stored API keys: a revoked key is refused everywhere within a second.

use crate::helpers::*;
use posterior::domain::Scope;
use posterior::engine::Actor;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_instance_within_a_second() {
    let a = spawn_app().await;
    let b = spawn_app_on(a.db.clone()).await;
    let (key, id) = a.stored_key(Scope::Client, "app", None);
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
