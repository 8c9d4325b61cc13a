//! Settings from command-line flags and the environment (flags win).

use crate::domain::{RangeError, TimeRange};
use crate::engine::export::{ExportData, ExportFormat};
use crate::engine::{Consent, EngineSettings, Limits};
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::time::Duration;

pub use crate::engine::throttle::AuthThrottleSettings;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/posterior";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Debug, Parser)]
#[command(
    name = "posterior",
    version,
    about = "Experimentation server for personalization"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates the database and runs migrations first).
    Serve(ServeArgs),
    /// Create the database if needed and run the migrations, then exit.
    Migrate(DatabaseArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Export the audit log of admin actions (oldest first), straight from the database.
    Audit(DownloadArgs),
    /// Export an experiment's results, assignments, events or daily series, straight from
    /// the database, streamed page by page (the same output as the HTTP export).
    Export(ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The experiment's key.
    pub experiment: String,
    /// What to export.
    #[arg(long, value_enum)]
    pub data: ExportData,
    #[command(flatten)]
    pub download: DownloadArgs,
}

/// What an export covers and where it goes (`export` and `audit`).
#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Start of the range (inclusive): RFC 3339 time or YYYY-MM-DD (midnight UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range (exclusive), same forms as --from; after --from.
    #[arg(long)]
    pub to: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

impl DownloadArgs {
    pub fn range(&self) -> Result<TimeRange, RangeError> {
        TimeRange::parse(self.from.as_deref(), self.to.as_deref())
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        #[arg(long, value_enum)]
        scope: crate::domain::Scope,
        /// A name saying who or what uses the key.
        #[arg(long, alias = "label", default_value = "")]
        name: String,
        /// Requests per second this key may make (default: the server's POSTERIOR_RATE_LIMIT,
        /// or unlimited).
        #[arg(long)]
        rate_limit: Option<f64>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List keys (ids, scopes, names, a hash prefix; never the keys themselves).
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: i64,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL; the database is created when missing.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "POSTERIOR_BIND", default_value = DEFAULT_BIND)]
    pub bind: String,
    /// An admin key the server accepts (besides keys created with `posterior keys create`).
    #[arg(long, env = "POSTERIOR_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// A client key the server accepts.
    #[arg(long, env = "POSTERIOR_CLIENT_KEY", hide_env_values = true)]
    pub client_key: Option<String>,
    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "POSTERIOR_WORKERS")]
    pub workers: Option<usize>,
    /// Group-commit writer threads, each with its own database connection and its own
    /// partition of the users.
    #[arg(long, env = "POSTERIOR_WRITER_THREADS", default_value_t = 2)]
    pub writer_threads: usize,
    /// Keep behavioral profiles (per user and event name: counts, sums, hours) in the events'
    /// transaction, for behavioral targeting and personal send times. On by default;
    /// `--profiles false` saves tracking their cost (docs/benchmark.md) and refuses both.
    #[arg(long, env = "POSTERIOR_PROFILES", default_value_t = true, action = clap::ArgAction::Set)]
    pub profiles: bool,
    /// The most memory (MiB) that what is kept of users may take: their sticky assignments,
    /// holdout records and profiles. Users beyond it are read from PostgreSQL in batched,
    /// indexed lookups when they return. (`--profile-memory-mb` is the old name.)
    #[arg(
        long,
        env = "POSTERIOR_CACHE_MB",
        alias = "profile-memory-mb",
        default_value_t = 256
    )]
    pub cache_mb: u64,
    /// Rows (assignments + events) after which a group-commit batch closes.
    #[arg(long, env = "POSTERIOR_MAX_BATCH_ROWS", default_value_t = 5000)]
    pub max_batch_rows: usize,
    /// Connections for admin requests, results and refreshes.
    #[arg(long, env = "POSTERIOR_POOL_SIZE", default_value_t = 8)]
    pub pool_size: u32,
    /// How often (ms) posteriors, bandit weights and definitions are reloaded from the database.
    #[arg(long, env = "POSTERIOR_REFRESH_MS", default_value_t = 1000)]
    pub refresh_ms: u64,
    /// Log format: human-readable text or JSON lines.
    #[arg(long, env = "POSTERIOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The user attribute that carries consent (e.g. `consent`). When set, a user whose
    /// value is not true/1/"true"/"1"/"yes" gets no assignment and nothing of theirs is
    /// stored, and events of users without any assignment are not stored. Unset: no check.
    #[arg(long, env = "POSTERIOR_CONSENT_ATTRIBUTE")]
    pub consent_attribute: Option<String>,
    /// With a consent attribute: a user whose attributes lack it counts as not consenting.
    #[arg(long, env = "POSTERIOR_CONSENT_REQUIRED", default_value_t = false, action = clap::ArgAction::Set)]
    pub consent_required: bool,
    /// Delete raw events that happened more than this many days ago, a whole day at a time
    /// (statistics are kept). Unset: keep raw events forever.
    #[arg(long, env = "POSTERIOR_EVENT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub event_retention_days: Option<u32>,
    /// How long (ms) a write (new assignment, events, erasure) waits for its commit before
    /// answering 503 with Retry-After: a database that stops answering costs seconds, not a hang.
    #[arg(long, env = "POSTERIOR_WRITE_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub write_timeout_ms: u64,
    /// How often (seconds) the retention task runs.
    #[arg(long, env = "POSTERIOR_RETENTION_INTERVAL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub retention_interval_secs: u64,
    /// Requests per second allowed to each key that has no limit of its own (unset: unlimited).
    #[arg(long, env = "POSTERIOR_RATE_LIMIT")]
    pub rate_limit: Option<f64>,
    /// Failed authentications (unknown or revoked keys, refused dashboard sign-ins) allowed
    /// per client address per minute, after the burst; more get 429 (valid keys still work).
    #[arg(long, env = "POSTERIOR_AUTH_FAILURES_PER_MINUTE", default_value_t = AuthThrottleSettings::DEFAULT.failures_per_minute)]
    pub auth_failures_per_minute: f64,
    /// Failed authentications an address may make at once before the per-minute rate applies.
    #[arg(long, env = "POSTERIOR_AUTH_FAILURE_BURST", default_value_t = AuthThrottleSettings::DEFAULT.burst)]
    pub auth_failure_burst: u32,
    /// Most client addresses the failure throttle tracks at once (idle ones are forgotten).
    #[arg(long, env = "POSTERIOR_AUTH_THROTTLE_MAX_ADDRESSES", default_value_t = AuthThrottleSettings::DEFAULT.max_addresses)]
    pub auth_throttle_max_addresses: usize,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long, env = "POSTERIOR_MAX_BODY_BYTES", default_value_t = Limits::DEFAULT.max_body_bytes)]
    pub max_body_bytes: usize,
    /// Most events in one track request.
    #[arg(long, env = "POSTERIOR_MAX_EVENTS_PER_REQUEST", default_value_t = Limits::DEFAULT.max_events_per_request)]
    pub max_events_per_request: usize,
    /// Most attributes per user in one request (at most 50).
    #[arg(long, env = "POSTERIOR_MAX_ATTRIBUTES", default_value_t = Limits::DEFAULT.max_attributes)]
    pub max_attributes: usize,
    /// Longest attribute name, in bytes (at most 64).
    #[arg(long, env = "POSTERIOR_MAX_ATTRIBUTE_NAME_BYTES", default_value_t = Limits::DEFAULT.max_attribute_name_bytes)]
    pub max_attribute_name_bytes: usize,
    /// Longest string attribute value, in bytes (at most 256).
    #[arg(long, env = "POSTERIOR_MAX_ATTRIBUTE_VALUE_BYTES", default_value_t = Limits::DEFAULT.max_attribute_value_bytes)]
    pub max_attribute_value_bytes: usize,
    /// Longest user id, in bytes (at most 256).
    #[arg(long, env = "POSTERIOR_MAX_USER_ID_BYTES", default_value_t = Limits::DEFAULT.max_user_id_bytes)]
    pub max_user_id_bytes: usize,
    /// Longest experiment or variant name, in bytes (at most 200).
    #[arg(long, env = "POSTERIOR_MAX_NAME_BYTES", default_value_t = Limits::DEFAULT.max_name_bytes)]
    pub max_name_bytes: usize,
}

