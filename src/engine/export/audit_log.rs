//! The audit log as a data set: every admin action in the range, oldest first: `id, at, actor,
//! action, target, before, after` (before and after as JSON).

use super::format::{Column, Encoder, ExportFormat, fixed, time};
use super::paging::{KeysetPages, Sink, write_pages};
use crate::domain::AuditEntry;
use crate::domain::TimeRange;
use crate::engine::EngineError;
use crate::store::{self, StoreError};
use diesel::pg::PgConnection;
use serde_json::Value;

struct AuditLog {
    range: TimeRange,
}

impl KeysetPages for AuditLog {
    type Row = AuditEntry;
    /// The entry's id: ids grow with time within one database.
    type Position = i64;
    /// Entries carry whole before/after states: smaller pages than the raw rows'.
    const PAGE_ROWS: i64 = 5_000;

    fn columns(&self) -> Vec<Column> {
        fixed(["id", "at", "actor", "action", "target", "before", "after"])
    }

    fn page(
        &self,
        conn: &mut PgConnection,
        after: Option<&i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        store::audit_page(conn, self.range, after.copied(), Self::PAGE_ROWS)
    }

    fn position(row: &AuditEntry) -> i64 {
        row.id
    }

    fn encode(&self, r: &AuditEntry, encoder: &mut Encoder) {
        let cells = [
            Value::from(r.id),
            time(r.at),
            Value::String(r.actor.clone()),
            Value::String(r.action.clone()),
            Value::String(r.target.clone()),
        ];
        let null = Value::Null;
        let states = [r.before.as_ref(), r.after.as_ref()].map(|s| s.unwrap_or(&null));
        encoder.write(cells.iter().chain(states));
    }
}

/// Writes the log page by page to `sink`; returns the number of entries written.
pub fn write_audit_log(
    conn: &mut PgConnection,
    format: ExportFormat,
    range: TimeRange,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    // The export-rows metric counts experiments' data sets only.
    let uncounted = metrics::Counter::noop();
    write_pages(conn, &AuditLog { range }, format, &uncounted, sink)
}
