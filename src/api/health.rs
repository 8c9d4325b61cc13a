//! Liveness and readiness for orchestrators.

use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = super::openapi::Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long readiness waits for the database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Ready: the database answers too.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = super::openapi::Health),
        (status = 503, description = "The database is unreachable", body = super::openapi::Health)
    ))]
pub async fn readyz(engine: web::Data<Engine>) -> HttpResponse {
    // A database that hangs is not ready either: answer within a bounded time.
    let pinged = tokio::time::timeout(READY_TIMEOUT, engine.ping())
        .await
        .unwrap_or_else(|_| {
            Err(crate::engine::EngineError::Unavailable(
                "the database did not answer in time".into(),
            ))
        });
    match pinged {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"status": "unavailable", "error": e.to_string()})),
    }
}
