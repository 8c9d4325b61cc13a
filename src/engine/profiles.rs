//! Profiles: what Posterior knows of each user from their events (`domain::profile`), written
//! by the writer with the events (`store/profiles.rs`), read here.

use super::{Engine, EngineError, user_cache};
use crate::domain::UserId;
use crate::domain::profile::Profile;
use crate::store;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
        Ok(self.inner.users.profile(user_id, user_key).await?)
    }

    /// Forgets the kept profiles of users whose profiles another instance changed: its
    /// writers announce them at commit (while a live experiment reads profiles, every
    /// instance's writers do), and this hears them on a listening connection. When nothing
    /// reads profiles the connection is closed and what is kept is dropped, so nothing stale
    /// is read when something does again; so is it when the connection fails. Returns the
    /// users forgotten.
    pub async fn watch_profiles(&self) -> Result<usize, EngineError> {
        let reads_profiles = self.inner.settings.profiles
            && self
                .snapshot()
                .experiments
                .iter()
                .any(|e| e.reads_profiles());
        let was = self
            .inner
            .announcer
            .enabled
            .swap(reads_profiles, Ordering::Relaxed);
        if reads_profiles != was {
            self.inner.users.clear_profiles();
        }
        if !reads_profiles {
            *self.inner.profile_listener.lock().expect("not poisoned") = None;
            return Ok(0);
        }
        let engine = self.clone();
        let forgotten = tokio::task::spawn_blocking(move || engine.hear_changes())
            .await
            .map_err(|e| EngineError::Internal(format!("the profile listener failed: {e}")))??;
        Ok(forgotten)
    }

    /// Profiles kept in memory and the bytes they weigh (within the cache's budget). Walks
    /// the cache: for tests, not for a loop.
    pub fn profiles_in_memory(&self) -> (usize, u64) {
        self.inner.users.profiles_kept()
    }

    /// What the user cache holds (enrollments and profiles) and weighs.
    pub fn user_cache_usage(&self) -> user_cache::CacheUsage {
        self.inner.users.usage()
    }

    /// Reads the announcements that arrived (blocking) and forgets their users.
    fn hear_changes(&self) -> Result<usize, EngineError> {
        let mut listener = self.inner.profile_listener.lock().expect("not poisoned");
        if listener.is_none() {
            *listener = Some(store::profiles::listen_for_changes(
                &self.inner.settings.database_url,
            )?);
            // Announcements made while nobody listened are lost: start afresh.
            self.inner.users.clear_profiles();
        }
        let conn = listener.as_mut().expect("just connected");
        let changes = match store::profiles::take_changes(conn) {
            Ok(changes) => changes,
            Err(e) => {
                *listener = None;
                self.inner.users.clear_profiles();
                return Err(e.into());
            }
        };
        let mut forgotten = 0;
        for (instance, keys) in changes {
            // This instance forgot its own users when their events were acknowledged.
            if *instance != *self.inner.announcer.instance {
                forgotten += keys.len();
                self.inner.users.forget_profiles(keys);
            }
        }
        Ok(forgotten)
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
