//! The marketer's dashboard: server-rendered HTML pages over the engine.
//!
//! Handlers here parse, check the session and CSRF token, call the engine and pick a view from
//! `templates`; they never touch SQL. Every page works without JavaScript; `static/` holds the
//! stylesheet and a small script that only enhances.

mod assets;
mod audit;
mod experiments;
mod forms;
mod keys;
mod segments;
mod session;
mod sign_in;

pub use session::{Posted, SignedIn};

use crate::domain::ValidationError;
use crate::engine::EngineError;
use crate::templates;
use crate::templates::form_values::FieldErrors;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError, web};
use maud::Markup;
use std::time::{Duration, Instant};

/// Where the dashboard lives, and where a signed-in visitor lands.
pub const HOME: &str = "/dashboard/experiments";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(go_home))
        .route("/static/{file}", web::get().to(assets::serve))
        .service(
            web::scope("/dashboard")
                .route("", web::get().to(go_home))
                .route("/", web::get().to(go_home))
                .route("/sign-in", web::get().to(sign_in::page))
                .route("/sign-in", web::post().to(sign_in::sign_in))
                .route("/sign-out", web::post().to(sign_in::sign_out))
                .route("/new", web::get().to(experiments::new_form))
                .route("/experiments", web::get().to(experiments::list))
                .route("/experiments", web::post().to(experiments::create))
                .route("/experiments/{key}", web::get().to(experiments::show))
                .route(
                    "/experiments/{key}/edit",
                    web::get().to(experiments::edit_form),
                )
                .route(
                    "/experiments/{key}/edit",
                    web::post().to(experiments::update),
                )
                .route(
                    "/experiments/{key}/start",
                    web::post().to(experiments::start),
                )
                .route(
                    "/experiments/{key}/pause",
                    web::post().to(experiments::pause),
                )
                .route(
                    "/experiments/{key}/stop",
                    web::get().to(experiments::stop_confirmation),
                )
                .route("/experiments/{key}/stop", web::post().to(experiments::stop))
                .route("/keys", web::get().to(keys::list))
                .route("/keys", web::post().to(keys::create))
                .route(
                    "/keys/{id}/revoke",
                    web::get().to(keys::revoke_confirmation),
                )
                .route("/keys/{id}/revoke", web::post().to(keys::revoke))
                .route("/audit", web::get().to(audit::page))
                .route("/audit/export", web::get().to(audit::export))
                .route("/segments", web::get().to(segments::list))
                .route("/segments", web::post().to(segments::create))
                .route("/segments/new", web::get().to(segments::new_form))
                .route("/segments/{key}", web::get().to(segments::edit_form))
                .route("/segments/{key}", web::post().to(segments::update))
                .route("/segments/{key}/delete", web::post().to(segments::delete))
                .route("/holdout", web::post().to(segments::set_holdout))
                .default_service(web::to(not_found)),
        );
}

async fn go_home() -> HttpResponse {
    redirect(HOME)
}

async fn not_found() -> PageResult {
    Err(DashboardError::NotFound("There is no such page.".into()))
}

