//! Webhooks: CRUD (audited; the secret never enters the log), queuing deliveries in the
//! transaction of the change that causes them (`queue`), and the delivery loop's step
//! (`deliver_due`): claim the due deliveries, post them signed, record each attempt.
//!
//! A delivery is a row, so a queued one survives a restart; claiming leases it to one
//! instance (`FOR UPDATE SKIP LOCKED`), so two instances never post it at the same time. An
//! instance that dies mid-post leaves it leased: it comes due again when the lease ends, and
//! the receiver may then see it twice (at least once; `Posterior-Delivery` tells them apart).

use super::audit::{self, Actor, Change};
use super::error::OrMissing;
use super::settings::WebhookSettings;
use super::{Engine, EngineError};
use crate::domain::{CreatedWebhook, Webhook, WebhookDelivery, WebhookDraft, WebhookEvent};
use crate::store::webhooks::{AfterAttempt, AttemptOutcome, DueDelivery};
use crate::store::{self, Connection, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use rand::RngExt;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

/// The header with the signature: `sha256=<hex of HMAC-SHA256("{timestamp}.{body}")>`.
pub const SIGNATURE_HEADER: &str = "Posterior-Signature";
/// The header with the time of signing, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "Posterior-Timestamp";
/// The delivery's id: the same on every attempt, for receivers to drop repeats.
pub const DELIVERY_HEADER: &str = "Posterior-Delivery";
/// The event's name.
pub const EVENT_HEADER: &str = "Posterior-Event";

/// Queues `event` for every webhook subscribed to it, on `conn`: call it inside the
/// transaction of the change that causes the event, so that the deliveries exist if and only
/// if the change committed.
pub fn queue(
    conn: &mut Connection,
    event: WebhookEvent,
    payload: &Value,
) -> Result<usize, StoreError> {
    store::queue_deliveries(conn, event, payload)
}

/// `sha256=<hex>`: the signature of a delivery's body at `timestamp` with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A new signing secret: 32 random bytes, in hex, after `whsec_`.
fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// How long a claim keeps a delivery from other instances: longer than any attempt.
fn lease(settings: &WebhookSettings) -> Duration {
    settings.timeout + Duration::from_secs(5)
}

/// When to try again after the `attempts`-th failed attempt of a delivery queued at
/// `created`: `base × 2^(attempts-1)`, at most `max_delay`, ±20 % (so that receivers coming
/// back up are not hit by every delivery at once), never past the give-up time; `None`:
/// give up.
pub fn next_attempt(
    settings: &WebhookSettings,
    created: DateTime<Utc>,
    attempts: i32,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let deadline = created + TimeDelta::from_std(settings.give_up_after).ok()?;
    if now >= deadline {
        return None;
    }
    let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let delay = settings
        .base_delay
        .saturating_mul(1u32 << exponent)
        .min(settings.max_delay);
    let jittered = delay.mul_f64(rand::rng().random_range(0.8..1.2));
    let at = now + TimeDelta::from_std(jittered).ok()?;
    Some(at.min(deadline))
}

/// What the receiver gets: the delivery's id, the event, when it was queued, and its data.
fn body(delivery: &DueDelivery) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": delivery.id,
        "event": delivery.event,
        "created_at": delivery.created_at,
        "data": delivery.payload,
    }))
    .unwrap_or_default()
}

/// The client that posts deliveries: the attempt's timeout, no redirects (a redirect is not
/// an acknowledgement), no proxy from the environment.
pub fn client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("posterior-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook client builds")
}

/// Posts one delivery once.
async fn attempt(http: &reqwest::Client, delivery: &DueDelivery) -> AttemptOutcome {
    let body = body(delivery);
    let timestamp = Utc::now().timestamp();
    let started = Instant::now();
    let sent = http
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(
            SIGNATURE_HEADER,
            signature(&delivery.secret, timestamp, &body),
        )
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .header(EVENT_HEADER, delivery.event.as_str())
        .body(body)
        .send()
        .await;
    let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    match sent {
        Ok(answer) => {
            let status = answer.status();
            AttemptOutcome {
                status: Some(i32::from(status.as_u16())),
                error: (!status.is_success()).then(|| format!("answered {status}")),
                duration_ms,
            }
        }
        Err(e) => {
            let mut error = if e.is_timeout() {
                format!("no answer within {:?}", started.elapsed())
            } else {
                // The chain of causes says why (refused, DNS, TLS), not just "error sending".
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    text.push_str(": ");
                    text.push_str(&cause.to_string());
                    source = cause.source();
                }
                text
            };
            error.truncate(error.floor_char_boundary(500));
            AttemptOutcome {
                status: None,
                error: Some(error),
                duration_ms,
            }
        }
    }
}

