//! `GET /api/v1/experiments/{key}/export?data=results|assignments|events|series|users|over_time&format=csv|jsonl&from=&to=`:
//! a streamed download (see `engine::export` for what each data set holds), and what the
//! audit log's download shares with it: the format and range parameters, the streamed body.

use super::auth::AdminOrSession;
use super::{ApiError, ApiResult};
use crate::domain::TimeRange;
use crate::engine::Engine;
use crate::engine::export::{ExportData, ExportFormat, ExportRequest, ExportStream};
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataQuery {
    /// What to export.
    #[param(inline)]
    pub data: ExportData,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `csv` (the default) or `jsonl` (JSON lines).
    #[serde(default)]
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start of the range (inclusive): RFC 3339 time or `YYYY-MM-DD` (midnight UTC); empty for
    /// none. It applies to assignment time (assignments, results), event time (events), day
    /// (series, over_time) and the entry's time (audit log).
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range (exclusive), same forms as `from`; after `from`.
    #[serde(default)]
    pub to: Option<String>,
}

impl RangeQuery {
    pub fn range(&self) -> Result<TimeRange, ApiError> {
        TimeRange::parse(self.from.as_deref(), self.to.as_deref())
            .map_err(|e| ApiError::Invalid(e.to_string()))
    }
}

/// Streams an export.
#[utoipa::path(
    get, path = "/api/v1/experiments/{key}/export", tag = "experiments",
    params(("key" = String, Path, description = "The experiment's key", example = "push-time"), DataQuery, FormatQuery, RangeQuery),
    responses(
        (status = 200, description = "The export, streamed (chunked)",
         content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Bad parameters", body = super::ErrorBody),
        (status = 401, response = super::responses::Unauthorized),
        (status = 403, response = super::responses::Forbidden),
        (status = 404, description = "Unknown experiment", body = super::ErrorBody),
        (status = 429, response = super::responses::RateLimited),
        (status = 503, description = "Database unavailable or too many exports running", body = super::ErrorBody),
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn export(
    _: AdminOrSession,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    data: web::Query<DataQuery>,
    format: web::Query<FormatQuery>,
    range: web::Query<RangeQuery>,
) -> ApiResult {
    let (data, format) = (data.data, format.format.unwrap_or_default());
    let key = key.into_inner();
    let pages = engine
        .export(ExportRequest {
            experiment: key.clone(),
            data,
            format,
            range: range.range()?,
        })
        .await?;
    let filename = format!("{key}-{}.{}", data.as_str(), format.extension());
    Ok(download(pages, format, &filename))
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
