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
        (status = 400, description = "Bad parameters", body = super::ErrorBody),
        (status = 401, response = super::responses::Unauthorized),
        (status = 403, response = super::responses::Forbidden),
        (status = 429, response = super::responses::RateLimited),
        (status = 503, description = "Database unavailable or too many exports running", body = super::ErrorBody),
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
