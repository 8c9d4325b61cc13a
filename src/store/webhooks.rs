//! Webhooks and their deliveries. A delivery queued is a row: `queue_deliveries` adds one per
//! subscribed webhook inside the caller's transaction, `claim_due` leases the due ones to one
//! instance (`FOR UPDATE SKIP LOCKED`), `record_attempt` writes what an attempt gave.

use super::StoreError;
use super::schema::{webhook_attempts, webhook_deliveries, webhooks};
use crate::domain::{
    DeliveryAttempt, DeliveryState, Webhook, WebhookDelivery, WebhookEvent, WebhookSpec,
};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Jsonb, Text, Timestamptz};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
struct WebhookRow {
    id: i64,
    url: String,
    events: Vec<String>,
    created_at: DateTime<Utc>,
}

fn to_webhook(row: WebhookRow) -> Webhook {
    Webhook {
        id: row.id,
        url: row.url,
        // An event name this version does not know (written by a newer one) is left out.
        events: row
            .events
            .iter()
            .filter_map(|e| WebhookEvent::parse(e))
            .collect(),
        created_at: row.created_at,
    }
}

pub fn insert_webhook(
    conn: &mut PgConnection,
    spec: &WebhookSpec,
    secret: &str,
) -> Result<Webhook, StoreError> {
    let events: Vec<&str> = spec.events.iter().map(|e| e.as_str()).collect();
    let row = diesel::insert_into(webhooks::table)
        .values((
            webhooks::url.eq(&spec.url),
            webhooks::events.eq(events),
            webhooks::secret.eq(secret),
        ))
        .returning(WebhookRow::as_returning())
        .get_result(conn)?;
    Ok(to_webhook(row))
}

/// Every webhook not deleted, oldest first.
pub fn list_webhooks(conn: &mut PgConnection) -> Result<Vec<Webhook>, StoreError> {
    Ok(webhooks::table
        .filter(webhooks::deleted_at.is_null())
        .order(webhooks::id.asc())
        .select(WebhookRow::as_select())
        .load(conn)?
        .into_iter()
        .map(to_webhook)
        .collect())
}

/// A webhook not deleted; `NotFound` otherwise.
pub fn get_webhook(conn: &mut PgConnection, id: i64) -> Result<Webhook, StoreError> {
    Ok(to_webhook(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::deleted_at.is_null())
            .select(WebhookRow::as_select())
            .first(conn)?,
    ))
}

/// Deletes a webhook: its row stays (its deliveries remain readable) with the secret wiped,
/// and its pending deliveries are given up. `NotFound` when there is none (or it is deleted).
pub fn delete_webhook(conn: &mut PgConnection, id: i64) -> Result<(), StoreError> {
    let deleted = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::deleted_at.is_null()),
    )
    .set((
        webhooks::deleted_at.eq(diesel::dsl::now),
        webhooks::secret.eq(""),
    ))
    .execute(conn)?;
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(id))
            .filter(webhook_deliveries::next_attempt_at.is_not_null()),
    )
    .set((
        webhook_deliveries::next_attempt_at.eq(None::<DateTime<Utc>>),
        webhook_deliveries::given_up_at.eq(diesel::dsl::now),
        webhook_deliveries::last_error.eq("webhook deleted"),
    ))
    .execute(conn)?;
    Ok(())
}

/// Queues one delivery of `event` for every webhook subscribed to it; returns how many. Runs
/// on the caller's connection, so inside its transaction: the delivery is queued if and only
/// if the change that causes it commits.
pub fn queue_deliveries(
    conn: &mut PgConnection,
    event: WebhookEvent,
    payload: &Value,
) -> Result<usize, StoreError> {
    Ok(diesel::sql_query(
        "INSERT INTO webhook_deliveries (webhook_id, event, payload) \
         SELECT id, $1, $2 FROM webhooks WHERE deleted_at IS NULL AND $1 = ANY (events)",
    )
    .bind::<Text, _>(event.as_str())
    .bind::<Jsonb, _>(payload)
    .execute(conn)?)
}

