//! The JSON API (`/api/v1`) and the operational endpoints: parse, authorize, call the engine.

mod assign;
pub mod auth;
mod error;
mod experiments;
mod health;
mod json;
mod track;
mod users;

pub use error::ApiError;

use actix_web::{HttpResponse, web};

pub type ApiResult = Result<HttpResponse, ApiError>;

/// Largest accepted JSON body: 1,000 events of generous size fit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Registers every API route; extractor errors become `ApiError`s with our JSON shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::Invalid(err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::Invalid(err.to_string()).into()),
    )
    .app_data(web::PayloadConfig::default().limit(MAX_BODY_BYTES))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .service(
        web::scope("/api/v1")
            .configure(experiments::routes)
            .route("/assign", web::post().to(assign::assign))
            .route("/track", web::post().to(track::track))
            .route("/users/{user_id}", web::delete().to(users::erase)),
    );
}

/// Unknown routes answer in the same JSON error shape.
pub async fn not_found() -> ApiResult {
    Err(ApiError::NotFound {
        code: "not_found",
        message: "no such route".into(),
    })
}
