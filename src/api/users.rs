//! `DELETE /api/v1/users/{user_id}`: erase a user (privacy law), keeping aggregates consistent.

use super::auth::Admin;
use super::{ApiError, ApiResult};
use crate::domain::{Erased, UserId};
use crate::engine::Engine;
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
        super::responses::AdminFailures
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
    Ok(HttpResponse::Ok().json(UserErased {
        user_id: user,
        erased,
    }))
}
