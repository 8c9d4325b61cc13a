//! Liveness and readiness for orchestrators.

use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// `/healthz` and `/readyz`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// Why the server is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Ready,
    Unavailable,
}

impl Health {
    fn is(status: HealthStatus) -> Self {
        Health {
            status,
            error: None,
        }
    }
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health::is(HealthStatus::Ok))
}

/// How long readiness waits for the database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Ready: the database answers too.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database is unreachable", body = Health)
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
        Ok(()) => HttpResponse::Ok().json(Health::is(HealthStatus::Ready)),
        Err(e) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(Health {
                status: HealthStatus::Unavailable,
                error: Some(e.to_string()),
            }),
    }
}
