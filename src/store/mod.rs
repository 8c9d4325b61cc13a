//! The only module that speaks SQL: diesel over PostgreSQL.
//!
//! Blocking by nature (diesel is synchronous): callers on the async side go through
//! `Store::run` (a `spawn_blocking` with a pooled connection); the group-commit writer
//! threads own their connections and call the batch functions directly.

pub mod audit;
pub mod batch;
pub mod covariates;
pub mod decisions;
pub mod enrollments;
mod experiments;
pub mod export;
pub mod guardrails;
mod keys;
pub mod metric_history;
pub mod metric_sums;
mod metric_usage;
pub mod metric_values;
mod metrics;
mod models;
pub mod partitions;
mod prepared;
pub mod profiles;
pub mod schema;
mod segments;
mod setup;
mod stats;
pub mod user_lookup;
pub mod webhooks;

pub use experiments::UpdateError;
pub use setup::{connect, ensure_database, run_migrations};
pub use stats::{ContextStats, OpeCell, PeriodStats, VariantStats};

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use std::time::Duration;

pub type Connection = PgConnection;
type PgPool = Pool<ConnectionManager<PgConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    /// The change refers to something that does not exist (an unknown segment).
    #[error(transparent)]
    Invalid(#[from] crate::domain::ValidationError),
    /// The change conflicts with what is stored (a key taken, overlapping layers, a segment
    /// in use).
    #[error("{0}")]
    Conflict(crate::domain::Conflict),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
}

impl StoreError {
    /// Deadlocks and serialization failures: the whole transaction can simply run again.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        matches!(
            self,
            StoreError::Query(Error::DatabaseError(
                DatabaseErrorKind::SerializationFailure,
                _
            ))
        ) || matches!(self, StoreError::Query(Error::DatabaseError(_, info)) if info.message().contains("deadlock"))
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => StoreError::Conflict(
                crate::domain::Conflict::Duplicate(info.message().to_string()),
            ),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_connection_failure(info.message()) =>
            {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Query(other),
        }
    }
}

fn is_connection_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "server closed the connection",
        "connection refused",
        "terminating connection",
        "no connection",
        "could not connect",
        "the database system is",
        "could not receive data",
        "could not send data",
        "connection reset",
        "broken pipe",
        "connection timed out",
        "timeout expired",
        "ssl syscall",
        "eof detected",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// A pool of connections for the request side (admin actions, results, refreshes).
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    url: String,
}

impl Store {
    pub fn new(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let manager = ConnectionManager::<PgConnection>::new(setup::with_connect_timeout(url));
        let pool = Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(1))
            // Fail fast when the database is down, so callers can answer 503 quickly.
            .connection_timeout(Duration::from_secs(2))
            // A connection the database dropped (restart, failover, network cut) looks fine
            // until used: test each one on check-out so a dead one is replaced, not handed out
            // again and again. This pool serves admin requests and refreshes, never the hot
            // path, so the extra round trip costs nothing that matters.
            .test_on_check_out(true)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            url: url.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn connection(
        &self,
    ) -> Result<PooledConnection<ConnectionManager<PgConnection>>, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking database work on tokio's blocking pool with a pooled connection.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// Pool use, for metrics: (connections open, connections idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }
}

pub use audit::{NewAuditEntry, audit_newest, audit_page, audited, insert_audit};
pub use experiments::{get_experiment, insert_experiment, list_experiments, update_experiment};
pub use keys::{count_active_keys, get_key, insert_key, list_keys, revoke_key, touch_keys};
pub use metric_usage::{MetricUseRow, metric_uses};
pub use metrics::{
    delete_metric, experiments_using_metric, get_metric, insert_metric, list_metrics,
    metrics_by_key, save_experiment_metrics, update_metric,
};
pub use segments::{
    HoldoutCounts, delete_segment, get_holdout, get_segment, holdout_counts, insert_segment,
    list_segments, set_holdout, update_segment,
};
pub use stats::{
    delete_user, erasures_since, latest_erasure, load_context_stats, load_period_stats,
    load_variant_stats, ope_cells, purge_erasures,
};
pub use webhooks::{delete_webhook, get_webhook, insert_webhook, list_webhooks, queue_deliveries};

/// `SELECT 1`: is the database reachable?
pub fn ping(conn: &mut PgConnection) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

// ---- the dashboard's session secret (added with the dashboard) ----
mod sessions;
pub use sessions::{end_session, session_ended, session_secret};
