//! Exports for analysts: results, assignments, goal events and the daily series of an
//! experiment, as CSV or JSON lines, in constant memory.
//!
//! Raw rows are read by keyset pages of `CHUNK_ROWS` (see `store::export`); each page is
//! encoded and handed to a sink (a bounded channel into the HTTP body, or stdout for the
//! command line) before the next page is read, so memory holds at most a page or two
//! whatever the size of the table. A slow reader slows the export down instead of filling
//! memory: the producer blocks on the full channel.
//!
//! - `assignments`: one row per enrolled user: time, variant, propensity (the probability
//!   the policy gave that variant then), the attributes targeting saw, and the outcome
//!   (`converted`, `converted_at`, `value`) — enough for an off-policy evaluation.
//! - `events`: the events of users assigned to the experiment whose name is its goal event,
//!   with the user's variant and `after_assignment` (only those count in the results).
//! - `results`: one row per variant, the same figures as `/results`. With a range: computed
//!   over the users assigned in the hours that start within it.
//! - `series`: per day (UTC) and variant: new users, their conversions and value, and the
//!   share of new users the policy meant for the variant, with running totals.

use super::results::{self, SeriesPoint};
use super::{Engine, EngineError};
use crate::domain::{Experiment, Kind};
use crate::stats::beta::BetaPosterior;
use crate::stats::thompson;
use crate::store::export::{self as rows, TimeRange};
use crate::store::{self, PeriodStats, StoreError, VariantStats};
use crate::telemetry::EXPORT_ROWS;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use diesel::pg::PgConnection;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Rows read per query.
pub const CHUNK_ROWS: i64 = 10_000;
/// Encoded pages buffered between the database reader and the HTTP body.
pub const CHANNEL_PAGES: usize = 4;
/// Exports running at once in one process (each holds one database connection of its own).
pub const MAX_CONCURRENT_EXPORTS: usize = 4;
pub(super) const WAIT_FOR_SLOT: Duration = Duration::from_secs(10);

pub(super) static SLOTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT_EXPORTS);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportData {
    Results,
    Assignments,
    Events,
    Series,
}

impl ExportData {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportData::Results => "results",
            ExportData::Assignments => "assignments",
            ExportData::Events => "events",
            ExportData::Series => "series",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
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

/// Parses a range end: an RFC 3339 time (`2026-01-31T12:00:00Z`) or a date (`2026-01-31`,
/// midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "{text:?} is not a time: use RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)"
    ))
}

// ---- encoding ------------------------------------------------------------------------------

