//! `GET /api/v1/audit?format=csv|jsonl&from=&to=`: the audit log of admin actions, streamed.

use super::auth::AdminOrSession;
use super::export::FormatParam;
use super::{ApiError, ApiResult};
use crate::engine::Engine;
use crate::engine::export::{ExportFormat, ExportStream, parse_time};
use crate::store::export::TimeRange;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
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

/// Parses `from`/`to` into a range (shared with the dashboard's download).
pub fn range_of(from: Option<&str>, to: Option<&str>) -> Result<TimeRange, ApiError> {
    let time = |t: Option<&str>, name: &str| {
        t.filter(|t| !t.is_empty())
            .map(parse_time)
            .transpose()
            .map_err(|e| ApiError::Invalid(format!("{name}: {e}")))
    };
    let range = TimeRange {
        from: time(from, "from")?,
        to: time(to, "to")?,
    };
    if let (Some(from), Some(to)) = (range.from, range.to)
        && from >= to
    {
        return Err(ApiError::Invalid("from must be before to".into()));
    }
    Ok(range)
}

/// The HTTP body of an export stream, as a download named `filename`.
pub fn download(mut pages: ExportStream, format: ExportFormat, filename: &str) -> HttpResponse {
    let body = futures_util::stream::poll_fn(move |cx| {
        pages.poll_recv(cx).map(|page| {
            page.map(|result| {
                result
                    .map(web::Bytes::from)
                    .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))
            })
        })
    });
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body)
}

/// Streams the audit log, oldest first: `id, at, actor, action, target, before, after`
/// (before and after as JSON).
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
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
    query: web::Query<AuditQuery>,
) -> ApiResult {
    let query = query.into_inner();
    let range = range_of(query.from.as_deref(), query.to.as_deref())?;
    let format = match query.format.unwrap_or_default() {
        FormatParam::Csv => ExportFormat::Csv,
        FormatParam::Jsonl => ExportFormat::Jsonl,
    };
    let pages = engine.export_audit(format, range).await?;
    Ok(download(
        pages,
        format,
        &format!("audit.{}", format.extension()),
    ))
}
