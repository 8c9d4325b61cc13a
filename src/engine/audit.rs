//! The audit log of admin actions: who did what, when, and the state before and after.
//!
//! Experiment changes are recorded in the same transaction as the change (see `Engine::change`
//! and `create_experiment`), key changes likewise; actions whose own transaction lives
//! elsewhere (erasing a user) are recorded right after they succeed.

use super::keys::{self, KeyId};
use super::{Engine, EngineError};
use crate::domain::{Scope, ValidationError, Violation, validate_key_name, validate_rate_limit};
use crate::store::{self, NewAuditEntry, StoreError};
use diesel::pg::PgConnection;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

pub use crate::store::{ApiKeyRecord, AuditRecord};

/// Who acts: `key:<id> (<name>)` or `env:admin` through the API, `dashboard:<key id>` through
/// the dashboard, `cli` from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Actor(name.into())
    }

    pub fn cli() -> Self {
        Actor("cli".into())
    }

    /// A dashboard session opened with the key `id`.
    pub fn dashboard(id: KeyId) -> Self {
        Actor(match id {
            KeyId::Env(scope) => format!("dashboard:env:{scope}"),
            KeyId::Stored(n) => format!("dashboard:{n}"),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value as the audit log stores it.
pub fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Creates a key (the secret is returned once; only its hash is stored) and records it.
pub fn create_key_in(
    conn: &mut PgConnection,
    actor: &Actor,
    scope: Scope,
    name: &str,
    rate_limit: Option<f64>,
) -> Result<(String, ApiKeyRecord), EngineError> {
    validate_key_name(name)?;
    validate_rate_limit(rate_limit)?;
    let secret = keys::generate_key(scope);
    let hash = keys::hash_key(&secret);
    let record = store::audited(conn, |conn| {
        let record = store::insert_key(conn, &hash, scope, name, rate_limit)?;
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: "key.create".into(),
            target: record.id.to_string(),
            before: None,
            after: Some(json(&record)),
        };
        Ok::<_, StoreError>((record, entry))
    })?;
    Ok((secret, record))
}

/// Revokes an active key and records it.
pub fn revoke_key_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
) -> Result<ApiKeyRecord, EngineError> {
    let revoked = store::audited(conn, |conn| {
        let Some((before, after)) = store::revoke_key(conn, id)? else {
            return Err(StoreError::NotFound);
        };
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: "key.revoke".into(),
            target: id.to_string(),
            before: Some(json(&before)),
            after: Some(json(&after)),
        };
        Ok((after, entry))
    });
    match revoked {
        Ok(record) => Ok(record),
        Err(StoreError::NotFound) => Err(EngineError::Invalid(ValidationError::new(
            "id",
            Violation::UnknownKey { id },
        ))),
        Err(e) => Err(e.into()),
    }
}

impl Engine {
    /// Reloads the stored keys (a revoked key is refused from then on).
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

    /// Reloads the keys every half refresh interval (at most every 500 ms) until `shutdown`.
    pub async fn run_key_refresh_loop(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let every =
            (self.inner.settings.refresh_interval / 2).min(std::time::Duration::from_millis(500));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.sweep_auth_throttle();
                    if let Err(e) = self.refresh_keys().await {
                        tracing::debug!(error = %e, "key refresh failed; keeping the previous keys");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Requests per second for keys without a limit of their own.
    pub fn default_rate_limit(&self) -> Option<f64> {
        self.inner.settings.default_rate_limit
    }

    /// How the audit log names the holder of a key used through the API.
    pub fn actor_of(&self, id: KeyId) -> Actor {
        Actor(self.key_ring().actor(id))
    }

    /// Records an action that was done (and committed) elsewhere.
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<(), EngineError> {
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            before,
            after,
        };
        self.store()
            .run(move |conn| store::insert_audit(conn, &entry).map(|_| ()))
            .await?;
        Ok(())
    }

    /// A page of the log, newest first: entries older than `before` (all when `None`).
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, EngineError> {
        Ok(self
            .store()
            .run(move |conn| store::audit_newest(conn, before, limit))
            .await?)
    }

    /// Every key, newest first (revoked ones too).
    pub async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, EngineError> {
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
    ) -> Result<(String, ApiKeyRecord), EngineError> {
        let (actor, name) = (actor.clone(), name.to_string());
        let created = self
            .store()
            .run(move |conn| Ok(create_key_in(conn, &actor, scope, &name, rate_limit)))
            .await??;
        self.refresh().await?;
        Ok(created)
    }

    /// Revokes a key. This instance refuses it at once; the others within a refresh interval.
    pub async fn revoke_key(&self, actor: &Actor, id: i64) -> Result<ApiKeyRecord, EngineError> {
        let actor = actor.clone();
        let revoked = self
            .store()
            .run(move |conn| Ok(revoke_key_in(conn, &actor, id)))
            .await??;
        self.refresh().await?;
        Ok(revoked)
    }
}
