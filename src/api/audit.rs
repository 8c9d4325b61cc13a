//! `GET /api/v1/audit?format=csv|jsonl&from=&to=`: the audit log of admin actions, streamed.

use super::ApiResult;
use super::auth::AdminOrSession;
use super::export::{FormatParam, download, range_of};
use crate::engine::Engine;
use crate::engine::export::ExportFormat;
use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `csv` (the default) or `jsonl` (JSON lines).
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
    /// Start of the range (inclusive): RFC 3339 time or `YYYY-MM-DD` (midnight UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range (exclusive), same forms as `from`.
    #[serde(default)]
    pub to: Option<String>,
}

/// Streams the audit log, oldest first: `id, at, actor, action, target, before, after`
/// (before and after as JSON).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The audit log, streamed (chunked)",
         content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Bad parameters", body = super::ErrorBody),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 429, response = super::openapi::RateLimited),
        (status = 503, description = "Database unavailable or too many exports running", body = super::ErrorBody),
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn audit(
    _: AdminOrSession,
    engine: web::Data<Engine>,
    query: web::Query<AuditQuery>,
) -> ApiResult {
    let query = query.into_inner();
    let range = range_of(query.from.as_deref(), query.to.as_deref())?;
    let format = ExportFormat::from(query.format.unwrap_or_default());
    let pages = engine.export_audit(format, range).await?;
    Ok(download(
        pages,
        format,
        &format!("audit.{}", format.extension()),
    ))
}
