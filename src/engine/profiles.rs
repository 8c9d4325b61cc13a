//! Profiles: what Posterior knows of each user from their events (`domain::profile`), written
//! by the writer with the events (`store/profiles.rs`), read here.

use super::{Engine, EngineError, hashing};
use crate::domain::UserId;
use crate::domain::profile::Profile;
use crate::store;
use std::sync::Arc;

impl Engine {
    /// A user's profile; `None` for a user with no recorded event (never seen, erased, or
    /// without consent).
    pub async fn profile(&self, user: &UserId) -> Result<Option<Profile>, EngineError> {
        let user = user.as_str().to_string();
        Ok(self
            .store()
            .run(move |conn| store::profiles::user_profile(conn, &user))
            .await?)
    }
}

impl Engine {
    /// The profile behavioral targeting reads: from memory, or read with the other reads
    /// waiting. `None` for a user with no recorded event, and always when profiles are off.
    pub(super) async fn targeting_profile(
        &self,
        user_id: &str,
        user_key: u128,
    ) -> Result<Option<Arc<Profile>>, EngineError> {
        if !self.inner.settings.profiles {
            return Ok(None);
        }
        Ok(self.inner.profiles.get(user_id, user_key).await?)
    }

    /// Forgets the kept profiles of users whose events this instance just stored.
    pub(super) fn profiles_changed<'a>(&self, users: impl IntoIterator<Item = &'a str>) {
        self.inner
            .profiles
            .forget(users.into_iter().map(hashing::user_key));
    }

    /// Forgets the kept profiles of users whose events any instance stored since the last
    /// look, so a change made elsewhere shows here within the watch interval. Looks only
    /// while a live experiment reads profiles. Returns the users seen.
    pub async fn watch_profiles(&self) -> Result<usize, EngineError> {
        let reads_profiles = self.inner.settings.profiles
            && self
                .snapshot()
                .experiments
                .iter()
                .any(|e| e.reads_profiles());
        if !reads_profiles {
            // Start afresh when something reads them again.
            *self.inner.profiles_watched.lock().expect("not poisoned") = None;
            return Ok(0);
        }
        let since = *self.inner.profiles_watched.lock().expect("not poisoned");
        let (users, now) = self
            .store()
            .run(move |conn| store::profiles::users_with_events_since(conn, since))
            .await?;
        self.profiles_changed(users.iter().map(String::as_str));
        *self.inner.profiles_watched.lock().expect("not poisoned") = Some(now);
        let (kept, bytes) = self.inner.profiles.usage();
        metrics::gauge!("posterior_profiles_in_memory").set(kept as f64);
        metrics::gauge!("posterior_profile_memory_bytes").set(bytes as f64);
        Ok(users.len())
    }
}

/// Recent events shown on the dashboard's user page.
const RECENT_EVENTS: i64 = 20;

/// Everything the dashboard shows of one user.
#[derive(Debug, Clone)]
pub struct UserLookup {
    pub profile: Option<Profile>,
    pub assignments: Vec<store::user_lookup::UserAssignment>,
    /// The latest first.
    pub recent_events: Vec<store::user_lookup::StoredEvent>,
    pub held_out_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Engine {
    /// A user's profile, assignments, latest events and holdout membership, read in one go.
    pub async fn look_up_user(&self, user: &UserId) -> Result<UserLookup, EngineError> {
        let user = user.as_str().to_string();
        Ok(self
            .store()
            .run(move |conn| {
                Ok(UserLookup {
                    profile: store::profiles::user_profile(conn, &user)?,
                    assignments: store::user_lookup::user_assignments(conn, &user)?,
                    recent_events: store::user_lookup::recent_events(conn, &user, RECENT_EVENTS)?,
                    held_out_at: store::user_lookup::held_out_at(conn, &user)?,
                })
            })
            .await?)
    }
}
