//! `DELETE /api/v1/users/{user_id}`: erase a user (privacy law), keeping aggregates consistent.

use super::auth::Admin;
use super::{ApiError, ApiResult};
use crate::domain::UserId;
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// Erases a user's assignments and events; aggregates stay consistent.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "The app's id of the user")),
    responses(
        (status = 200, description = "What was erased", body = super::openapi::ErasedDoc),
        (status = 400, description = "Malformed JSON or invalid input", body = super::openapi::ErrorBody),
        (status = 401, description = "No API key, or an unknown or revoked one", body = super::openapi::ErrorBody),
        (status = 403, description = "The key's scope does not allow this route", body = super::openapi::ErrorBody),
        (status = 429, description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After", body = super::openapi::ErrorBody),
        (status = 503, description = "The database is unavailable; retry after Retry-After", body = super::openapi::ErrorBody)
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn erase(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    user_id: web::Path<String>,
) -> ApiResult {
    let user = UserId::parse(user_id.into_inner()).map_err(|e| ApiError::Invalid(e.to_string()))?;
    // Audit (security): recorded in the erasure's transaction, naming the user by a hash.
    let erased = engine.erase_user(&actor, &user).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": user, "erased": erased})))
}
