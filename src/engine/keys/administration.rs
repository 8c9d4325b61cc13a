//! Key administration: creating and revoking keys (each an audited write), reloading the
//! stored keys into the ring, and naming a key's holder in the audit log.

use super::{KeyId, generate_key, hash_key};
use crate::domain::{
    ApiKey, Scope, ValidationError, Violation, validate_key_name, validate_rate_limit,
};
use crate::engine::audit::{self, Actor, Change};
use crate::engine::{Engine, EngineError};
use crate::store::{self, Connection};

const CREATE: &str = "key.create";
const REVOKE: &str = "key.revoke";

/// A key to create, its name and rate limit checked.
pub struct NewKey {
    scope: Scope,
    name: String,
    rate_limit: Option<f64>,
}

impl NewKey {
    pub fn new(scope: Scope, name: &str, rate_limit: Option<f64>) -> Result<NewKey, EngineError> {
        validate_key_name(name)?;
        validate_rate_limit(rate_limit)?;
        Ok(NewKey {
            scope,
            name: name.to_string(),
            rate_limit,
        })
    }

    /// Creates the key, as an audited write: its secret (to be shown once; only its hash is
    /// stored) and its record.
    fn create(self, conn: &mut Connection) -> Result<Change<(String, ApiKey)>, EngineError> {
        let secret = generate_key(self.scope);
        let hash = hash_key(&secret);
        let record = store::insert_key(conn, &hash, self.scope, &self.name, self.rate_limit)?;
        Ok(Change {
            target: record.id.to_string(),
            before: None,
            after: Some(audit::json(&record)),
            value: (secret, record),
        })
    }
}

/// Revoking an active key, as an audited write.
fn revoking(id: i64) -> impl FnOnce(&mut Connection) -> Result<Change<ApiKey>, EngineError> {
    move |conn| {
        let Some((before, after)) = store::revoke_key(conn, id)? else {
            return Err(EngineError::Invalid(ValidationError::new(
                "id",
                Violation::UnknownKey { id },
            )));
        };
        Ok(Change {
            target: id.to_string(),
            before: Some(audit::json(&before)),
            after: Some(audit::json(&after)),
            value: after,
        })
    }
}

/// Creates a key and records it (the command line and the first start, on a connection of
/// their own).
pub fn create_key_in(
    conn: &mut Connection,
    actor: &Actor,
    key: NewKey,
) -> Result<(String, ApiKey), EngineError> {
    audit::audited(conn, actor, CREATE, |conn| key.create(conn))
}

/// Revokes an active key and records it.
pub fn revoke_key_in(conn: &mut Connection, actor: &Actor, id: i64) -> Result<ApiKey, EngineError> {
    audit::audited(conn, actor, REVOKE, revoking(id))
}

impl Engine {
    /// Reloads the stored keys (a revoked key is refused from then on), after recording when
    /// keys were last used.
    pub async fn refresh_keys(&self) -> Result<(), EngineError> {
        let ring = self.key_ring();
        ring.tick();
        let uses = ring.take_uses();
        let ticket = ring.ticket();
        let keys = self
            .store()
            .run(move |conn| {
                if !uses.is_empty() {
                    store::touch_keys(conn, &uses)?;
                }
                store::list_keys(conn)
            })
            .await?;
        ring.replace(ticket, keys);
        Ok(())
    }

    /// Requests per second for keys without a limit of their own.
    pub fn default_rate_limit(&self) -> Option<f64> {
        self.inner.settings.default_rate_limit
    }

    /// How the audit log names the holder of a key used through the API.
    pub fn actor_of(&self, id: KeyId) -> Actor {
        Actor::new(self.key_ring().actor(id))
    }

    /// Every key, newest first (revoked ones too).
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, EngineError> {
        Ok(self.store().run(store::list_keys).await?)
    }

    /// Creates a key and returns its secret (to be shown once) with its record. This instance
    /// accepts it at once; the others within a refresh interval.
    pub async fn create_key(
        &self,
        actor: &Actor,
        scope: Scope,
        name: &str,
        rate_limit: Option<f64>,
    ) -> Result<(String, ApiKey), EngineError> {
        let key = NewKey::new(scope, name, rate_limit)?;
        self.write_audited(actor, CREATE, |conn| key.create(conn))
            .await
    }

    /// Revokes a key. This instance refuses it at once; the others within a refresh interval.
    pub async fn revoke_key(&self, actor: &Actor, id: i64) -> Result<ApiKey, EngineError> {
        self.write_audited(actor, REVOKE, revoking(id)).await
    }
}
