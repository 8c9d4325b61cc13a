//! The audit log of admin actions: who did what, when, and the state before and after.
//!
//! Every admin write goes through `audited`: the change and its entry are committed in one
//! transaction, or neither is (experiments, segments, the holdout, keys, erasures).

use super::keys::KeyId;
use super::{Engine, EngineError};
use crate::domain::AuditEntry;
use crate::store::{self, Connection, NewAuditEntry, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

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

/// What an audited write did: its result, and what the log records of it (the target, and
/// its state before and after, as `json` gives them).
pub struct Change<T> {
    pub value: T,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Runs `write` and records what it did, as `action` by `actor`, in one transaction: the
/// change and its entry are committed together or not at all.
pub fn audited<T, E: From<StoreError>>(
    conn: &mut Connection,
    actor: &Actor,
    action: &str,
    write: impl FnOnce(&mut Connection) -> Result<Change<T>, E>,
) -> Result<T, E> {
    store::audited(conn, |conn| {
        let change = write(conn)?;
        let entry = NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: change.target,
            before: change.before,
            after: change.after,
        };
        Ok((change.value, entry))
    })
}

impl Engine {
    /// An audited write (`audited`) on a pooled connection; this instance serves the change at
    /// once (the others within a refresh interval).
    pub(super) async fn write_audited<T: Send + 'static>(
        &self,
        actor: &Actor,
        action: &'static str,
        write: impl FnOnce(&mut Connection) -> Result<Change<T>, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let actor = actor.clone();
        let written = self
            .store()
            .run(move |conn| Ok(audited(conn, &actor, action, write)))
            .await??;
        self.refresh().await?;
        Ok(written)
    }

    /// A page of the log, newest first: entries older than `before` (all when `None`).
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(self
            .store()
            .run(move |conn| store::audit_newest(conn, before, limit))
            .await?)
    }
}
