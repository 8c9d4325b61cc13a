//! `DELETE /api/v1/users/{user_id}`: erase a user (privacy law), keeping aggregates consistent.

use super::auth::Admin;
use super::{ApiError, ApiResult};
use crate::domain::UserId;
use crate::engine::{Engine, Erased};
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// `DELETE /api/v1/users/{user_id}`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserErased {
    pub user_id: UserId,
    pub erased: Erased,
}

/// Erases a user's assignments and events; aggregates stay consistent.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "The app's id of the user")),
    responses(
        (status = 200, description = "What was erased", body = UserErased),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        super::openapi::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn erase(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    user_id: web::Path<String>,
) -> ApiResult {
    let user = UserId::parse(user_id.into_inner()).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let erased = engine.erase_user(&user).await?;
    // Audit (security): recorded once the erasure is committed. The append-only log names
    // the user by a hash, so the erased id does not live on there (privacy).
    let after = crate::engine::audit::json(&erased);
    let target = crate::engine::hashing::audit_user(user.as_str());
    engine
        .record(&actor, "user.erase", &target, None, Some(after))
        .await?;
    Ok(HttpResponse::Ok().json(UserErased {
        user_id: user,
        erased,
    }))
}
