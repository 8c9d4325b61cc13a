//! The audit log page. Its downloads are the API's (`/api/v1/audit`, which accepts the
//! dashboard session).

use super::error::PageResult;
use super::page::{html, redirect};
use super::session::SignedIn;
use crate::engine::Engine;
use crate::templates::audit::{self, AuditView};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
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

/// `GET /dashboard/audit/export?format=csv|jsonl&from=&to=`: a redirect to the API's download
/// with the same query, so that links and bookmarks to this address keep working.
pub async fn export(_: SignedIn, request: HttpRequest) -> PageResult {
    Ok(redirect(&format!(
        "/api/v1/audit?{}",
        request.query_string()
    )))
}
