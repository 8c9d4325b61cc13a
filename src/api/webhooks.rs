//! `/api/v1/webhooks`: receivers of signed deliveries for experiment and guardrail events.

use super::auth::Admin;
use super::json::Json;
use super::{ApiError, ApiResult};
use crate::domain::{CreatedWebhook, Webhook, WebhookDelivery, WebhookDraft};
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::post().to(create_webhook))
            .route(web::get().to(list_webhooks)),
    )
    .service(web::resource("/webhooks/{id}").route(web::delete().to(delete_webhook)))
    .service(web::resource("/webhooks/{id}/deliveries").route(web::get().to(deliveries)));
}

/// Creates a webhook. The answer holds its signing `secret`, shown this once: every delivery
/// carries `Posterior-Timestamp` (Unix seconds) and `Posterior-Signature: sha256=<hex>`, the
/// HMAC-SHA256 of `"{timestamp}.{body}"` keyed with the secret.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = WebhookDraft,
    responses(
        (status = 201, description = "Created; `secret` is not shown again", body = CreatedWebhook),
        (status = 400, description = "Malformed JSON or invalid input (url, events[i])", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn create_webhook(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    draft: Json<WebhookDraft>,
) -> ApiResult {
    Ok(HttpResponse::Created().json(engine.create_webhook(&actor, draft.into_inner()).await?))
}

/// Lists the webhooks (without their secrets), oldest first.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "Every webhook", body = WebhookList),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn list_webhooks(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    let webhooks = engine.list_webhooks().await?;
    Ok(HttpResponse::Ok().json(WebhookList { webhooks }))
}

/// `GET /api/v1/webhooks`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

/// Deletes a webhook: nothing more is sent to it (its pending deliveries are given up); its
/// deliveries stay readable.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No webhook has this id", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn delete_webhook(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    id: web::Path<String>,
) -> ApiResult {
    engine.delete_webhook(&actor, webhook_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The most deliveries one page lists.
const MAX_DELIVERIES: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// How many of the newest deliveries (1 to 500; 50 when absent).
    limit: Option<i64>,
}

/// A webhook's deliveries, newest first, each with its state and every attempt (when, the
/// receiver's status, the error).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "The webhook's id"), DeliveriesQuery),
    responses(
        (status = 200, description = "The newest deliveries", body = DeliveryList),
        (status = 400, description = "A limit out of range", body = super::ErrorBody),
        (status = 404, description = "No webhook has this id", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn deliveries(
    _: Admin,
    engine: web::Data<Engine>,
    id: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> ApiResult {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_DELIVERIES).contains(&limit) {
        return Err(ApiError::Invalid(format!(
            "limit: must be between 1 and {MAX_DELIVERIES}"
        )));
    }
    let deliveries = engine.webhook_deliveries(webhook_id(&id)?, limit).await?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries }))
}

/// `GET /api/v1/webhooks/{id}/deliveries`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<WebhookDelivery>,
}

/// A path id that is not a number names no webhook.
fn webhook_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound {
        code: "unknown_webhook",
        message: format!("no webhook has the id {raw:?}"),
    })
}
