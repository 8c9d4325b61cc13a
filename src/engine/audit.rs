//! The audit log of admin actions: who did what, when, and the state before and after.
//!
//! Every admin write goes through `audited`: the change and its entry are committed in one
//! transaction, or neither is (experiments, segments, the holdout, keys, erasures).

use super::export::{self, Encoder, ExportFormat, ExportStream, SLOTS, WAIT_FOR_SLOT};
use super::keys::KeyId;
use super::{Engine, EngineError};
use crate::domain::AuditEntry;
use crate::store::export::TimeRange;
use crate::store::{self, Connection, NewAuditEntry, StoreError};
use diesel::pg::PgConnection;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
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
