//! `/api/v1/holdout`: the share of users who get no experiment at all, and how they compare
//! with users exposed to experiments.

use super::ApiResult;
use super::auth::Admin;
use super::json::Json;
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/holdout")
            .route(web::get().to(get_holdout))
            .route(web::put().to(set_holdout)),
    )
    .route("/holdout/results", web::get().to(holdout_results));
}

/// The server-wide holdout: `PUT /api/v1/holdout`'s body, and the answer of both routes.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// The share of users (0 to 0.5) who get no experiment at all.
    #[schema(example = 0.05)]
    pub fraction: f64,
}

/// The server-wide holdout fraction.
#[utoipa::path(get, path = "/api/v1/holdout", tag = "segments",
    responses(
        (status = 200, description = "The holdout", body = Holdout),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn get_holdout(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    let fraction = engine.holdout().await?;
    Ok(HttpResponse::Ok().json(Holdout { fraction }))
}

/// Sets the holdout: users whose hash falls below the fraction get no experiment at all
/// (and are recorded, to measure the total effect of personalization).
#[utoipa::path(put, path = "/api/v1/holdout", tag = "segments",
    request_body = Holdout,
    responses(
        (status = 200, description = "The holdout now", body = Holdout),
        (status = 400, description = "Malformed JSON, or a fraction outside 0 to 0.5", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn set_holdout(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    body: Json<Holdout>,
) -> ApiResult {
    let fraction = engine
        .set_holdout(&actor, body.into_inner().fraction)
        .await?;
    Ok(HttpResponse::Ok().json(Holdout { fraction }))
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
#[utoipa::path(get, path = "/api/v1/holdout/results", tag = "segments",
    params(HoldoutQuery),
    responses(
        (status = 200, description = "Held out against exposed", body = crate::engine::HoldoutResults),
        (status = 400, description = "No or an invalid event name", body = super::ErrorBody),
        super::responses::AdminFailures
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