/// One output row: named cells, in column order.
type Row = Vec<(&'static str, Value)>;

pub(super) fn time(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Writes rows as CSV (header first) or JSON lines, one page at a time.
pub(super) struct Encoder {
    format: ExportFormat,
    csv: Option<csv::Writer<Vec<u8>>>,
    columns: Vec<String>,
    out: Vec<u8>,
}

impl Encoder {
    pub(super) fn new(format: ExportFormat, columns: Vec<String>) -> Self {
        let csv = (format == ExportFormat::Csv).then(|| {
            let mut w = csv_writer();
            w.write_record(&columns).expect("writing to memory");
            w
        });
        Encoder {
            format,
            csv,
            columns,
            out: Vec::new(),
        }
    }

    /// Cells in column order (missing ones empty or null).
    pub(super) fn write(&mut self, cells: &[(&str, &Value)]) {
        match self.format {
            ExportFormat::Csv => {
                let w = self.csv.as_mut().expect("csv writer");
                let record = self.columns.iter().map(|c| {
                    cells
                        .iter()
                        .find(|(name, _)| name == c)
                        .map_or(String::new(), |(_, v)| csv_cell(v))
                });
                w.write_record(record).expect("writing to memory");
            }
            ExportFormat::Jsonl => {
                let mut ser = serde_json::Serializer::new(&mut self.out);
                let mut map = ser.serialize_map(Some(self.columns.len())).expect("json");
                for c in &self.columns {
                    let v = cells.iter().find(|(n, _)| n == c).map(|(_, v)| *v);
                    map.serialize_entry(c, &v.unwrap_or(&Value::Null))
                        .expect("json");
                }
                map.end().expect("json");
                self.out.push(b'\n');
            }
        }
    }

    fn write_row(&mut self, row: &[(String, Value)]) {
        let cells: Vec<(&str, &Value)> = row.iter().map(|(n, v)| (n.as_str(), v)).collect();
        self.write(&cells);
    }

    /// The bytes encoded since the last take.
    pub(super) fn take(&mut self) -> Vec<u8> {
        if let Some(w) = self.csv.replace(csv_writer()) {
            return w.into_inner().expect("writing to memory");
        }
        std::mem::take(&mut self.out)
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// A CSV cell: strings as they are (the CSV writer quotes and escapes), null as empty,
/// objects and arrays as JSON text.
fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

// ---- running an export ---------------------------------------------------------------------

/// Where encoded pages go; `false` means the reader went away: stop.
pub trait Sink {
    fn send(&mut self, bytes: Vec<u8>) -> bool;
}

impl<F: FnMut(Vec<u8>) -> bool> Sink for F {
    fn send(&mut self, bytes: Vec<u8>) -> bool {
        self(bytes)
    }
}

fn load_experiment(conn: &mut PgConnection, key: &str) -> Result<Experiment, EngineError> {
    store::get_experiment(conn, key).map_err(|e| match e {
        StoreError::NotFound => EngineError::UnknownExperiment(key.to_string()),
        other => other.into(),
    })
}

fn variant_key(experiment: &Experiment, variant_id: i64) -> String {
    experiment
        .variant_ids
        .iter()
        .position(|&id| id == variant_id)
        .map_or_else(
            || variant_id.to_string(),
            |i| experiment.spec.variants[i].key.to_string(),
        )
}

/// Runs an export on this (blocking) thread: reads page after page and hands each encoded
/// page to `sink`. Returns the number of data rows written. `weights` is the current
/// allocation, for results (the spec's when `None`).
pub fn run_export(
    conn: &mut PgConnection,
    request: &ExportRequest,
    weights: Option<Vec<f64>>,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    let experiment = load_experiment(conn, &request.experiment)?;
    let counter = metrics::counter!(EXPORT_ROWS, "data" => request.data.as_str());
    let mut written = 0u64;
    match request.data {
        ExportData::Assignments => {
            let mut columns = [
                "experiment",
                "user_id",
                "variant",
                "assigned_at",
                "propensity",
                "attributes",
                "converted",
                "converted_at",
                "value",
            ]
            .map(String::from)
            .to_vec();
            // Contextual experiments: the user's context, as an object of the context
            // attributes' values at assignment.
            let context_names = &experiment.spec.context;
            if !context_names.is_empty() {
                columns.push("context".into());
            }
            let mut encoder = Encoder::new(request.format, columns);
            let experiment_key = Value::String(experiment.spec.key.to_string());
            let mut after: Option<(DateTime<Utc>, String)> = None;
            loop {
                let page = rows::assignments_page(
                    conn,
                    experiment.id,
                    request.range,
                    after.as_ref(),
                    CHUNK_ROWS,
                )?;
                for r in &page {
                    let variant = Value::String(variant_key(&experiment, r.variant_id));
                    let user = Value::String(r.user_id.clone());
                    let assigned_at = time(r.assigned_at);
                    let propensity = number(r.propensity);
                    let converted = Value::Bool(r.converted_at.is_some());
                    let converted_at = r.converted_at.map_or(Value::Null, time);
                    let value = number(r.value);
                    let context = r.context_key.as_deref().map_or(Value::Null, |k| {
                        Value::Object(super::contextual::context_object(context_names, k))
                    });
                    encoder.write(&[
                        ("context", &context),
                        ("experiment", &experiment_key),
                        ("user_id", &user),
                        ("variant", &variant),
                        ("assigned_at", &assigned_at),
                        ("propensity", &propensity),
                        ("attributes", &r.attributes),
                        ("converted", &converted),
                        ("converted_at", &converted_at),
                        ("value", &value),
                    ]);
                }
                written += page.len() as u64;
                counter.increment(page.len() as u64);
                let last = page.last().map(|r| (r.assigned_at, r.user_id.clone()));
                let done = (page.len() as i64) < CHUNK_ROWS;
                drop(page);
                if !sink.send(encoder.take()) || done {
                    break;
                }
                after = last;
            }
        }
        ExportData::Events => {
            let columns = [
                "experiment",
                "event_id",
                "user_id",
                "name",
                "value",
                "occurred_at",
                "received_at",
                "variant",
                "assigned_at",
                "after_assignment",
            ];
            let mut encoder = Encoder::new(request.format, columns.map(String::from).to_vec());
            let experiment_key = Value::String(experiment.spec.key.to_string());
            let goal = experiment.spec.goal.event.to_string();
            let mut after: Option<(String, String)> = None;
            loop {
                let page = rows::events_page(
                    conn,
                    experiment.id,
                    &goal,
                    request.range,
                    after,
                    CHUNK_ROWS,
                )?;
                for r in &page {
                    let cells = [
                        Value::String(r.event_id.clone()),
                        Value::String(r.user_id.clone()),
                        Value::String(r.name.clone()),
                        r.value.map_or(Value::Null, number),
                        time(r.occurred_at),
                        time(r.received_at),
                        Value::String(variant_key(&experiment, r.variant_id)),
                        time(r.assigned_at),
                        Value::Bool(r.occurred_at >= r.assigned_at),
                    ];
                    encoder.write(&[
                        ("experiment", &experiment_key),
                        ("event_id", &cells[0]),
                        ("user_id", &cells[1]),
                        ("name", &cells[2]),
                        ("value", &cells[3]),
                        ("occurred_at", &cells[4]),
                        ("received_at", &cells[5]),
                        ("variant", &cells[6]),
                        ("assigned_at", &cells[7]),
                        ("after_assignment", &cells[8]),
                    ]);
                }
                written += page.len() as u64;
                counter.increment(page.len() as u64);
                let last = page.last().map(|r| (r.user_id.clone(), r.event_id.clone()));
                let done = (page.len() as i64) < CHUNK_ROWS;
                if !sink.send(encoder.take()) || done {
                    break;
                }
                after = last;
            }
        }
        ExportData::Results => {
            let table = results_rows(conn, &experiment, request.range, weights)?;
            written = table.rows.len() as u64;
            counter.increment(written);
            let mut encoder = Encoder::new(request.format, table.columns);
            for row in &table.rows {
                encoder.write_row(row);
            }
            sink.send(encoder.take());
        }
        ExportData::Series => {
            let periods = rows::period_stats_in(conn, experiment.id, request.range)?;
            let days = daily_series(&results::series(&experiment, &periods));
            written = days.len() as u64;
            counter.increment(written);
            let columns = SERIES_COLUMNS.iter().map(|c| c.to_string()).collect();
            let mut encoder = Encoder::new(request.format, columns);
            let key = Value::String(experiment.spec.key.to_string());
            for day in &days {
                let mut cells: Vec<(&str, &Value)> = vec![("experiment", &key)];
                cells.extend(day.iter().map(|(n, v)| (*n, v)));
                encoder.write(&cells);
            }
            sink.send(encoder.take());
        }
    }
    Ok(written)
}

// ---- results -------------------------------------------------------------------------------

struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<(String, Value)>>,
}

/// Per-variant rows of the experiment's results, flattened (`rate.low` → `rate_low`), with
/// the experiment-level figures repeated on each row. Built from the serialized results, so
/// fields added to the results appear in the export without a change here.
fn results_rows(
    conn: &mut PgConnection,
    experiment: &Experiment,
    range: TimeRange,
    weights: Option<Vec<f64>>,
) -> Result<Table, EngineError> {
    let (stats, periods) = if range == TimeRange::default() {
        (
            store::load_variant_stats(conn, Some(&[experiment.id]))?,
            store::load_period_stats(conn, experiment.id)?,
        )
    } else {
        let periods = rows::period_stats_in(conn, experiment.id, range)?;
        (cohort_stats(experiment, &periods), periods)
    };
    let weights = weights.unwrap_or_else(|| current_weights(experiment, &stats));
    let mut computed = results::compute(experiment, &stats, &periods, weights);
    // Per-context rows come from all-time statistics: only without a range.
    if range == TimeRange::default() && !experiment.spec.context.is_empty() {
        let context_stats = store::load_context_stats(conn, Some(&[experiment.id]))?;
        super::contextual::fill_contexts(&mut computed, experiment, &stats, &context_stats);
    }
    let contexts = std::mem::take(&mut computed.contexts);
    let value =
        serde_json::to_value(&computed).map_err(|e| EngineError::Internal(e.to_string()))?;
    let mut shared: Vec<(String, Value)> = Vec::new();
    let mut variants: Vec<Value> = Vec::new();
    if let Value::Object(top) = value {
        for (name, v) in top {
            match (name.as_str(), v) {
                ("variants", Value::Array(list)) => variants = list,
                // Per-variant already (`weight`), prose, or rows of their own (segments).
                ("weights" | "notes" | "segments", _) => {}
                ("personalization", Value::Null) => {}
                (_, v) => flatten(&name, v, &mut shared),
            }
        }
    }
    if let Some(from) = range.from {
        shared.push(("from".into(), time(from)));
    }
    if let Some(to) = range.to {
        shared.push(("to".into(), time(to)));
    }
    let mut flat_rows: Vec<Vec<(String, Value)>> = Vec::new();
    for v in variants {
        let mut row = shared.clone();
        if let Value::Object(fields) = v {
            for (name, value) in fields {
                let name = if name == "key" {
                    "variant".to_string()
                } else {
                    name
                };
                flatten(&name, value, &mut row);
            }
        }
        flat_rows.push(row);
    }
    // One row per segment and variant: `segment` names the context (the overall rows
    // leave it empty).
    let experiment_key = Value::String(experiment.spec.key.to_string());
    for context_results in contexts {
        let context = Value::String(Value::Object(context_results.context.clone()).to_string());
        for v in context_results.variants {
            let mut row = vec![
                ("experiment".to_string(), experiment_key.clone()),
                ("segment".to_string(), context.clone()),
                (
                    "segment_users".to_string(),
                    Value::from(context_results.users),
                ),
                (
                    "segment_best".to_string(),
                    Value::Bool(v.key == context_results.best_variant),
                ),
            ];
            if let Ok(Value::Object(fields)) = serde_json::to_value(&v) {
                for (name, value) in fields {
                    let name = if name == "key" {
                        "variant".to_string()
                    } else {
                        name
                    };
                    flatten(&name, value, &mut row);
                }
            }
            flat_rows.push(row);
        }
    }
    let columns = columns_of(&flat_rows);
    Ok(Table {
        columns,
        rows: flat_rows,
    })
}

/// Columns of flattened rows: `experiment` and `variant` first, then the union in first-seen
/// order, less a null-only column that another row spelled out as an object (`lift` is null
/// for the control and `lift_mean`, `lift_low`... elsewhere).
fn columns_of(rows: &[Vec<(String, Value)>]) -> Vec<String> {
    let mut columns: Vec<String> = vec!["experiment".into(), "variant".into()];
    for row in rows {
        for (name, _) in row {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    // A null-only column whose object form another row spelled out gives way to those
    // columns, in its place.
    let removable = |c: &String| {
        let prefix = format!("{c}_");
        columns.iter().any(|o| o.starts_with(&prefix))
            && rows
                .iter()
                .all(|r| r.iter().all(|(n, v)| n != c || v.is_null()))
    };
    let mut ordered: Vec<String> = Vec::with_capacity(columns.len());
    for c in &columns {
        if removable(c) {
            let prefix = format!("{c}_");
            for o in columns.iter().filter(|o| o.starts_with(&prefix)) {
                if !ordered.contains(o) {
                    ordered.push(o.clone());
                }
            }
        } else if !ordered.contains(c) {
            ordered.push(c.clone());
        }
    }
    ordered
}

fn flatten(name: &str, value: Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                flatten(&format!("{name}_{k}"), v, out);
            }
        }
        Value::Array(items) => out.push((
            name.to_string(),
            Value::String(Value::Array(items).to_string()),
        )),
        other => out.push((name.to_string(), other)),
    }
}

/// Totals of the users assigned in the given hours, per variant.
fn cohort_stats(experiment: &Experiment, periods: &[PeriodStats]) -> Vec<VariantStats> {
    experiment
        .variant_ids
        .iter()
        .map(|&variant_id| {
            let mut s = VariantStats {
                variant_id,
                experiment_id: experiment.id,
                users: 0,
                conversions: 0,
                value_sum: 0.0,
                value_sum_sq: 0.0,
            };
            for p in periods.iter().filter(|p| p.variant_id == variant_id) {
                s.users += p.users;
                s.conversions += p.conversions;
                s.value_sum += p.value_sum;
                s.value_sum_sq += p.value_sum_sq;
            }
            s
        })
        .collect()
}

/// The allocation a new user would get now: fixed weights, or the bandit's Thompson
/// allocation over the current posteriors (what the server's snapshot holds).
fn current_weights(experiment: &Experiment, stats: &[VariantStats]) -> Vec<f64> {
    let spec = &experiment.spec;
    match spec.kind {
        Kind::Ab => spec.variants.iter().map(|v| v.weight).collect(),
        Kind::Bandit => {
            let posteriors: Vec<BetaPosterior> = experiment
                .variant_ids
                .iter()
                .map(|id| {
                    let s = stats.iter().find(|s| s.variant_id == *id);
                    s.map_or_else(
                        || BetaPosterior::from_counts(0, 0),
                        |s| {
                            BetaPosterior::from_counts(
                                s.users.max(0) as u64,
                                s.conversions.max(0) as u64,
                            )
                        },
                    )
                })
                .collect();
            thompson::allocation(&posteriors, spec.floor)
        }
    }
}

// ---- the daily series ----------------------------------------------------------------------

const SERIES_COLUMNS: &[&str] = &[
    "experiment",
    "day",
    "variant",
    "users",
    "conversions",
    "value_sum",
    "conversion_rate",
    "weight",
    "cumulative_users",
    "cumulative_conversions",
];

/// Sums the hourly points into days (UTC), per variant. A day's weight is the hourly weights
/// averaged by each hour's new users (the share of the day's new users the policy meant for
/// the variant); a day without users keeps the plain mean of its hours.
pub fn daily_series(points: &[SeriesPoint]) -> Vec<Row> {
    use std::collections::BTreeMap;
    // (day, variant order) → sums. Variant order: first appearance.
    let mut variants: Vec<&str> = Vec::new();
    for p in points {
        if !variants.contains(&p.variant.as_str()) {
            variants.push(&p.variant);
        }
    }
    let mut hour_users: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    for p in points {
        *hour_users.entry(p.period_start).or_default() += p.users;
    }
    #[derive(Default)]
    struct Day {
        users: i64,
        conversions: i64,
        value_sum: f64,
        weighted: f64,
        weight_users: i64,
        weight_sum: f64,
        hours: u32,
    }
    let mut days: BTreeMap<(NaiveDate, usize), Day> = BTreeMap::new();
    for p in points {
        let v = variants.iter().position(|v| *v == p.variant).unwrap_or(0);
        let d = days.entry((p.period_start.date_naive(), v)).or_default();
        let n = hour_users.get(&p.period_start).copied().unwrap_or(0);
        d.users += p.users;
        d.conversions += p.conversions;
        d.value_sum += p.value_sum;
        d.weighted += p.weight * n as f64;
        d.weight_users += n;
        d.weight_sum += p.weight;
        d.hours += 1;
    }
    let mut cumulative: Vec<(i64, i64)> = vec![(0, 0); variants.len()];
    days.into_iter()
        .map(|((day, v), d)| {
            cumulative[v].0 += d.users;
            cumulative[v].1 += d.conversions;
            let weight = if d.weight_users > 0 {
                d.weighted / d.weight_users as f64
            } else {
                d.weight_sum / f64::from(d.hours.max(1))
            };
            let rate = if d.users > 0 {
                number(d.conversions as f64 / d.users as f64)
            } else {
                Value::Null
            };
            vec![
                ("day", Value::String(day.format("%Y-%m-%d").to_string())),
                ("variant", Value::String(variants[v].to_string())),
                ("users", Value::from(d.users)),
                ("conversions", Value::from(d.conversions)),
                ("value_sum", number(d.value_sum)),
                ("conversion_rate", rate),
                ("weight", number(weight)),
                ("cumulative_users", Value::from(cumulative[v].0)),
                ("cumulative_conversions", Value::from(cumulative[v].1)),
            ]
        })
        .collect()
}

// ---- the async side ------------------------------------------------------------------------

/// A running export: pages of encoded bytes, then the end (or an error that cuts it short).
pub type ExportStream = mpsc::Receiver<Result<Vec<u8>, EngineError>>;

impl Engine {
    /// Starts an export: checks the experiment exists (so a bad key is a clean 404 before any
    /// byte is sent), then reads and encodes pages on a blocking thread with a database
    /// connection of its own, through a channel of `CHANNEL_PAGES` pages.
    pub async fn export(&self, request: ExportRequest) -> Result<ExportStream, EngineError> {
        self.experiment(&request.experiment).await?;
        let permit = tokio::time::timeout(WAIT_FOR_SLOT, SLOTS.acquire())
            .await
            .map_err(|_| {
                EngineError::Unavailable(format!(
                    "{MAX_CONCURRENT_EXPORTS} exports are already running; retry shortly"
                ))
            })?
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let weights = self
            .snapshot()
            .get(&request.experiment)
            .map(|live| live.policy.allocation().to_vec());
        let url = self.store().url().to_string();
        let (tx, rx) = mpsc::channel(CHANNEL_PAGES);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let outcome = store::connect(&url)
                .map_err(EngineError::from)
                .and_then(|mut conn| {
                    let mut sink = |bytes: Vec<u8>| tx.blocking_send(Ok(bytes)).is_ok();
                    run_export(&mut conn, &request, weights, &mut sink)
                });
            match outcome {
                Ok(rows) => tracing::info!(
                    experiment = %request.experiment,
                    data = request.data.as_str(),
                    rows,
                    "export finished"
                ),
                Err(e) => {
                    tracing::error!(experiment = %request.experiment, error = %e, "export failed");
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        Ok(rx)
    }
}

/// Writes an export to `out` (the command line: a file or stdout), page by page.
pub fn export_to(
    database_url: &str,
    request: &ExportRequest,
    out: &mut dyn Write,
) -> Result<u64, EngineError> {
    let mut conn = store::connect(database_url)?;
    let mut failed: Option<std::io::Error> = None;
    let mut sink = |bytes: Vec<u8>| match out.write_all(&bytes) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    };
    let rows = run_export(&mut conn, request, None, &mut sink)?;
    if let Some(e) = failed {
        return Err(EngineError::Internal(format!(
            "writing the export failed: {e}"
        )));
    }
    out.flush()
        .map_err(|e| EngineError::Internal(format!("writing the export failed: {e}")))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2026-01-31").unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time("2026-01-31T12:30:00+01:00").unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 31, 11, 30, 0).unwrap()
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn csv_escapes_what_needs_it() {
        let mut e = Encoder::new(ExportFormat::Csv, vec!["a".into(), "b".into()]);
        let tricky = Value::String("say \"hi\", then\nleave".into());
        let attrs = serde_json::json!({"city": "Paris, FR"});
        e.write(&[("a", &tricky), ("b", &attrs)]);
        let text = String::from_utf8(e.take()).unwrap();
        assert_eq!(
            text,
            "a,b\r\n\"say \"\"hi\"\", then\nleave\",\"{\"\"city\"\":\"\"Paris, FR\"\"}\"\r\n"
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "say \"hi\", then\nleave");
        assert_eq!(&record[1], "{\"city\":\"Paris, FR\"}");
    }

    #[test]
    fn jsonl_keeps_column_order_and_types() {
        let mut e = Encoder::new(ExportFormat::Jsonl, vec!["z".into(), "a".into()]);
        e.write(&[("a", &Value::from(1)), ("z", &Value::Bool(true))]);
        assert_eq!(
            String::from_utf8(e.take()).unwrap(),
            "{\"z\":true,\"a\":1}\n"
        );
    }

    #[test]
    fn result_columns() {
        let row = |v: Value| {
            let mut out = Vec::new();
            for (k, v) in v.as_object().unwrap().clone() {
                flatten(&k, v, &mut out);
            }
            out
        };
        let rows = vec![
            row(serde_json::json!({"users": 1, "lift": null, "variant": "a", "experiment": "x"})),
            row(
                serde_json::json!({"users": 2, "lift": {"mean": 0.1, "low": 0.0}, "variant": "b", "experiment": "x"}),
            ),
        ];
        assert_eq!(
            columns_of(&rows),
            ["experiment", "variant", "lift_low", "lift_mean", "users"]
        );
    }

    #[test]
    fn hours_sum_into_days() {
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let p = |d, h, variant: &str, users, conversions, weight| SeriesPoint {
            period_start: at(d, h),
            variant: variant.into(),
            users,
            conversions,
            value_sum: 0.0,
            weight,
        };
        let points = vec![
            p(1, 9, "a", 10, 1, 0.5),
            p(1, 9, "b", 10, 2, 0.5),
            p(1, 10, "a", 27, 3, 0.9),
            p(1, 10, "b", 3, 0, 0.1),
            p(2, 0, "a", 1, 1, 0.2),
            p(2, 0, "b", 4, 0, 0.8),
        ];
        let days = daily_series(&points);
        assert_eq!(days.len(), 4);
        let get = |row: &Row, name: &str| row.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(get(&days[0], "day"), "2026-03-01");
        assert_eq!(get(&days[0], "variant"), "a");
        assert_eq!(get(&days[0], "users"), 37);
        assert_eq!(get(&days[0], "conversions"), 4);
        // (0.5 × 20 + 0.9 × 30) / 50
        let w = get(&days[0], "weight").as_f64().unwrap();
        assert!((w - 0.74).abs() < 1e-12, "{w}");
        assert_eq!(get(&days[2], "cumulative_users"), 38);
        assert_eq!(get(&days[3], "cumulative_conversions"), 2);
    }
}
