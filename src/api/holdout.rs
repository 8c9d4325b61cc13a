//! `/api/v1/holdout`: the share of users who get no experiment at all, and how they compare
//! with users exposed to experiments.

use super::ApiResult;
use super::auth::Admin;
use super::json::Json;
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/holdout")
            .route(web::get().to(get_holdout))
            .route(web::put().to(set_holdout)),
    )
    .route("/holdout/results", web::get().to(holdout_results));
}

/// `PUT /api/v1/holdout`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldoutBody {
    /// The share of users (0 to 0.5) who get no experiment at all.
    #[schema(example = 0.05)]
    pub fraction: f64,
}

/// The server-wide holdout fraction.
#[utoipa::path(get, path = "/api/v1/holdout", tag = "personalization",
    responses(
        (status = 200, description = "The holdout", body = super::openapi::HoldoutDoc),
        (status = 401, description = "No API key, or an unknown or revoked one", body = super::openapi::ErrorBody),
        (status = 403, description = "The key's scope does not allow this route", body = super::openapi::ErrorBody),
        (status = 429, description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After", body = super::openapi::ErrorBody),
        (status = 503, description = "The database is unavailable; retry after Retry-After", body = super::openapi::ErrorBody)
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn get_holdout(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    Ok(HttpResponse::Ok().json(json!({ "fraction": engine.holdout().await? })))
}

/// Sets the holdout: users whose hash falls below the fraction get no experiment at all
/// (and are recorded, to measure the total effect of personalization).
#[utoipa::path(put, path = "/api/v1/holdout", tag = "personalization",
    request_body = HoldoutBody,
    responses(
        (status = 200, description = "The holdout now", body = super::openapi::HoldoutDoc),
        (status = 400, description = "Malformed JSON, or a fraction outside 0 to 0.5", body = super::openapi::ErrorBody),
        (status = 401, description = "No API key, or an unknown or revoked one", body = super::openapi::ErrorBody),
        (status = 403, description = "The key's scope does not allow this route", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is too large", body = super::openapi::ErrorBody),
        (status = 429, description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After", body = super::openapi::ErrorBody),
        (status = 503, description = "The database is unavailable; retry after Retry-After", body = super::openapi::ErrorBody)
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn set_holdout(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    body: Json<HoldoutBody>,
) -> ApiResult {
    let fraction = engine
        .set_holdout(&actor, body.into_inner().fraction)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "fraction": fraction })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HoldoutQuery {
    /// The goal event to compare.
    #[param(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$",
        example = "purchase"
    )]
    pub event: String,
}

/// Conversion to a goal event of held-out users against users exposed to experiments, with
/// Beta posteriors: rates, the lift of exposed over held out, and the chance exposed is better.
#[utoipa::path(get, path = "/api/v1/holdout/results", tag = "personalization",
    params(HoldoutQuery),
    responses(
        (status = 200, description = "Held out against exposed", body = super::openapi::HoldoutResultsDoc),
        (status = 400, description = "No or an invalid event name", body = super::openapi::ErrorBody),
        (status = 401, description = "No API key, or an unknown or revoked one", body = super::openapi::ErrorBody),
        (status = 403, description = "The key's scope does not allow this route", body = super::openapi::ErrorBody),
        (status = 429, description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After", body = super::openapi::ErrorBody),
        (status = 503, description = "The database is unavailable; retry after Retry-After", body = super::openapi::ErrorBody)
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn holdout_results(
    _: Admin,
    engine: web::Data<Engine>,
    query: web::Query<HoldoutQuery>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.holdout_results(&query.event).await?))
}
