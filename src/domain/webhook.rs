//! Webhooks: a receiver's URL and the events it subscribes to (`WebhookDraft` → `validate` →
//! `WebhookSpec`), and what the API shows of webhooks and their deliveries.

use super::validation::{ValidationError, Violation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest receiver URL accepted, in bytes.
pub const MAX_WEBHOOK_URL: usize = 2048;
/// The most events one webhook subscribes to (there are five).
pub const MAX_WEBHOOK_EVENTS: usize = 5;

/// What a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum WebhookEvent {
    /// A guardrail fired (the sequential test shows harm).
    #[serde(rename = "guardrail.fired")]
    GuardrailFired,
    #[serde(rename = "experiment.started")]
    ExperimentStarted,
    #[serde(rename = "experiment.paused")]
    ExperimentPaused,
    #[serde(rename = "experiment.stopped")]
    ExperimentStopped,
    /// The experiment's verdict was reached.
    #[serde(rename = "experiment.decided")]
    ExperimentDecided,
}

impl WebhookEvent {
    pub const ALL: &'static [WebhookEvent] = &[
        WebhookEvent::GuardrailFired,
        WebhookEvent::ExperimentStarted,
        WebhookEvent::ExperimentPaused,
        WebhookEvent::ExperimentStopped,
        WebhookEvent::ExperimentDecided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::GuardrailFired => "guardrail.fired",
            WebhookEvent::ExperimentStarted => "experiment.started",
            WebhookEvent::ExperimentPaused => "experiment.paused",
            WebhookEvent::ExperimentStopped => "experiment.stopped",
            WebhookEvent::ExperimentDecided => "experiment.decided",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const EVENT_NAMES: &str = "one of guardrail.fired, experiment.started, experiment.paused, experiment.stopped, experiment.decided";

/// A webhook as submitted (`POST /api/v1/webhooks`). Events are strings here so that an
/// unknown one is refused naming its place (`events[1]`), like every other invalid field.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDraft {
    /// Where deliveries are posted: an http or https URL, at most 2048 bytes.
    #[schema(example = "https://hooks.example.com/posterior")]
    pub url: String,
    /// 1 to 5 distinct events.
    #[schema(example = json!(["experiment.started", "guardrail.fired"]))]
    pub events: Vec<String>,
}

/// A valid webhook definition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookSpec {
    pub url: String,
    pub events: Vec<WebhookEvent>,
}

impl WebhookDraft {
    pub fn validate(self) -> Result<WebhookSpec, ValidationError> {
        let url = check_url(&self.url)?;
        let found = self.events.len();
        if !(1..=MAX_WEBHOOK_EVENTS).contains(&found) {
            return Err(ValidationError::new(
                "events",
                Violation::Count {
                    what: "events",
                    min: 1,
                    max: MAX_WEBHOOK_EVENTS,
                    found,
                },
            ));
        }
        let mut events = Vec::with_capacity(found);
        for (i, name) in self.events.iter().enumerate() {
            let field = format!("events[{i}]");
            let event = WebhookEvent::parse(name).ok_or_else(|| {
                ValidationError::new(
                    field.clone(),
                    Violation::Format {
                        value: name.clone(),
                        expected: EVENT_NAMES,
                    },
                )
            })?;
            if events.contains(&event) {
                return Err(ValidationError::new(
                    field,
                    Violation::Duplicate {
                        what: "events",
                        value: name.clone(),
                    },
                ));
            }
            events.push(event);
        }
        Ok(WebhookSpec { url, events })
    }
}

fn check_url(raw: &str) -> Result<String, ValidationError> {
    if raw.len() > MAX_WEBHOOK_URL {
        return Err(ValidationError::new(
            "url",
            Violation::TooLong {
                what: "URLs",
                len: raw.len(),
                max_bytes: MAX_WEBHOOK_URL,
            },
        ));
    }
    let invalid = || {
        ValidationError::new(
            "url",
            Violation::Format {
                value: raw.to_string(),
                expected: "an absolute http or https URL with a host",
            },
        )
    };
    let parsed = url::Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    // Stored as given (what the admin typed is what the list shows), once known valid.
    Ok(raw.to_string())
}

/// A webhook as stored and listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_at: DateTime<Utc>,
}

/// The answer to a creation: the webhook and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Signs every delivery (`Posterior-Signature`); it cannot be read again.
    #[schema(example = "whsec_3f9a…")]
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// No 2xx within 24 hours (or the webhook was deleted).
    GivenUp,
}

/// One attempt to post a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; none when no answer came (refused, timed out).
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// A delivery of one event to one webhook, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    /// What the event carries (the delivery's body has it as `data`).
    #[schema(value_type = Object)]
    pub payload: Value,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due; none once delivered or given up.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub given_up_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(url: &str, events: &[&str]) -> WebhookDraft {
        WebhookDraft {
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn valid_webhooks_pass() {
        let spec = draft(
            "https://h.example/x",
            &["experiment.started", "guardrail.fired"],
        )
        .validate()
        .unwrap();
        assert_eq!(
            spec.events,
            [
                WebhookEvent::ExperimentStarted,
                WebhookEvent::GuardrailFired
            ]
        );
        assert!(
            draft("http://127.0.0.1:8080/", &["experiment.decided"])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn invalid_webhooks_name_the_field() {
        let field = |d: WebhookDraft| d.validate().unwrap_err().field;
        assert_eq!(
            field(draft("ftp://h.example/", &["experiment.started"])),
            "url"
        );
        assert_eq!(field(draft("not a url", &["experiment.started"])), "url");
        assert_eq!(
            field(draft("file:///etc/passwd", &["experiment.started"])),
            "url"
        );
        let long = format!("https://h.example/{}", "a".repeat(MAX_WEBHOOK_URL));
        assert_eq!(field(draft(&long, &["experiment.started"])), "url");
        assert_eq!(field(draft("https://h.example/", &[])), "events");
        assert_eq!(
            field(draft("https://h.example/", &["experiment.started", "nope"])),
            "events[1]"
        );
        assert_eq!(
            field(draft(
                "https://h.example/",
                &["experiment.started", "experiment.started"]
            )),
            "events[1]"
        );
        let six = ["experiment.started"; 6];
        assert_eq!(field(draft("https://h.example/", &six)), "events");
    }

    #[test]
    fn event_names_round_trip() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(*e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }
}
