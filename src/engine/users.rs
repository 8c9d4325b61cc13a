//! Erasing a user (privacy law): their assignments and events go, the aggregates stay
//! consistent, and the audit log records it in the same transaction.

use super::audit::Actor;
use super::{Engine, EngineError, hashing};
use crate::domain::{Erased, UserId};

impl Engine {
    /// Erases a user's assignments and events and forgets them in this instance's caches
    /// (other instances forget them at their next refresh, from the erasure log). Runs in
    /// the user's writer partition, after the user's writes queued before it, and is
    /// recorded in the audit log in the same transaction.
    pub async fn erase_user(&self, actor: &Actor, user: &UserId) -> Result<Erased, EngineError> {
        let key = hashing::user_key(user.as_str());
        let erased = self
            .inner
            .writer
            .erase(user.as_str(), key, actor.clone())
            .await?;
        self.forget_user(key);
        Ok(erased)
    }
}
