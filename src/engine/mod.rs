//! The engine: assignment, event intake and experiment lifecycle, over the store.
//!
//! It owns the compiled in-memory state (`Snapshot`, rebuilt from the database every
//! second and after every local change), the user cache, and the group-commit writer.
//! Returning users are answered from memory; anything new is made durable before answering.
//!
//! Where things are: the hot path in `assign`, events in `track`, experiments in
//! `lifecycle`, segments and the holdout in `segments` and `holdout`, erasure in `users`,
//! reloading the state in `refresh`, the loops that run beside requests in `background`,
//! keys in `keys`, the audit log in `audit`, dashboard sessions in `sessions`, settings in
//! `settings`, errors in `error`.

mod assign;
mod attribution;
pub mod audience;
pub mod audit;
mod background;
mod cache;
mod consent;
pub mod context;
pub mod context_results;
pub mod counting;
mod covariates;
mod decisions;
mod error;
pub mod export;
pub mod factorial_results;
pub mod guardrails;
pub mod hashing;
pub mod history;
mod holdout;
pub mod keys;
mod library;
mod lifecycle;
pub mod metric_results;
pub mod metric_sums;
pub mod ope;
mod personal_timing;
mod policy;
mod profiles;
mod recompute;
mod refresh;
pub mod results;
mod retention;
mod segments;
pub mod sessions;
mod settings;
mod snapshot;
pub mod summaries;
pub mod throttle;
mod track;
mod user_cache;
mod users;
mod verdict;
pub mod webhooks;
mod writer;

pub use assign::{Assigned, Assignments};
pub use audit::Actor;
pub use background::Background;
pub use consent::Consent;
pub use error::EngineError;
pub use holdout::{HoldoutGroup, HoldoutResults};
pub use library::MetricUse;
pub use lifecycle::Transition;
pub use policy::{Policy, Posteriors};
pub use profiles::UserLookup;
pub use results::{ExperimentResults, Overview};
pub use retention::{EVENT_PARTITIONS_AHEAD, Purged, create_event_partitions};
pub use settings::{EngineSettings, Limits, WebhookSettings};
pub use snapshot::{LiveExperiment, Snapshot};
pub use track::IncomingEvent;
pub use writer::TrackReceipt;

use crate::domain::Scope;
use crate::store::{self, Store};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use writer::{Writer, WriterSettings};

