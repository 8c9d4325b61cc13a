//! An experiment's export: which data set, in which format, over which range; and running it.

use super::assignments::Assignments;
use super::events::GoalEvents;
use super::format::ExportFormat;
use super::paging::{Sink, write_pages};
use super::selection::Selection;
use super::users::Users;
use super::{over_time, results, series};
use crate::domain::TimeRange;
use crate::engine::EngineError;
use crate::store::{self, StoreError};
use crate::telemetry::EXPORT_ROWS;
use diesel::pg::PgConnection;
use serde::Deserialize;

/// An experiment's data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportData {
    /// One row per variant, the same figures as `/results`.
    Results,
    /// One row per enrolled user.
    Assignments,
    /// The goal events of enrolled users.
    Events,
    /// Per day and variant.
    Series,
    /// One row per assigned user with each metric's per-user value.
    Users,
    /// One row per metric, day and variant: the cumulative figures at the end of each day.
    #[serde(rename = "over_time")]
    #[value(name = "over_time")]
    OverTime,
}

impl ExportData {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportData::Results => "results",
            ExportData::Assignments => "assignments",
            ExportData::Events => "events",
            ExportData::Series => "series",
            ExportData::Users => "users",
            ExportData::OverTime => "over_time",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub experiment: String,
    pub data: ExportData,
    pub format: ExportFormat,
    pub range: TimeRange,
}

/// Runs an export on this (blocking) thread, handing each encoded page to `sink`; returns the
/// number of data rows written. `weights` is the current allocation, for results (computed
/// from the statistics when `None`).
pub fn run_export(
    conn: &mut PgConnection,
    request: &ExportRequest,
    weights: Option<Vec<f64>>,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    let experiment = store::get_experiment(conn, &request.experiment).map_err(|e| match e {
        StoreError::NotFound => EngineError::UnknownExperiment(request.experiment.clone()),
        other => other.into(),
    })?;
    let selection = Selection::new(&experiment, request.range);
    let format = request.format;
    let counted = metrics::counter!(EXPORT_ROWS, "data" => request.data.as_str());
    // Raw rows are counted page by page (the count shows how far a download has read);
    // the aggregates, once.
    let aggregate =
        |written: Result<u64, EngineError>| written.inspect(|&rows| counted.increment(rows));
    match request.data {
        ExportData::Assignments => {
            write_pages(conn, &Assignments(&selection), format, &counted, sink)
        }
        ExportData::Events => write_pages(conn, &GoalEvents(&selection), format, &counted, sink),
        ExportData::Results => aggregate(results::write(conn, &selection, weights, format, sink)),
        ExportData::Series => aggregate(series::write(conn, &selection, format, sink)),
        ExportData::OverTime => aggregate(over_time::write(conn, &selection, format, sink)),
        ExportData::Users => {
            let users = Users::new(conn, &selection)?;
            write_pages(conn, &users, format, &counted, sink)
        }
    }
}