/// A delivery claimed for an attempt, with what posting it needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct DueDelivery {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Text)]
    pub event: String,
    #[diesel(sql_type = Jsonb)]
    pub payload: Value,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries for this instance: each is leased (its next attempt
/// moved `lease` ahead) in the statement that locks it, skipping rows another instance is
/// claiming. A claim this instance never records (it stopped mid-post) comes due again when
/// the lease ends.
pub fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<DueDelivery>, StoreError> {
    Ok(diesel::sql_query(
        "WITH due AS ( \
             SELECT id FROM webhook_deliveries \
             WHERE next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE webhook_deliveries d \
         SET next_attempt_at = now() + make_interval(secs => $2) \
         FROM due, webhooks w \
         WHERE d.id = due.id AND w.id = d.webhook_id \
         RETURNING d.id, w.url, w.secret, d.event, d.payload, d.created_at, d.attempts",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn)?)
}

/// What an attempt gave.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// Records an attempt of delivery `id` and what follows it, in one transaction.
pub fn record_attempt(
    conn: &mut PgConnection,
    id: i64,
    outcome: &AttemptOutcome,
    after: AfterAttempt,
) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::delivery_id.eq(id),
                webhook_attempts::status.eq(outcome.status),
                webhook_attempts::error.eq(&outcome.error),
                webhook_attempts::duration_ms.eq(outcome.duration_ms),
            ))
            .execute(conn)?;
        let target = webhook_deliveries::table.filter(webhook_deliveries::id.eq(id));
        let common = (
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_status.eq(outcome.status),
            webhook_deliveries::last_error.eq(&outcome.error),
        );
        let none = None::<DateTime<Utc>>;
        match after {
            AfterAttempt::Delivered => diesel::update(target)
                .set((
                    common,
                    webhook_deliveries::delivered_at.eq(diesel::dsl::now),
                    webhook_deliveries::next_attempt_at.eq(none),
                ))
                .execute(conn)?,
            // A delivery given up meanwhile (its webhook deleted) stays given up.
            AfterAttempt::RetryAt(at) => {
                diesel::update(target.filter(webhook_deliveries::given_up_at.is_null()))
                    .set((common, webhook_deliveries::next_attempt_at.eq(at)))
                    .execute(conn)?
            }
            AfterAttempt::GiveUp => diesel::update(target)
                .set((
                    common,
                    webhook_deliveries::given_up_at.eq(diesel::dsl::now),
                    webhook_deliveries::next_attempt_at.eq(none),
                ))
                .execute(conn)?,
        };
        Ok(())
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event: String,
    payload: Value,
    created_at: DateTime<Utc>,
    next_attempt_at: Option<DateTime<Utc>>,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    given_up_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
struct AttemptRow {
    delivery_id: i64,
    at: DateTime<Utc>,
    status: Option<i32>,
    error: Option<String>,
    duration_ms: i32,
}

/// The newest `limit` deliveries of a webhook (deleted or not), newest first, each with its
/// attempts.
pub fn deliveries(
    conn: &mut PgConnection,
    webhook_id: i64,
    limit: i64,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let rows: Vec<DeliveryRow> = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(&ids))
        .order(webhook_attempts::id.asc())
        .select(AttemptRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = if r.delivered_at.is_some() {
                DeliveryState::Delivered
            } else if r.given_up_at.is_some() {
                DeliveryState::GivenUp
            } else {
                DeliveryState::Pending
            };
            WebhookDelivery {
                attempt_log: attempts
                    .iter()
                    .filter(|a| a.delivery_id == r.id)
                    .map(|a| DeliveryAttempt {
                        at: a.at,
                        status: a.status,
                        error: a.error.clone(),
                        duration_ms: a.duration_ms,
                    })
                    .collect(),
                id: r.id,
                webhook_id: r.webhook_id,
                event: r.event,
                payload: r.payload,
                state,
                created_at: r.created_at,
                next_attempt_at: r.next_attempt_at,
                attempts: r.attempts,
                last_status: r.last_status,
                last_error: r.last_error,
                delivered_at: r.delivered_at,
                given_up_at: r.given_up_at,
            }
        })
        .collect())
}

/// Whether a webhook exists, deleted or not (its deliveries stay readable).
pub fn webhook_exists(conn: &mut PgConnection, id: i64) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        webhooks::table.filter(webhooks::id.eq(id)),
    ))
    .get_result(conn)?)
}

/// Deletes deliveries finished (delivered or given up) before `before`, with their attempts,
/// `batch` rows a statement.
pub fn purge_finished(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let deleted = diesel::sql_query(
            "DELETE FROM webhook_deliveries WHERE id = ANY(ARRAY( \
               SELECT id FROM webhook_deliveries \
               WHERE next_attempt_at IS NULL AND coalesce(delivered_at, given_up_at) < $1 \
               LIMIT $2))",
        )
        .bind::<Timestamptz, _>(before)
        .bind::<BigInt, _>(batch)
        .execute(conn)?;
        total += deleted as u64;
        if (deleted as i64) < batch {
            return Ok(total);
        }
    }
}
