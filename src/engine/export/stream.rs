//! Exports for the HTTP API: a blocking thread with a database connection of its own writes
//! the pages into a bounded channel that the response body drains. A slow reader slows the
//! export down instead of filling memory: the writer blocks on the full channel.

use super::audit_log::write_audit_log;
use super::format::ExportFormat;
use super::paging::Sink;
use super::request::{ExportRequest, run_export};
use crate::domain::TimeRange;
use crate::engine::{Engine, EngineError};
use crate::store;
use diesel::pg::PgConnection;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Encoded pages buffered between the database reader and the HTTP body.
pub const CHANNEL_PAGES: usize = 4;
/// Exports running at once in one process (each holds one database connection of its own).
pub const MAX_CONCURRENT_EXPORTS: usize = 4;
const WAIT_FOR_SLOT: Duration = Duration::from_secs(10);

static SLOTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT_EXPORTS);

/// A running export: pages of encoded bytes, then the end (or an error that cuts it short).
pub type ExportStream = mpsc::Receiver<Result<Vec<u8>, EngineError>>;

impl Engine {
    /// Starts an experiment's export; an unknown experiment is a clean 404 before any byte.
    pub async fn export(&self, request: ExportRequest) -> Result<ExportStream, EngineError> {
        self.experiment(&request.experiment).await?;
        // The allocation new users get now, for results (what `/results` shows).
        let weights = self
            .snapshot()
            .get(&request.experiment)
            .map(|live| live.policy.allocation().to_vec());
        let what = format!("{} of {}", request.data.as_str(), request.experiment);
        self.start_export(what, move |conn, sink| {
            run_export(conn, &request, weights, sink)
        })
        .await
    }

    /// Starts the export of the audit log (oldest first) in `range`.
    pub async fn export_audit_log(
        &self,
        format: ExportFormat,
        range: TimeRange,
    ) -> Result<ExportStream, EngineError> {
        self.start_export("audit log".into(), move |conn, sink| {
            write_audit_log(conn, format, range, sink)
        })
        .await
    }

    /// Takes one of the export slots and a connection of its own (failing here, with the
    /// database down or every slot busy, is a clean 503 before the first byte), then runs
    /// `write` on a blocking thread into a channel of `CHANNEL_PAGES` pages.
    async fn start_export(
        &self,
        what: String,
        write: impl FnOnce(&mut PgConnection, &mut dyn Sink) -> Result<u64, EngineError>
        + Send
        + 'static,
    ) -> Result<ExportStream, EngineError> {
        let permit = tokio::time::timeout(WAIT_FOR_SLOT, SLOTS.acquire())
            .await
            .map_err(|_| {
                EngineError::Unavailable(format!(
                    "{MAX_CONCURRENT_EXPORTS} exports are already running; retry shortly"
                ))
            })?
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let url = self.store().url().to_string();
        let mut conn = tokio::task::spawn_blocking(move || store::connect(&url))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
        let (tx, rx) = mpsc::channel(CHANNEL_PAGES);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut sink = |bytes: Vec<u8>| tx.blocking_send(Ok(bytes)).is_ok();
            match write(&mut conn, &mut sink) {
                Ok(rows) => tracing::info!(export = %what, rows, "export finished"),
                Err(e) => {
                    tracing::error!(export = %what, error = %e, "export failed");
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        Ok(rx)
    }
}
