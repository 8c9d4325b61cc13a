//! The keyset-paging loop every raw data set shares (assignments, events, the audit log):
//! read a page, encode it, hand it to the sink, then read the page after its last row.
//!
//! Each page is one short query (see `store::export`), so memory holds a page or two whatever
//! the size of the table, and a sink that blocks (a full channel to a slow reader) holds the
//! reading back.

use super::format::{Column, Encoder, ExportFormat};
use crate::engine::EngineError;
use crate::store::StoreError;
use diesel::pg::PgConnection;

/// Where encoded pages go; `false` means the reader went away: stop.
pub trait Sink {
    fn send(&mut self, bytes: Vec<u8>) -> bool;
}

impl<F: FnMut(Vec<u8>) -> bool> Sink for F {
    fn send(&mut self, bytes: Vec<u8>) -> bool {
        self(bytes)
    }
}

/// A data set read by keyset: rows in a fixed order, each page the rows after the last row of
/// the page before.
pub(super) trait KeysetPages {
    type Row;
    /// Where a row stands in the order; the next page starts after it.
    type Position;
    /// Rows read per query.
    const PAGE_ROWS: i64;

    fn columns(&self) -> Vec<Column>;

    /// Up to `PAGE_ROWS` rows after `after` (from the first when `None`).
    fn page(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Position>,
    ) -> Result<Vec<Self::Row>, StoreError>;

    fn position(row: &Self::Row) -> Self::Position;

    /// Writes one row's cells.
    fn encode(&self, row: &Self::Row, encoder: &mut Encoder);
}

/// Reads `data` page after page into `sink` until a short page or until the sink stops;
/// returns the number of rows written (and adds each page's to `rows`).
pub(super) fn write_pages<P: KeysetPages>(
    conn: &mut PgConnection,
    data: &P,
    format: ExportFormat,
    rows: &metrics::Counter,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    let mut encoder = Encoder::new(format, data.columns());
    let mut after: Option<P::Position> = None;
    let mut written = 0u64;
    loop {
        let page = data.page(conn, after.as_ref())?;
        for row in &page {
            data.encode(row, &mut encoder);
        }
        written += page.len() as u64;
        rows.increment(page.len() as u64);
        let done = (page.len() as i64) < P::PAGE_ROWS;
        after = page.last().map(P::position);
        drop(page);
        if !sink.send(encoder.take()) || done {
            return Ok(written);
        }
    }
}
