//! `/api/v1/segments`: named targeting rules that experiments reference by key.

use super::ApiResult;
use super::auth::Admin;
use super::json::Json;
use crate::domain::{Segment, SegmentDraft};
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::Serialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/segments")
            .route(web::post().to(create_segment))
            .route(web::get().to(list_segments)),
    )
    .service(
        web::resource("/segments/{key}")
            .route(web::get().to(get_segment))
            .route(web::put().to(replace_segment))
            .route(web::delete().to(delete_segment)),
    );
}

/// Creates a segment: a named rule on user attributes that experiments reference by key.
#[utoipa::path(post, path = "/api/v1/segments", tag = "segments",
    request_body = SegmentDraft,
    responses(
        (status = 201, description = "Created", body = Segment),
        (status = 400, description = "Malformed JSON or invalid input (rule shape, depth, size)", body = super::ErrorBody),
        (status = 409, description = "A segment with this key exists", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn create_segment(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    draft: Json<SegmentDraft>,
) -> ApiResult {
    Ok(HttpResponse::Created().json(engine.create_segment(&actor, draft.into_inner()).await?))
}

/// Lists every segment, by key.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments",
    responses(
        (status = 200, description = "Every segment", body = SegmentList),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn list_segments(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    let segments = engine.list_segments().await?;
    Ok(HttpResponse::Ok().json(SegmentList { segments }))
}

/// `GET /api/v1/segments`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SegmentList {
    pub segments: Vec<Segment>,
}

/// One segment.
#[utoipa::path(get, path = "/api/v1/segments/{key}", tag = "segments",
    params(("key" = String, Path, description = "The segment's key", example = "returning-buyers")),
    responses(
        (status = 200, description = "The segment", body = Segment),
        (status = 404, description = "No segment has this key", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn get_segment(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.segment(&key).await?))
}

/// Replaces a segment's name, description and rule (the key stays). Every experiment that
/// uses it follows within a second, on every instance.
#[utoipa::path(put, path = "/api/v1/segments/{key}", tag = "segments",
    params(("key" = String, Path, description = "The segment's key", example = "returning-buyers")),
    request_body = SegmentDraft,
    responses(
        (status = 200, description = "The changed segment", body = Segment),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        (status = 404, description = "No segment has this key", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn replace_segment(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    draft: Json<SegmentDraft>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(
        engine
            .update_segment(&actor, &key, draft.into_inner())
            .await?,
    ))
}

/// Deletes a segment; refused while an experiment that is not stopped references it.
#[utoipa::path(delete, path = "/api/v1/segments/{key}", tag = "segments",
    params(("key" = String, Path, description = "The segment's key", example = "returning-buyers")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No segment has this key", body = super::ErrorBody),
        (status = 409, description = "A draft, running or paused experiment uses the segment", body = super::ErrorBody),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn delete_segment(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> ApiResult {
    engine.delete_segment(&actor, &key).await?;
    Ok(HttpResponse::NoContent().finish())
}
