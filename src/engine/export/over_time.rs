//! The `over_time` data set: one row per metric × day × variant, the figures of the results'
//! `over_time` (the stored days, then today's from the live results): each metric's
//! cumulative users, value, the lift's 95% confidence sequence and its always-valid p-value
//! at the end of each day. With a range, the days that start (midnight UTC) within it.

use super::format::{Encoder, ExportFormat, number};
use super::paging::Sink;
use super::selection::Selection;
use crate::domain::TimeRange;
use crate::engine::EngineError;
use crate::engine::history::{self, OverTimePoint};
use crate::store;
use chrono::{NaiveDate, Utc};
use diesel::pg::PgConnection;
use serde_json::Value;

const COLUMNS: [&str; 11] = [
    "experiment",
    "metric",
    "day",
    "day_number",
    "variant",
    "users",
    "value",
    "lift_mean",
    "lift_low",
    "lift_high",
    "p_value",
];

pub(super) fn write(
    conn: &mut PgConnection,
    selection: &Selection,
    format: ExportFormat,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    let experiment = selection.experiment;
    // The results over all time (their `over_time` is cumulative since the start), with the
    // stored days, as `/results` puts them together.
    let mut results = super::results::compute(conn, experiment, TimeRange::ALL, None)?;
    let stored = store::metric_history::of_experiment(conn, experiment.id)?;
    let live_day = history::live_day(experiment, Utc::now());
    history::fill(experiment, &stored, &mut results.metrics, live_day);
    let mut encoder = Encoder::new(format, COLUMNS.to_vec());
    let mut rows = 0;
    for metric in &results.metrics {
        for point in metric
            .over_time
            .iter()
            .filter(|p| in_range(p, selection.range))
        {
            let day = Value::String(point.day.format("%Y-%m-%d").to_string());
            for v in &point.variants {
                let lift = |part: fn(&crate::stats::Interval) -> f64| {
                    v.lift.as_ref().map_or(Value::Null, |l| number(part(l)))
                };
                encoder.write(&[
                    selection.key.clone(),
                    Value::String(metric.key.clone()),
                    day.clone(),
                    Value::from(point.day_number),
                    Value::String(v.key.clone()),
                    Value::from(v.users),
                    number(v.value),
                    lift(|l| l.mean),
                    lift(|l| l.low),
                    lift(|l| l.high),
                    v.p_value.map_or(Value::Null, number),
                ]);
                rows += 1;
            }
        }
    }
    sink.send(encoder.take());
    Ok(rows)
}

/// Whether the day starts within the range.
fn in_range(point: &OverTimePoint, range: TimeRange) -> bool {
    let start = midnight(point.day);
    range.from().is_none_or(|from| start >= from) && range.to().is_none_or(|to| start < to)
}

fn midnight(day: NaiveDate) -> chrono::DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}
