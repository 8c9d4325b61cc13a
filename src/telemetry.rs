//! Logging through `tracing` (human-readable by default, JSON lines on request) and metrics
//! in Prometheus text.
//!
//! Metrics go through the `metrics` facade into one process-wide Prometheus recorder
//! (installed on first use, no HTTP listener of its own: `GET /metrics` renders it). The
//! engine and the API record through the small functions below, so they never name the
//! exporter.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// How log lines are written: text for a person, JSON lines for a log collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("POSTERIOR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a person at a terminal, plain text in files and log collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

// ---- metric names, in one place ------------------------------------------------------------

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const ASSIGNMENTS: &str = "posterior_assignments_total";
pub const EVENTS: &str = "posterior_events_total";
pub const OFREP_EVALUATIONS: &str = "posterior_ofrep_evaluations_total";
pub const EXPORT_ROWS: &str = "posterior_export_rows_total";
pub const AUTH_FAILURES: &str = "posterior_auth_failures_total";
pub const BATCH_ROWS: &str = "posterior_writer_batch_rows";
pub const BATCH_JOBS: &str = "posterior_writer_batch_jobs";
pub const BATCH_COMMIT: &str = "posterior_writer_commit_seconds";
pub const COMMIT_WAIT: &str = "posterior_writer_wait_seconds";
pub const WRITER_BATCHES: &str = "posterior_writer_batches_total";
pub const WRITER_JOBS: &str = "posterior_writer_jobs_total";
pub const WRITER_ROWS: &str = "posterior_writer_rows_total";
pub const WRITER_FAILED_BATCHES: &str = "posterior_writer_failed_batches_total";
pub const WRITER_TIMEOUTS: &str = "posterior_writer_timeouts_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

/// The process-wide Prometheus recorder, installed on first use. Histograms are drained
/// every few seconds by a small thread (the exporter's own listener would do it; we render
/// through `GET /metrics` instead).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(BATCH_COMMIT.into()), LATENCY_BUCKETS)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(COMMIT_WAIT.into()), LATENCY_BUCKETS)
            })
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_ROWS.into()), SIZE_BUCKETS))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_JOBS.into()), SIZE_BUCKETS))
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("posterior-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (until the response head), by method, route and status"
    );
    describe_counter!(
        ASSIGNMENTS,
        "Assignments answered (new and returning users), by experiment and protocol"
    );
    describe_counter!(
        EVENTS,
        "Events received, by outcome (accepted or duplicate)"
    );
    describe_counter!(
        OFREP_EVALUATIONS,
        "OFREP flag evaluations, by reason or error code"
    );
    describe_counter!(EXPORT_ROWS, "Rows written by exports, by data set");
    describe_counter!(
        "posterior_profile_reads_total",
        "Profiles read for behavioral targeting, by where from (memory or database)"
    );
    describe_counter!(
        "posterior_profile_read_batches_total",
        "Queries that read profiles not in memory (each answers every read waiting)"
    );
    describe_counter!(
        "posterior_enrollment_reads_total",
        "Users' stored enrollments (sticky assignments, holdout) read at assignment, by where \
         from (memory or database)"
    );
    describe_counter!(
        "posterior_enrollment_read_batches_total",
        "Queries that read enrollments not in memory (each answers every read waiting)"
    );
    describe_gauge!(
        "posterior_user_cache_entries",
        "Enrollments and profiles kept in memory"
    );
    describe_gauge!(
        "posterior_user_cache_bytes",
        Unit::Bytes,
        "What the enrollments and profiles kept in memory weigh (bounded by --cache-mb)"
    );
    describe_counter!(
        AUTH_FAILURES,
        "Failed authentications (unknown or revoked keys, refused sign-ins), by outcome: \
         counted (401) or throttled (429, the address is over its budget)"
    );
    describe_histogram!(
        BATCH_ROWS,
        "Rows (assignments, holdout records and events) per group-commit transaction"
    );
    describe_histogram!(BATCH_JOBS, "Requests sharing one group-commit transaction");
    describe_histogram!(
        BATCH_COMMIT,
        Unit::Seconds,
        "Time from taking a group-commit batch to its commit"
    );
    describe_histogram!(
        COMMIT_WAIT,
        Unit::Seconds,
        "Time a request waits for its writes to be committed (queue + commit)"
    );
    describe_gauge!(
        "posterior_snapshot_age_seconds",
        Unit::Seconds,
        "Age of the in-memory snapshot of experiments and posteriors"
    );
    describe_gauge!(
        "posterior_db_pool_connections",
        "Request-side database pool connections, by state (open, idle, in_use)"
    );
    describe_gauge!(
        "posterior_experiments",
        "Experiments known to this instance, by status"
    );
    describe_counter!(WRITER_BATCHES, "Group-commit transactions run");
    describe_counter!(WRITER_JOBS, "Requests served by the group-commit writer");
    describe_counter!(
        WRITER_ROWS,
        "Rows written or looked up by the group-commit writer"
    );
    describe_counter!(
        WRITER_FAILED_BATCHES,
        "Group-commit transactions that failed"
    );
    describe_counter!(
        WRITER_TIMEOUTS,
        "Writes answered 503 because their commit took longer than the write timeout"
    );
    // The writer's counters are listed from the start, at zero, as before anything happened.
    for counter in [
        WRITER_BATCHES,
        WRITER_JOBS,
        WRITER_ROWS,
        WRITER_FAILED_BATCHES,
        WRITER_TIMEOUTS,
    ] {
        metrics::counter!(counter).absolute(0);
    }
}

// ---- hooks for the engine (cheap: a no-op until the recorder is installed) -----------------

/// One group-commit transaction: its rows, its jobs (requests), and how long it took.
pub fn record_batch(rows: usize, jobs: usize, took: Duration) {
    metrics::counter!(WRITER_BATCHES).increment(1);
    metrics::counter!(WRITER_JOBS).increment(jobs as u64);
    metrics::counter!(WRITER_ROWS).increment(rows as u64);
    metrics::histogram!(BATCH_ROWS).record(rows as f64);
    metrics::histogram!(BATCH_JOBS).record(jobs as f64);
    metrics::histogram!(BATCH_COMMIT).record(took.as_secs_f64());
}

/// How long a request waited for the writer to commit its rows.
pub fn record_commit_wait(waited: Duration) {
    metrics::histogram!(COMMIT_WAIT).record(waited.as_secs_f64());
}

/// A group-commit transaction that failed (its requests were answered with an error).
pub fn record_failed_batch() {
    metrics::counter!(WRITER_FAILED_BATCHES).increment(1);
}

/// A write answered 503 because its commit took longer than the write timeout.
pub fn record_write_timeout() {
    metrics::counter!(WRITER_TIMEOUTS).increment(1);
}
