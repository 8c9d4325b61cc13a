//! How a dashboard page answers: its headers, its status (a refused form is a 422), redirects,
//! its `Server-Timing`, and the addresses it may send a visitor to.

use crate::templates::form_values::FieldErrors;
use actix_web::HttpResponse;
use actix_web::HttpResponseBuilder;
use actix_web::http::{StatusCode, header};
use maud::Markup;
use std::time::{Duration, Instant};

/// Where the dashboard lives, and where a signed-in visitor lands.
pub const HOME: &str = "/dashboard/experiments";

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
    use super::{HOME, safe_next};

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(
            safe_next("/dashboard/experiments/a?refresh=30"),
            "/dashboard/experiments/a?refresh=30"
        );
        assert_eq!(safe_next("https://evil.example/"), HOME);
        assert_eq!(safe_next("//evil.example/dashboard/"), HOME);
        assert_eq!(safe_next("/dashboard/..//evil"), HOME);
        assert_eq!(safe_next("/api/v1/experiments"), HOME);
    }
}
