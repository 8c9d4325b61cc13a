//! `/api/v1/metrics`: the metric library, reusable definitions of what to measure that
//! experiments name as their goal, secondary metrics and guardrails.

use super::ApiResult;
use super::auth::Admin;
use super::json::Json;
use crate::domain::{Metric, MetricDraft, MetricOut};
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::Serialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::post().to(create_metric))
            .route(web::get().to(list_metrics)),
    )
    .service(
        web::resource("/metrics/{key}")
            .route(web::get().to(get_metric))
            .route(web::put().to(replace_metric))
            .route(web::delete().to(delete_metric)),
    );
}

/// Creates a metric (`conversion`, `mean`, `ratio` or `retention`).
#[utoipa::path(post, path = "/api/v1/metrics", tag = "metrics",
    request_body = MetricDraft,
    responses(
        (status = 201, description = "Created", body = MetricOut),
        (status = 400, description = "Malformed JSON or invalid input (type, durations, cap, a ratio's parts)", body = super::ErrorBody),
        (status = 409, description = "A metric with this key exists", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn create_metric(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    draft: Json<MetricDraft>,
) -> ApiResult {
    Ok(HttpResponse::Created().json(engine.create_metric(&actor, draft.into_inner()).await?))
}

/// Lists every metric, by key.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics",
    responses(
        (status = 200, description = "Every metric", body = MetricList),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn list_metrics(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    let metrics = engine.list_metrics().await?;
    Ok(HttpResponse::Ok().json(MetricList { metrics }))
}

/// `GET /api/v1/metrics`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricList {
    #[schema(value_type = Vec<MetricOut>)]
    pub metrics: Vec<Metric>,
}

/// One metric.
#[utoipa::path(get, path = "/api/v1/metrics/{key}", tag = "metrics",
    params(("key" = String, Path, description = "The metric's key", example = "purchase-rate")),
    responses(
        (status = 200, description = "The metric", body = MetricOut),
        (status = 404, description = "No metric has this key", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn get_metric(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.metric(&key).await?))
}

/// Replaces a metric's definition (the key stays). Every experiment using it recomputes it
/// from the raw rows, in the background; their results say so meanwhile.
#[utoipa::path(put, path = "/api/v1/metrics/{key}", tag = "metrics",
    params(("key" = String, Path, description = "The metric's key", example = "purchase-rate")),
    request_body = MetricDraft,
    responses(
        (status = 200, description = "The changed metric", body = MetricOut),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        (status = 404, description = "No metric has this key", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn replace_metric(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    draft: Json<MetricDraft>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(
        engine
            .replace_metric(&actor, &key, draft.into_inner())
            .await?,
    ))
}

/// Deletes a metric; refused while an experiment that is not stopped uses it, or while it is
/// a part of a ratio metric.
#[utoipa::path(delete, path = "/api/v1/metrics/{key}", tag = "metrics",
    params(("key" = String, Path, description = "The metric's key", example = "purchase-rate")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No metric has this key", body = super::ErrorBody),
        (status = 409, description = "An experiment that is not stopped uses it, or a ratio has it as a part", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn delete_metric(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> ApiResult {
    engine.delete_metric(&actor, &key).await?;
    Ok(HttpResponse::NoContent().finish())
}
