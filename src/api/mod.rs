//! The JSON API (`/api/v1`) and the operational endpoints: parse, authorize, call the engine.

mod assign;
pub mod audit;
pub mod auth;
mod error;
mod experiments;
pub mod export;
#[cfg(test)]
mod fuzz;
mod health;
mod holdout;
mod json;
mod metrics;
pub mod observe;
pub mod ofrep;
pub mod openapi;
mod prometheus;
pub mod responses;
mod segments;
mod track;
mod users;
mod webhooks;

pub use error::{ApiError, ErrorBody};

use actix_web::{HttpResponse, web};

pub type ApiResult = Result<HttpResponse, ApiError>;

/// Registers every API route; extractor errors become `ApiError`s with our JSON shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Install the metrics recorder before anything records.
    crate::telemetry::prometheus();
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::Invalid(err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::Invalid(err.to_string()).into()),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(prometheus::metrics))
    .route("/openapi.json", web::get().to(openapi::openapi_json))
    .configure(ofrep::routes)
    .service(
        // The hot routes first: actix tries routes in order, and the patterns with
        // parameters below cost a regex match each.
        web::scope("/api/v1")
            .route("/assign", web::post().to(assign::assign))
            .route("/track", web::post().to(track::track))
            .configure(experiments::routes)
            .configure(metrics::routes)
            .configure(segments::routes)
            .configure(holdout::routes)
            .configure(webhooks::routes)
            .route("/experiments/{key}/export", web::get().to(export::export))
            .route("/users/{user_id}", web::delete().to(users::erase))
            .route("/users/{user_id}/profile", web::get().to(users::profile))
            .route("/audit", web::get().to(audit::audit)),
    );
}

/// Unknown routes answer in the same JSON error shape.
pub async fn not_found() -> ApiResult {
    Err(ApiError::NotFound {
        code: "not_found",
        message: "no such route".into(),
    })
}
