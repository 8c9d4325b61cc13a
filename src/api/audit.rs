//! `GET /api/v1/audit?format=csv|jsonl&from=&to=`: the audit log of admin actions, streamed.

use super::ApiResult;
use super::auth::AdminOrSession;
use super::export::{FormatQuery, RangeQuery, download};
use crate::engine::Engine;
use actix_web::web;

/// Streams the audit log, oldest first: `id, at, actor, action, target, before, after`
/// (before and after as JSON).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(FormatQuery, RangeQuery),
    responses(
        (status = 200, description = "The audit log, streamed (chunked)",
         content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Bad parameters", body = super::openapi::ErrorBody),
        (status = 401, description = "No API key, or an unknown or revoked one", body = super::openapi::ErrorBody),
        (status = 403, description = "The key's scope does not allow this route", body = super::openapi::ErrorBody),
        (status = 429, description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After", body = super::openapi::ErrorBody),
        (status = 503, description = "Database unavailable or too many exports running", body = super::openapi::ErrorBody),
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn audit(
    _: AdminOrSession,
    engine: web::Data<Engine>,
    format: web::Query<FormatQuery>,
    range: web::Query<RangeQuery>,
) -> ApiResult {
    let format = format.format.unwrap_or_default();
    let pages = engine.export_audit_log(format, range.range()?).await?;
    Ok(download(
        pages,
        format,
        &format!("audit.{}", format.extension()),
    ))
}
