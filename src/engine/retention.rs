//! Retention: raw events older than the configured retention are removed (the statistics
//! stay as they are), and so are old rows of the erasure log and finished webhook deliveries.
//! Events are kept in daily partitions (`store::partitions`), created ahead at start-up and
//! by an hourly tick of their own (`engine/background.rs`), and dropped whole here.

use super::{Engine, EngineError};
use crate::store;
use crate::store::partitions::CreatedPartitions;
use chrono::Utc;

/// The erasure log is kept this long (every live instance has read it within a refresh).
const ERASURE_LOG_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Finished (delivered or given up) webhook deliveries are kept this long, for their history.
const FINISHED_DELIVERIES_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Raw events deleted per statement by the retention task (in the default partition).
const PURGE_BATCH: i64 = 10_000;

/// Daily event partitions exist this many days ahead of today (UTC): created at start-up and
/// every hour, so a day's partition is there long before its first event.
pub const EVENT_PARTITIONS_AHEAD: u32 = 7;

/// What one run of the retention task deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Raw events removed: the rows of the dropped daily partitions and those deleted from
    /// the default partition.
    pub events: u64,
    /// Daily partitions of events dropped whole.
    pub event_partitions: u64,
    pub erasures: u64,
    pub webhook_deliveries: u64,
}

/// Creates the missing event partitions of today and the `EVENT_PARTITIONS_AHEAD` days after
/// it, logging what it could not create. For start-up (before the engine runs) and the tick.
pub fn create_event_partitions(
    conn: &mut store::Connection,
) -> Result<CreatedPartitions, store::StoreError> {
    let today = Utc::now().date_naive();
    let done = store::partitions::create_partitions_ahead(conn, today, EVENT_PARTITIONS_AHEAD)?;
    if !done.created.is_empty() {
        tracing::info!(days = ?done.created, "created event partitions");
    }
    if !done.skipped.is_empty() {
        tracing::warn!(days = ?done.skipped,
            "not creating these days' event partitions: the default partition holds events of them (they stay there)");
    }
    if done.busy {
        tracing::info!(
            "creating event partitions waited too long for the events table; will retry"
        );
    }
    Ok(done)
}

impl Engine {
    /// Creates the event partitions ahead (see `create_event_partitions`).
    pub async fn create_event_partitions(&self) -> Result<CreatedPartitions, EngineError> {
        Ok(self.store().run(create_event_partitions).await?)
    }

    /// One run of the retention task: when a retention is set, removes raw events that
    /// happened (`occurred_at`) longer ago than it, leaving the statistics as they are:
    /// whole days by dropping their partitions (a day goes once all of it is older than the
    /// retention, so events stay up to a day longer), and the default partition's old rows
    /// in batches. Then the erasure log's old rows, and webhook deliveries finished over 30
    /// days ago (with their attempts).
    pub async fn purge_expired(&self) -> Result<Purged, EngineError> {
        let retention = self.inner.settings.event_retention;
        Ok(self
            .store()
            .run(move |conn| {
                let now = Utc::now();
                let events = match retention {
                    Some(r) => {
                        let purged =
                            store::partitions::purge_events(conn, now - r, PURGE_BATCH)?;
                        if purged.busy {
                            tracing::info!("dropping an expired event partition waited too long for the events table; will retry");
                        }
                        purged
                    }
                    None => Default::default(),
                };
                let erasures = store::purge_erasures(conn, now - ERASURE_LOG_KEPT)?;
                let webhook_deliveries = store::webhooks::purge_finished(
                    conn,
                    now - FINISHED_DELIVERIES_KEPT,
                    PURGE_BATCH,
                )?;
                Ok(Purged {
                    events: events.rows,
                    event_partitions: events.partitions,
                    erasures,
                    webhook_deliveries,
                })
            })
            .await?)
    }
}
