//! `DELETE /api/v1/users/{user_id}`: erase a user (privacy law), keeping aggregates consistent.

use super::auth::Admin;
use super::{ApiError, ApiResult};
use crate::domain::UserId;
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub async fn erase(_: Admin, engine: web::Data<Engine>, user_id: web::Path<String>) -> ApiResult {
    let user = UserId::parse(user_id.into_inner()).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let erased = engine.erase_user(&user).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": user, "erased": erased})))
}
