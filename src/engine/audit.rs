//! The audit log of admin actions: who did what, when, and the state before and after.
//!
//! Experiment changes are recorded in the same transaction as the change (see `Engine::change`
//! and `create_experiment`), key changes likewise; actions whose own transaction lives
//! elsewhere (erasing a user) are recorded right after they succeed.

use super::export::{self, Encoder, ExportFormat, ExportStream, SLOTS, WAIT_FOR_SLOT};
use super::keys::{self, KeyId};
use super::{Engine, EngineError};
use crate::domain::{Scope, ValidationError, Violation, validate_key_name, validate_rate_limit};
use crate::store::export::TimeRange;
use crate::store::{self, NewAuditEntry, StoreError};
use diesel::pg::PgConnection;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

pub use crate::store::{ApiKeyRecord, AuditRecord};
use tokio::sync::mpsc;

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

/// Rows read per query when exporting the log.
const AUDIT_CHUNK: i64 = 5_000;

pub const AUDIT_COLUMNS: [&str; 7] = ["id", "at", "actor", "action", "target", "before", "after"];

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

    /// Streams the log (oldest first) in `range` as CSV or JSON lines.
    pub async fn export_audit(
        &self,
        format: ExportFormat,
        range: TimeRange,
    ) -> Result<ExportStream, EngineError> {
        let permit = tokio::time::timeout(WAIT_FOR_SLOT, SLOTS.acquire())
            .await
            .map_err(|_| EngineError::Unavailable("too many exports are running".into()))?
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        // A connection of its own for the whole export; failing here (database down) is a
        // clean 503 before the first byte.
        let url = self.store().url().to_string();
        let mut conn = tokio::task::spawn_blocking(move || store::connect(&url))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
        let (tx, rx) = mpsc::channel(export::CHANNEL_PAGES);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut sink = |bytes: Vec<u8>| tx.blocking_send(Ok(bytes)).is_ok();
            match write_audit(&mut conn, format, range, &mut sink) {
                Ok(rows) => tracing::info!(rows, "audit export finished"),
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        Ok(rx)
    }
}

/// Writes the log page by page to `sink`; returns the number of entries written.
pub fn write_audit(
    conn: &mut PgConnection,
    format: ExportFormat,
    range: TimeRange,
    sink: &mut dyn export::Sink,
) -> Result<u64, EngineError> {
    let mut encoder = Encoder::new(format, AUDIT_COLUMNS.map(String::from).to_vec());
    let mut after = None;
    let mut written = 0u64;
    loop {
        let page = store::audit_page(conn, range, after, AUDIT_CHUNK)?;
        for r in &page {
            let cells = [
                Value::from(r.id),
                export::time(r.at),
                Value::String(r.actor.clone()),
                Value::String(r.action.clone()),
                Value::String(r.target.clone()),
                r.before.clone().unwrap_or(Value::Null),
                r.after.clone().unwrap_or(Value::Null),
            ];
            let named: Vec<(&str, &Value)> = AUDIT_COLUMNS.iter().copied().zip(&cells).collect();
            encoder.write(&named);
        }
        written += page.len() as u64;
        let done = (page.len() as i64) < AUDIT_CHUNK;
        after = page.last().map(|r| r.id);
        if !sink.send(encoder.take()) || done {
            break;
        }
    }
    Ok(written)
}

/// Writes the log to `out` (the command line).
pub fn export_audit_to(
    database_url: &str,
    format: ExportFormat,
    range: TimeRange,
    out: &mut dyn std::io::Write,
) -> Result<u64, EngineError> {
    let mut conn = store::connect(database_url)?;
    let mut failed = None;
    let mut sink = |bytes: Vec<u8>| match out.write_all(&bytes) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    };
    let rows = write_audit(&mut conn, format, range, &mut sink)?;
    if let Some(e) = failed {
        return Err(EngineError::Internal(format!(
            "writing the export failed: {e}"
        )));
    }
    out.flush()
        .map_err(|e| EngineError::Internal(format!("writing the export failed: {e}")))?;
    Ok(rows)
}
