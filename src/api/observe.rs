//! Per-request observation: a request id (taken from a sane incoming `X-Request-Id` or made
//! up), a tracing span carrying it around the whole handling, the id echoed in the response,
//! and the request counter and latency histogram by route pattern and status.

use crate::telemetry::{HTTP_DURATION, HTTP_REQUESTS};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use metrics::{Counter, Histogram};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_REQUEST_ID: usize = 128;

/// The request's id, readable by handlers (`req.extensions().get::<RequestId>()`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An incoming id is kept when it is 1 to 128 visible ASCII characters from a safe set
/// (letters, digits and `-_.:/+=@`), so it can go into logs and headers unchanged.
pub fn sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Routes without parameters, labelled without asking the router again (`match_pattern`
/// re-walks every route pattern, a regex match each).
fn static_route(path: &str) -> Option<&'static str> {
    Some(match path {
        "/api/v1/assign" => "/api/v1/assign",
        "/api/v1/track" => "/api/v1/track",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/ofrep/v1/evaluate/flags" => "/ofrep/v1/evaluate/flags",
        _ => return None,
    })
}

type MetricKey = (Method, Cow<'static, str>, u16);

thread_local! {
    /// Metric handles per label set, per worker thread (actix workers are single-threaded),
    /// so the hot path neither formats labels nor hashes them into the registry.
    static HANDLES: RefCell<HashMap<MetricKey, (Counter, Histogram)>> = RefCell::new(HashMap::new());
}

/// The path as logs show it: without the user id of an erasure (privacy: the logs carry
/// no user ids, and an erased user's id must not stay behind in them).
fn logged_path(path: &str) -> &str {
    if path.starts_with("/api/v1/users/") {
        "/api/v1/users/{user_id}"
    } else {
        path
    }
}

fn record(method: Method, route: Cow<'static, str>, status: u16, elapsed: f64) {
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        let key = (method, route, status);
        let (counter, histogram) =
            handles
                .entry(key)
                .or_insert_with_key(|(method, route, status)| {
                    let labels = [
                        ("method", method.to_string()),
                        ("route", route.to_string()),
                        ("status", status.to_string()),
                    ];
                    (
                        metrics::counter!(HTTP_REQUESTS, &labels),
                        metrics::histogram!(HTTP_DURATION, &labels),
                    )
                });
        counter.increment(1);
        histogram.record(elapsed);
    });
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let known_route = static_route(req.path());
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %logged_path(req.path()));
    // (The request must not be cloned here: routing needs it unshared.)
    let result = next.call(req).instrument(span.clone()).await;
    let (status, route): (_, Cow<'static, str>) = match &result {
        Ok(response) => (
            response.status(),
            match known_route {
                Some(route) => Cow::Borrowed(route),
                None => response
                    .request()
                    .match_pattern()
                    .map_or(Cow::Borrowed("unmatched"), Cow::Owned),
            },
        ),
        // An error that escaped every handler; actix answers it after us.
        Err(e) => (
            e.as_response_error().status_code(),
            Cow::Borrowed("unmatched"),
        ),
    };
    let elapsed = started.elapsed();
    record(method, route, status.as_u16(), elapsed.as_secs_f64());
    span.in_scope(|| {
        let micros = elapsed.as_micros() as u64;
        if status.is_server_error() {
            tracing::warn!(target: "posterior::access", status = status.as_u16(), micros, "request failed");
        } else {
            tracing::debug!(target: "posterior::access", status = status.as_u16(), micros, "request");
        }
    });
    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_no_user_ids() {
        assert_eq!(logged_path("/api/v1/users/u-42"), "/api/v1/users/{user_id}");
        assert_eq!(logged_path("/api/v1/assign"), "/api/v1/assign");
    }

    #[test]
    fn request_ids() {
        assert!(sane_request_id("abc-123_x.y:z"));
        assert!(sane_request_id(&"a".repeat(128)));
        assert!(!sane_request_id(&"a".repeat(129)));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("a b"));
        assert!(!sane_request_id("a\nb"));
        assert!(!sane_request_id("é"));
        assert_eq!(new_request_id().len(), 32);
    }
}
