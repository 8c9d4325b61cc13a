//! The audit log page and its download.

use super::{DashboardError, PageResult, SignedIn, html};
use crate::api::export::{download, range_of};
use crate::engine::Engine;
use crate::engine::export::ExportFormat;
use crate::templates::audit::{self, AuditView};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;

/// Entries per page.
pub const PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

/// `GET /dashboard/audit[?before=ID]`: newest first, a page at a time.
pub async fn page(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<AuditQuery>,
) -> PageResult {
    let entries = engine.audit_entries(query.before, PAGE).await?;
    let older = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(html(
        StatusCode::OK,
        audit::page(&AuditView {
            csrf: &user.csrf,
            entries: &entries,
            older,
            paged: query.before.is_some(),
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /dashboard/audit/export?format=csv|jsonl`: the API's download, for a signed-in admin.
pub async fn export(
    _: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<ExportQuery>,
) -> PageResult {
    let format = match query.format.as_deref().unwrap_or("csv") {
        "csv" => ExportFormat::Csv,
        "jsonl" => ExportFormat::Jsonl,
        other => {
            return Err(DashboardError::BadRequest(format!(
                "{other:?} is not a format: choose csv or jsonl."
            )));
        }
    };
    let range = range_of(query.from.as_deref(), query.to.as_deref())
        .map_err(|e| DashboardError::BadRequest(e.to_string()))?;
    let pages = engine.export_audit(format, range).await?;
    Ok(download(
        pages,
        format,
        &format!("audit.{}", format.extension()),
    ))
}
