//! Profiles: what Posterior knows of each user from their events (`domain::profile`), written
//! by the writer with the events (`store/profiles.rs`), read here.

use super::{Engine, EngineError};
use crate::domain::UserId;
use crate::domain::profile::Profile;
use crate::store;

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