struct Inner {
    store: Store,
    snapshot: ArcSwap<Snapshot>,
    writer: Writer,
    keys: keys::KeyRing,
    /// Failed authentications per client address (touched only when a key is refused).
    auth_throttle: throttle::AuthThrottle,
    refresh_lock: tokio::sync::Mutex<()>,
    results_cache: results::ResultsCache,
    ope_cache: ope::OpeCache,
    /// Per experiment, the CUPED covariate sums as the background last read them.
    covariate_sums: covariates::CovariateSumsCache,
    /// What this instance last wrote of each experiment's history.
    history_written: history::Written,
    settings: EngineSettings,
    /// Each user's enrollment (sticky assignments, holdout) and profile, under one budget.
    users: Arc<user_cache::UserCache>,
    /// The population's hour of each event personal payloads name.
    population_hours: ArcSwap<personal_timing::PopulationHours>,
    /// This instance's writers announce changed profiles through it.
    announcer: writer::ProfileAnnouncer,
    /// The connection that hears other instances' announcements (while profiles are read).
    profile_listener: std::sync::Mutex<Option<diesel::PgConnection>>,
    /// The latest erasure this instance applied to its user cache.
    erasure_watermark: AtomicI64,
    /// Signs dashboard session cookies (loaded from the database at first use).
    cookie_signer: tokio::sync::OnceCell<sessions::CookieSigner>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Connects, loads the first snapshot and starts the writer threads. The database must
    /// exist and be migrated.
    pub async fn start(settings: EngineSettings) -> Result<Engine, EngineError> {
        let store = Store::new(&settings.database_url, settings.pool_size)?;
        let announcer = writer::ProfileAnnouncer {
            enabled: Arc::default(),
            instance: format!("{:016x}", rand::random::<u64>()).into(),
        };
        let writer = Writer::start(WriterSettings {
            database_url: settings.database_url.clone(),
            threads: settings.writer_threads,
            max_batch_rows: settings.max_batch_rows,
            drop_unassigned_events: settings.consent.is_some(),
            profiles: settings.profiles,
            announce: announcer.clone(),
            reply_timeout: settings.write_timeout,
        });
        let keys = keys::KeyRing::new(&settings.static_keys, settings.default_rate_limit);
        let users = user_cache::UserCache::start(
            store.clone(),
            settings.cache_bytes,
            settings.write_timeout,
        );
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                snapshot: ArcSwap::from_pointee(Snapshot::empty()),
                writer,
                keys,
                auth_throttle: throttle::AuthThrottle::new(settings.auth_throttle),
                refresh_lock: tokio::sync::Mutex::new(()),
                results_cache: results::ResultsCache::default(),
                ope_cache: ope::OpeCache::default(),
                covariate_sums: covariates::CovariateSumsCache::default(),
                history_written: history::Written::default(),
                settings,
                users,
                announcer,
                profile_listener: std::sync::Mutex::new(None),
                population_hours: ArcSwap::from_pointee(Default::default()),
                erasure_watermark: AtomicI64::new(0),
                cookie_signer: tokio::sync::OnceCell::new(),
            }),
        };
        // The caches start empty: only erasures from now on matter.
        let latest = engine.inner.store.run(store::latest_erasure).await?;
        engine
            .inner
            .erasure_watermark
            .store(latest, Ordering::Relaxed);
        engine.refresh().await?;
        Ok(engine)
    }

    /// The request-side connection pool (admin actions, results, refreshes); the engine's
    /// own: callers above ask the engine, never the store.
    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn results_cache(&self) -> &results::ResultsCache {
        &self.inner.results_cache
    }

    fn ope_cache(&self) -> &ope::OpeCache {
        &self.inner.ope_cache
    }

    fn key_ring(&self) -> &keys::KeyRing {
        &self.inner.keys
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    /// The scope of a presented key, if the server accepts it (without counting the request
    /// against the key's rate limit: for signing in).
    pub fn authorize(&self, presented: &str) -> Option<Scope> {
        self.inner.keys.scope(presented)
    }

    /// Which key this is, and whether it is within its rate limit (every API request).
    pub fn check_key(&self, presented: &str) -> keys::KeyCheck {
        self.inner.keys.check(presented)
    }

    /// Counts a failed authentication (an unknown or revoked key, a refused sign-in) from
    /// `peer`: `Err(wait)` once the address is over its budget. Never called for a
    /// request whose key is accepted.
    pub fn authentication_failed(
        &self,
        peer: throttle::PeerAddress,
    ) -> Result<(), std::time::Duration> {
        let outcome = self.inner.auth_throttle.fail(peer);
        let label = if outcome.is_ok() {
            "counted"
        } else {
            "throttled"
        };
        metrics::counter!(crate::telemetry::AUTH_FAILURES, "outcome" => label).increment(1);
        outcome
    }

    /// Forgets idle addresses of the failure throttle (at most once a second).
    pub fn sweep_auth_throttle(&self) {
        self.inner.auth_throttle.sweep();
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.settings.limits
    }

    /// Request-side pool use, for metrics: (connections open, connections idle).
    pub fn pool_state(&self) -> (u32, u32) {
        self.store().pool_state()
    }

    /// Finishes the queued writes and stops the writer threads.
    pub async fn shutdown(&self) {
        self.inner.writer.stop().await;
    }

    pub async fn ping(&self) -> Result<(), EngineError> {
        Ok(self.store().run(store::ping).await?)
    }
}
