//! `GET /api/v1/experiments/{key}/export?data=results|assignments|events|series&format=csv|jsonl&from=&to=`:
//! a streamed download (see `engine::export` for what each data set holds).

use super::auth::AdminOrSession;
use super::{ApiError, ApiResult};
use crate::engine::Engine;
use crate::engine::export::{ExportData, ExportFormat, ExportRequest, ExportStream, parse_time};
use crate::store::export::TimeRange;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataParam {
    Results,
    Assignments,
    Events,
    Series,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FormatParam {
    #[default]
    Csv,
    Jsonl,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// What to export.
    #[param(inline)]
    pub data: DataParam,
    /// `csv` (the default) or `jsonl` (JSON lines).
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
    /// Start of the range (inclusive): RFC 3339 time or `YYYY-MM-DD` (midnight UTC). It applies
    /// to assignment time (assignments, results), event time (events) and day (series).
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range (exclusive), same forms as `from`.
    #[serde(default)]
    pub to: Option<String>,
}

/// Streams an export.
#[utoipa::path(
    get, path = "/api/v1/experiments/{key}/export", tag = "experiments",
    params(("key" = String, Path, description = "The experiment's key", example = "push-time"), ExportQuery),
    responses(
        (status = 200, description = "The export, streamed (chunked)",
         content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Bad parameters", body = super::ErrorBody),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, description = "Unknown experiment", body = super::ErrorBody),
        (status = 429, response = super::openapi::RateLimited),
        (status = 503, description = "Database unavailable or too many exports running", body = super::ErrorBody),
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn export(
    _: AdminOrSession,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> ApiResult {
    let query = query.into_inner();
    let range = range_of(query.from.as_deref(), query.to.as_deref())?;
    let data = match query.data {
        DataParam::Results => ExportData::Results,
        DataParam::Assignments => ExportData::Assignments,
        DataParam::Events => ExportData::Events,
        DataParam::Series => ExportData::Series,
    };
    let format = ExportFormat::from(query.format.unwrap_or_default());
    let key = key.into_inner();
    let pages = engine
        .export(ExportRequest {
            experiment: key.clone(),
            data,
            format,
            range,
        })
        .await?;
    let filename = format!("{key}-{}.{}", data.as_str(), format.extension());
    Ok(download(pages, format, &filename))
}

impl From<FormatParam> for ExportFormat {
    fn from(format: FormatParam) -> Self {
        match format {
            FormatParam::Csv => ExportFormat::Csv,
            FormatParam::Jsonl => ExportFormat::Jsonl,
        }
    }
}

/// Parses `from`/`to` into a range (shared by the export and audit downloads, API and dashboard); an
/// empty value means no bound, as a form's blank field sends it.
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
