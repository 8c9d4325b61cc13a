//! `POST /api/v1/track`: conversions and other events, acknowledged once durable.

use super::auth::Client;
use super::json::Json;
use super::{ApiError, ApiResult};
use crate::domain::{EventName, UserId};
use crate::engine::{Engine, IncomingEvent};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

const MAX_EVENT_ID: usize = 128;
/// Client clocks drift; an event further in the future than this is a bug, not drift.
const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::hours(24);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    #[serde(default)]
    pub event_id: Option<String>,
    pub user_id: UserId,
    pub name: EventName,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    pub events: Vec<EventIn>,
}

pub fn parse_events(
    events: Vec<EventIn>,
    limits: &crate::engine::Limits,
) -> Result<Vec<IncomingEvent>, ApiError> {
    let max_events = limits.max_events_per_request;
    if events.is_empty() {
        return Err(ApiError::Invalid("send at least one event".into()));
    }
    if events.len() > max_events {
        return Err(ApiError::Invalid(format!(
            "{} events in one request; the limit is {max_events}",
            events.len()
        )));
    }
    let latest = Utc::now() + MAX_CLOCK_SKEW;
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            if let Some(id) = &e.event_id
                && (id.is_empty() || id.len() > MAX_EVENT_ID || id.chars().any(char::is_control)) {
                    return Err(ApiError::Invalid(format!(
                        "events[{i}].event_id must be 1 to {MAX_EVENT_ID} bytes without control characters"
                    )));
                }
            limits.check_user_id(&format!("events[{i}].user_id"), e.user_id.as_str())?;
            if let Some(t) = e.timestamp
                && t > latest {
                    return Err(ApiError::Invalid(format!("events[{i}].timestamp {t} is in the future")));
                }
            Ok(IncomingEvent { event_id: e.event_id, user_id: e.user_id, name: e.name, value: e.value, timestamp: e.timestamp })
        })
        .collect()
}

/// Events (conversions, revenue), acknowledged once durable; a repeated `event_id` counts once.
#[utoipa::path(post, path = "/api/v1/track", tag = "apps",
    request_body = TrackRequest,
    responses(
        (status = 202, description = "Stored", body = crate::engine::TrackReceipt),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::ClientFailures
    ),
    security(("bearer" = ["client"]), ("api_key" = ["client"]))
)]
pub async fn track(_: Client, engine: web::Data<Engine>, body: Json<TrackRequest>) -> ApiResult {
    let events = parse_events(body.into_inner().events, engine.limits())?;
    let outcome = engine.track(events).await?;
    metrics::counter!(crate::telemetry::EVENTS, "outcome" => "accepted")
        .increment(outcome.accepted as u64);
    metrics::counter!(crate::telemetry::EVENTS, "outcome" => "duplicate")
        .increment(outcome.duplicates as u64);
    if outcome.ignored > 0 {
        metrics::counter!(crate::telemetry::EVENTS, "outcome" => "ignored")
            .increment(outcome.ignored as u64);
    }
    Ok(HttpResponse::Accepted().json(outcome))
}
