//! Event intake: events are stored once per (user, event id) and attributed to the
//! experiments whose goal they match, in the writer's group commit, before the answer.
//! "Once" as `store::batch::insert_events` tells a retry: the same UTC day of the event's
//! time, or within a day for events the server stamps (a retry gets a later stamp).

use super::{Engine, EngineError, TrackReceipt, hashing};
use crate::domain::{EventName, UserId};
use crate::store::batch;
use chrono::{DateTime, Utc};

/// An event as the API parsed it.
pub struct IncomingEvent {
    pub event_id: Option<String>,
    pub user_id: UserId,
    pub name: EventName,
    pub value: Option<f64>,
    pub timestamp: Option<DateTime<Utc>>,
}

impl Engine {
    /// Stores events once per id and attributes them; answers after the commit.
    pub async fn track(&self, events: Vec<IncomingEvent>) -> Result<TrackReceipt, EngineError> {
        let now = Utc::now();
        let rows = events
            .into_iter()
            .map(|e| batch::NewEvent {
                // An id made up here has no retry to look for.
                stamped_by_server: e.timestamp.is_none() && e.event_id.is_some(),
                event_id: e.event_id.unwrap_or_else(generated_event_id),
                user_id: e.user_id.into_inner(),
                name: e.name.into_inner(),
                value: e.value,
                occurred_at: e.timestamp.unwrap_or(now),
            })
            .collect::<Vec<_>>();
        let users: Vec<u128> = if self.inner.settings.profiles {
            rows.iter().map(|e| hashing::user_key(&e.user_id)).collect()
        } else {
            Vec::new()
        };
        let receipt = self.inner.writer.track(rows).await?;
        // Stored: the next assignment reads these users' profiles afresh.
        self.inner.users.forget_profiles(users);
        Ok(receipt)
    }
}

fn generated_event_id() -> String {
    use rand::RngExt;
    format!("gen-{:032x}", rand::rng().random::<u128>())
}
