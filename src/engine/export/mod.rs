//! Exports for analysts: an experiment's results, assignments, goal events, daily series and
//! metrics over time, and the audit log, as CSV or JSON lines, in constant memory.
//!
//! - `request`: which data set, format and range; `run_export` writes it into a `Sink`.
//! - `format`: the formats and the encoder.
//! - `paging`: the keyset-paging loop that reads raw rows a page at a time into a `Sink`
//!   (assignments, events, the audit log).
//! - `selection`: what an experiment's data sets read (the experiment, the range).
//! - one file per data set: `results`, `assignments`, `events`, `series`, `users`,
//!   `over_time`, `audit_log`.
//! - `stream`: the plumbing for HTTP (a bounded channel into the response body). The
//!   command line brings its own sink (a file or stdout).

mod assignments;
mod audit_log;
mod events;
mod format;
mod over_time;
mod paging;
mod request;
mod results;
mod selection;
mod series;
mod stream;
mod users;

pub use audit_log::write_audit_log;
pub use format::ExportFormat;
pub use paging::Sink;
pub use request::{ExportData, ExportRequest, run_export};
pub use stream::{CHANNEL_PAGES, ExportStream, MAX_CONCURRENT_EXPORTS};
