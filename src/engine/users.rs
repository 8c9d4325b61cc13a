//! Erasing a user (privacy law): their assignments and events go, the aggregates stay
//! consistent, and the audit log records it in the same transaction.

use super::audit::{self, Actor, Change};
use super::{Engine, EngineError, hashing};
use crate::domain::UserId;
use crate::store::{self, Connection, Erased, StoreError};

/// The audit log's name of an erasure.
pub(super) const ERASE: &str = "user.erase";

impl Engine {
    /// Erases a user's assignments and events and forgets them in this instance's caches
    /// (other instances forget them at their next refresh, from the erasure log). Runs in
    /// the user's writer partition, after the user's writes queued before it.
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

/// Erasing a user, as an audited write (the writer runs it, see `ERASE`). The log names the
/// user by a hash, so the erased id does not live on there.
pub(super) fn erasing(
    conn: &mut Connection,
    user_id: &str,
    user_key: u128,
    shard: i16,
) -> Result<Change<Erased>, StoreError> {
    let erased = store::delete_user(conn, user_id, user_key, shard)?;
    Ok(Change {
        target: hashing::audit_user(user_id),
        before: None,
        after: Some(audit::json(&erased)),
        value: erased,
    })
}