/// Errors of dashboard handlers, shown as HTML pages.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Not signed in: go to the sign-in page, and come back to `next` afterwards.
    #[error("sign in first")]
    SignInRequired { next: Option<String> },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<EngineError> for DashboardError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownExperiment(key) => {
                DashboardError::NotFound(format!("There is no experiment with the key “{key}”."))
            }
            EngineError::UnknownSegment(key) => {
                DashboardError::NotFound(format!("There is no segment with the key “{key}”."))
            }
            EngineError::Invalid(v) => DashboardError::BadRequest(v.to_string()),
            e @ EngineError::UnknownVariant { .. } => DashboardError::BadRequest(e.to_string()),
            EngineError::Conflict(m) => DashboardError::Conflict(m),
            EngineError::Unavailable(m) => DashboardError::Unavailable(m),
            EngineError::Internal(m) => DashboardError::Internal(m),
        }
    }
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashboardError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            DashboardError::Forbidden(_) => StatusCode::FORBIDDEN,
            DashboardError::NotFound(_) => StatusCode::NOT_FOUND,
            DashboardError::Conflict(_) => StatusCode::CONFLICT,
            DashboardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashboardError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DashboardError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            DashboardError::SignInRequired { next } => {
                let target = match next {
                    Some(next) => format!("/dashboard/sign-in?next={}", query_encode(next)),
                    None => "/dashboard/sign-in".into(),
                };
                return redirect(&target);
            }
            DashboardError::Internal(detail) => {
                tracing::error!(error = %detail, "dashboard: internal error");
                "Something went wrong on the server; the details are in its log.".to_string()
            }
            DashboardError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "dashboard: database unavailable");
                "The database is unavailable. Try again in a moment.".to_string()
            }
            other => other.to_string(),
        };
        let title = match self.status_code() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::CONFLICT => "Not possible now",
            StatusCode::BAD_REQUEST => "Not understood",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            _ => "Error",
        };
        html(
            self.status_code(),
            templates::error_page::page(title, &message),
        )
    }
}

pub type PageResult = Result<HttpResponse, DashboardError>;

/// Headers every page gets: private (never cached), and locked down, since the pages show
/// private data and carry forms.
fn page_response(status: StatusCode) -> HttpResponseBuilder {
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    r
}

pub fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    page_response(status).body(markup.into_string())
}

/// A form page's status: 200 when it is shown to be filled in, 422 when it comes back refused.
pub fn form_status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// A form page, with `errors` beside its fields (422 when there are any).
pub fn form_html(errors: &FieldErrors, markup: Markup) -> HttpResponse {
    html(form_status(!errors.is_empty()), markup)
}

/// What a form's submission came to: done (`Ok(Ok(_))`), refused with errors to show beside
/// the form's fields (`Ok(Err(_))`: `invalid` places the domain's refusal, `conflict` a
/// conflict with what exists), or failed (an error page).
pub fn refused<T>(
    result: Result<T, EngineError>,
    invalid: impl FnOnce(&ValidationError) -> FieldErrors,
    conflict: impl FnOnce(String) -> FieldErrors,
) -> Result<Result<T, FieldErrors>, DashboardError> {
    match result {
        Ok(done) => Ok(Ok(done)),
        Err(EngineError::Invalid(e)) => Ok(Err(invalid(&e))),
        Err(EngineError::Conflict(m)) => Ok(Err(conflict(m))),
        Err(e) => Err(e.into()),
    }
}

/// Adds `Server-Timing` to a page: how long its data (read by `fetched`) and its rendering
/// took, from `started`.
pub fn with_server_timing(
    mut response: HttpResponse,
    started: Instant,
    fetched: Duration,
) -> HttpResponse {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total = started.elapsed();
    let timing = format!(
        "data;dur={:.2}, render;dur={:.2}, total;dur={:.2}",
        ms(fetched),
        ms(total.saturating_sub(fetched)),
        ms(total)
    );
    if let Ok(value) = header::HeaderValue::from_str(&timing) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("server-timing"), value);
    }
    response
}

/// 303 See Other: after a form, the browser GETs the target (no re-submission on reload).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Percent-encodes a query value (everything but the unreserved characters).
pub fn query_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A dashboard path to come back to after signing in; anything else (another site,
/// `//host`, a scheme) falls back to the home page, so sign-in is no open redirect.
pub fn safe_next(next: &str) -> &str {
    let ok = (next == "/dashboard" || next.starts_with("/dashboard/"))
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok { next } else { HOME }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(
            safe_next("/dashboard/experiments/a?refresh=30"),
            "/dashboard/experiments/a?refresh=30"
        );
        assert_eq!(safe_next("https://evil.example/"), super::HOME);
        assert_eq!(safe_next("//evil.example/dashboard/"), super::HOME);
        assert_eq!(safe_next("/dashboard/..//evil"), super::HOME);
        assert_eq!(safe_next("/api/v1/experiments"), super::HOME);
    }
}
