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

/// Ready: the database answers too.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = super::openapi::Health),
        (status = 503, description = "The database is unreachable", body = super::openapi::Health)
    ))]
pub async fn readyz(engine: web::Data<Engine>) -> HttpResponse {
    match engine.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"status": "unavailable", "error": e.to_string()})),
    }
}
