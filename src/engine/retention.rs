//! Retention: raw events older than the configured retention are deleted (the statistics
//! stay as they are), and so are old rows of the erasure log and finished webhook deliveries.

use super::{Engine, EngineError};
use crate::store;
use chrono::Utc;

/// The erasure log is kept this long (every live instance has read it within a refresh).
const ERASURE_LOG_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Finished (delivered or given up) webhook deliveries are kept this long, for their history.
const FINISHED_DELIVERIES_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Raw events deleted per statement by the retention task.
const PURGE_BATCH: i64 = 10_000;

/// What one run of the retention task deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    pub erasures: u64,
    pub webhook_deliveries: u64,
}

impl Engine {
    /// One run of the retention task: deletes raw events that arrived longer ago than the
    /// retention (when one is set), in batches, leaving the statistics as they are; the
    /// erasure log's old rows; webhook deliveries finished over 30 days ago (with their
    /// attempts).
    pub async fn purge_expired(&self) -> Result<Purged, EngineError> {
        let retention = self.inner.settings.event_retention;
        Ok(self
            .store()
            .run(move |conn| {
                let now = Utc::now();
                let events = match retention {
                    Some(r) => store::purge_events(conn, now - r, PURGE_BATCH)?,
                    None => 0,
                };
                let erasures = store::purge_erasures(conn, now - ERASURE_LOG_KEPT)?;
                let webhook_deliveries = store::webhooks::purge_finished(
                    conn,
                    now - FINISHED_DELIVERIES_KEPT,
                    PURGE_BATCH,
                )?;
                Ok(Purged {
                    events,
                    erasures,
                    webhook_deliveries,
                })
            })
            .await?)
    }
}