impl Engine {
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        draft: WebhookDraft,
    ) -> Result<CreatedWebhook, EngineError> {
        let spec = draft.validate()?;
        let secret = new_secret();
        self.write_audited(actor, "webhook.create", move |conn| {
            let created = store::insert_webhook(conn, &spec, &secret)?;
            // The log records the webhook, never its secret.
            Ok(Change {
                target: created.id.to_string(),
                before: None,
                after: Some(audit::json(&created)),
                value: CreatedWebhook {
                    webhook: created,
                    secret,
                },
            })
        })
        .await
    }

    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, EngineError> {
        Ok(self.store().run(store::list_webhooks).await?)
    }

    /// Deletes a webhook; its pending deliveries are given up, its past ones stay readable.
    pub async fn delete_webhook(&self, actor: &Actor, id: i64) -> Result<(), EngineError> {
        self.write_audited(actor, "webhook.delete", move |conn| {
            let before =
                store::get_webhook(conn, id).or_missing(|| EngineError::UnknownWebhook(id))?;
            store::delete_webhook(conn, id).or_missing(|| EngineError::UnknownWebhook(id))?;
            Ok(Change {
                target: id.to_string(),
                before: Some(audit::json(&before)),
                after: None,
                value: (),
            })
        })
        .await
    }

    /// A webhook's newest `limit` deliveries, newest first, with their attempts (a deleted
    /// webhook's too).
    pub async fn webhook_deliveries(
        &self,
        id: i64,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, EngineError> {
        self.store()
            .run(move |conn| {
                if !store::webhooks::webhook_exists(conn, id)? {
                    return Err(StoreError::NotFound);
                }
                store::webhooks::deliveries(conn, id, limit)
            })
            .await
            .or_missing(|| EngineError::UnknownWebhook(id))
    }

    /// Queues `event` for its subscribers in a transaction of its own (for a cause that has
    /// none; inside one, call `queue`). Returns how many deliveries were queued.
    pub async fn emit(&self, event: WebhookEvent, payload: Value) -> Result<usize, EngineError> {
        Ok(self
            .store()
            .run(move |conn| queue(conn, event, &payload))
            .await?)
    }

    /// One step of the delivery loop: claims the due deliveries, posts them concurrently and
    /// records every attempt. Returns how many were attempted.
    pub(super) async fn deliver_due(&self, http: &reqwest::Client) -> Result<usize, EngineError> {
        let settings = self.inner.settings.webhooks;
        let due = self
            .store()
            .run(move |conn| store::webhooks::claim_due(conn, settings.batch, lease(&settings)))
            .await?;
        let n = due.len();
        let attempts = due.into_iter().map(|delivery| async move {
            let outcome = attempt(http, &delivery).await;
            let after = if outcome.error.is_none() {
                AfterAttempt::Delivered
            } else {
                match next_attempt(
                    &settings,
                    delivery.created_at,
                    delivery.attempts + 1,
                    Utc::now(),
                ) {
                    Some(at) => AfterAttempt::RetryAt(at),
                    None => {
                        tracing::warn!(delivery = delivery.id, event = %delivery.event,
                            error = ?outcome.error, "webhook delivery given up");
                        AfterAttempt::GiveUp
                    }
                }
            };
            let id = delivery.id;
            let recorded = self
                .store()
                .run(move |conn| store::webhooks::record_attempt(conn, id, &outcome, after))
                .await;
            if let Err(e) = recorded {
                // The lease brings it back: the receiver may see it again (at least once).
                tracing::warn!(delivery = id, error = %e, "recording a webhook attempt failed");
            }
        });
        futures_util::future::join_all(attempts).await;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python's hmac.new(b"key", b"1700000000.{}", sha256).
        let s = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(s, signature("key", 1_700_000_001, b"{}"));
        assert_ne!(s, signature("kez", 1_700_000_000, b"{}"));
    }

    #[test]
    fn retries_back_off_exponentially_and_stop_after_a_day() {
        let settings = WebhookSettings::DEFAULT;
        let created = Utc::now();
        let wait = |attempts, now: DateTime<Utc>| {
            next_attempt(&settings, created, attempts, now).map(|at| (at - now).num_milliseconds())
        };
        let first = wait(1, created).unwrap();
        assert!((8_000..=12_000).contains(&first), "{first}");
        let fourth = wait(4, created).unwrap();
        assert!((64_000..=96_000).contains(&fourth), "{fourth}");
        let late = wait(30, created).unwrap();
        assert!((2_880_000..=4_320_000).contains(&late), "{late}");
        // Never past the deadline, and none after it.
        let near_end = created + TimeDelta::hours(24) - TimeDelta::seconds(5);
        assert_eq!(wait(10, near_end), Some(5_000));
        assert_eq!(wait(10, created + TimeDelta::hours(24)), None);
    }
}