/// Everything the server needs to start; tests build it directly.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub admin_key: Option<String>,
    pub client_key: Option<String>,
    pub workers: Option<usize>,
    /// What the engine runs with (the two keys above join its `static_keys` at start).
    pub engine: EngineSettings,
}

impl Settings {
    /// Defaults for everything but the database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            bind: DEFAULT_BIND.into(),
            admin_key: None,
            client_key: None,
            workers: None,
            engine: EngineSettings::new(database_url),
        }
    }
}

impl From<ServeArgs> for Settings {
    fn from(a: ServeArgs) -> Self {
        let engine = EngineSettings {
            database_url: a.db.database_url,
            static_keys: Vec::new(),
            writer_threads: a.writer_threads,
            max_batch_rows: a.max_batch_rows,
            profiles: a.profiles,
            cache_bytes: a.cache_mb << 20,
            pool_size: a.pool_size,
            refresh_interval: Duration::from_millis(a.refresh_ms.max(50)),
            default_rate_limit: a.rate_limit,
            limits: Limits {
                max_body_bytes: a.max_body_bytes,
                max_events_per_request: a.max_events_per_request,
                max_attributes: a.max_attributes,
                max_attribute_name_bytes: a.max_attribute_name_bytes,
                max_attribute_value_bytes: a.max_attribute_value_bytes,
                max_user_id_bytes: a.max_user_id_bytes,
                max_name_bytes: a.max_name_bytes,
            },
            consent: a
                .consent_attribute
                .filter(|c| !c.is_empty())
                .map(|attribute| Consent {
                    attribute,
                    required: a.consent_required,
                }),
            event_retention: a
                .event_retention_days
                .map(|d| chrono::TimeDelta::days(i64::from(d))),
            retention_interval: Duration::from_secs(a.retention_interval_secs),
            write_timeout: Duration::from_millis(a.write_timeout_ms),
            auth_throttle: AuthThrottleSettings {
                failures_per_minute: a.auth_failures_per_minute,
                burst: a.auth_failure_burst,
                max_addresses: a.auth_throttle_max_addresses,
            },
            webhooks: crate::engine::WebhookSettings::DEFAULT,
        };
        Self {
            bind: a.bind,
            admin_key: a.admin_key.filter(|k| !k.is_empty()),
            client_key: a.client_key.filter(|k| !k.is_empty()),
            workers: a.workers,
            engine,
        }
    }
}
