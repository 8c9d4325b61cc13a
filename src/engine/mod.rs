//! The engine: assignment, event intake and experiment lifecycle, over the store.
//!
//! It owns the compiled in-memory state (`Snapshot`, rebuilt from the database every
//! second and after every local change), the sticky caches, and the group-commit writer.
//! Returning users are answered from memory; anything new is made durable before answering.

mod attribution;
pub mod audience;
pub mod audit;
mod consent;
pub mod contextual;
pub mod export;
pub mod hashing;
mod holdout;
pub mod keys;
pub mod ope;
pub mod results;
mod segments;
pub mod sessions;
mod snapshot;
mod sticky;
pub mod summaries;
pub mod throttle;
pub mod writer;

/// What erasing a user removed (the API answers it).
pub use crate::store::Erased;
pub use audit::Actor;
pub use consent::Consent;
pub use holdout::{HoldoutGroup, HoldoutResults};
pub use results::{ExperimentResults, Overview};
pub use snapshot::{LiveExperiment, Policy, Posteriors, Snapshot};
pub use writer::TrackReceipt;

use crate::domain::{
    Attributes, EventName, Experiment, ExperimentDraft, ExperimentKey, ExperimentPatch, Scope,
    Status, UserId, ValidationError, VariantKey,
};
use crate::store::{self, NewAuditEntry, Store, StoreError, UpdateError, batch};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use sticky::Known;
use writer::{PendingAssignment, Writer, WriterSettings};

/// Everything that can go wrong in the engine, in terms the API maps to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no experiment has the key {0:?}")]
    UnknownExperiment(String),
    #[error("no segment has the key {0:?}")]
    UnknownSegment(String),
    #[error("experiment {experiment:?} has no variant {variant:?}")]
    UnknownVariant { experiment: String, variant: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => EngineError::Unavailable(m),
            StoreError::AlreadyExists(m) => EngineError::Conflict(m),
            StoreError::Invalid(v) => EngineError::Invalid(v),
            StoreError::Conflict(m) => EngineError::Conflict(m),
            StoreError::NotFound => EngineError::Internal("a row vanished".into()),
            StoreError::Query(e) => EngineError::Internal(e.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub database_url: String,
    pub pool_size: u32,
    pub writer_threads: usize,
    pub max_batch_rows: usize,
    /// How often posteriors, bandit weights and experiment definitions are reloaded.
    pub refresh_interval: Duration,
    /// Keys given in the environment (accepted in addition to the stored ones).
    pub static_keys: Vec<(String, Scope)>,
    /// Requests per second for keys without a limit of their own; `None`: unlimited.
    pub default_rate_limit: Option<f64>,
    /// Input limits the API enforces.
    pub limits: crate::config::Limits,
    /// When set, users without consent get no assignment and nothing of theirs is stored.
    pub consent: Option<Consent>,
    /// Raw events older than this (by arrival) are deleted; `None` keeps them forever.
    pub event_retention: Option<chrono::TimeDelta>,
    /// How often the retention task runs.
    pub retention_interval: Duration,
    /// How long a write waits for its commit before answering 503.
    pub write_timeout: Duration,
    /// The budget of failed authentications per client address.
    pub auth_throttle: throttle::AuthThrottleSettings,
}

/// Erasures are re-read for this long after they happened, so that one committed after a
/// later-numbered one is not missed by the refresh that already moved past its id.
const ERASURE_REREAD: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The erasure log is kept this long (every live instance has read it within a refresh).
const ERASURE_LOG_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Raw events deleted per statement by the retention task.
const PURGE_BATCH: i64 = 10_000;

/// What one run of the retention task deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    pub erasures: u64,
}

/// One answer of `assign`: the experiment (with its payloads) and the variant's index.
pub struct Assigned {
    pub experiment: Arc<LiveExperiment>,
    pub variant: usize,
    /// The segment of the pinned rule that decided, when a rule did (the user is then not
    /// part of the experiment); `None` for an experimental assignment or a winner.
    pub rule: Option<Arc<str>>,
}

/// What `assign` answers: the user's assignments, and whether the user is held out (then
/// there are none). Reads as the slice of assignments.
#[derive(Default)]
pub struct Assignments {
    pub items: Vec<Assigned>,
    pub holdout: bool,
}

impl std::ops::Deref for Assignments {
    type Target = [Assigned];
    fn deref(&self) -> &[Assigned] {
        &self.items
    }
}

impl IntoIterator for Assignments {
    type Item = Assigned;
    type IntoIter = std::vec::IntoIter<Assigned>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl Assigned {
    pub fn variant(&self) -> &snapshot::LiveVariant {
        &self.experiment.variants[self.variant]
    }
}

/// A status change asked of an experiment.
#[derive(Debug, Clone)]
pub enum Transition {
    Start,
    Pause,
    Stop { winner: Option<VariantKey> },
}

/// An event as the API parsed it.
pub struct IncomingEvent {
    pub event_id: Option<String>,
    pub user_id: UserId,
    pub name: EventName,
    pub value: Option<f64>,
    pub timestamp: Option<DateTime<Utc>>,
}

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
    settings: EngineSettings,
    /// Held-out users this instance has recorded (so each is written once).
    holdout_known: sticky::StickyCache,
    /// The latest erasure this instance applied to its sticky caches.
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
        let writer = Writer::start(WriterSettings {
            database_url: settings.database_url.clone(),
            threads: settings.writer_threads,
            max_batch_rows: settings.max_batch_rows,
            drop_unassigned_events: settings.consent.is_some(),
            reply_timeout: settings.write_timeout,
        });
        let keys = keys::KeyRing::new(&settings.static_keys, settings.default_rate_limit);
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
                settings,
                holdout_known: sticky::StickyCache::default(),
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

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn results_cache(&self) -> &results::ResultsCache {
        &self.inner.results_cache
    }

    pub(crate) fn ope_cache(&self) -> &ope::OpeCache {
        &self.inner.ope_cache
    }

    pub(crate) fn key_ring(&self) -> &keys::KeyRing {
        &self.inner.keys
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    pub fn writer_counters(&self) -> &writer::WriterCounters {
        &self.inner.writer.counters
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

    pub fn limits(&self) -> &crate::config::Limits {
        &self.inner.settings.limits
    }

    /// Reloads experiments, statistics and keys from the database and swaps the snapshot.
    pub async fn refresh(&self) -> Result<(), EngineError> {
        let _one_at_a_time = self.inner.refresh_lock.lock().await;
        let key_ticket = self.inner.keys.ticket();
        let watermark = self.inner.erasure_watermark.load(Ordering::Relaxed);
        let (experiments, stats, context_stats, keys, erasures, segments, holdout) = self
            .inner
            .store
            .run(move |conn| {
                let experiments = store::list_experiments(conn)?;
                let stats = store::load_variant_stats(conn, None)?;
                let context_stats = store::load_context_stats(conn, None)?;
                let keys = store::list_keys(conn)?;
                let erasures = store::erasures_since(conn, watermark, Utc::now() - ERASURE_REREAD)?;
                let segments = store::list_segments(conn)?;
                let holdout = store::get_holdout(conn)?;
                Ok((
                    experiments,
                    stats,
                    context_stats,
                    keys,
                    erasures,
                    segments,
                    holdout,
                ))
            })
            .await?;
        let mut by_experiment: HashMap<i64, Vec<store::VariantStats>> = HashMap::new();
        for s in stats {
            by_experiment.entry(s.experiment_id).or_default().push(s);
        }
        let mut contexts_by_experiment: HashMap<i64, Vec<store::ContextStats>> = HashMap::new();
        for s in context_stats {
            contexts_by_experiment
                .entry(s.experiment_id)
                .or_default()
                .push(s);
        }
        self.inner.keys.replace(key_ticket, keys);
        let previous = self.inner.snapshot.load_full();
        // Compiling bandit posteriors is CPU work (quadrature): keep it off the async threads.
        let next = tokio::task::spawn_blocking(move || {
            let segments = audience::SegmentCatalog::new(segments);
            Snapshot::rebuild(
                &previous,
                experiments,
                by_experiment,
                contexts_by_experiment,
                segments,
                holdout,
            )
        })
        .await
        .map_err(|e| EngineError::Internal(format!("snapshot rebuild failed: {e}")))?;
        self.inner.snapshot.store(Arc::new(next));
        // Users erased anywhere (this instance included, which also covers an assignment
        // cached by a request that raced the erasure) leave the sticky caches.
        for &(_, user_key) in &erasures {
            self.forget_user(user_key);
        }
        if let Some(&(latest, _)) = erasures.iter().max_by_key(|e| e.0) {
            self.inner
                .erasure_watermark
                .fetch_max(latest, Ordering::Relaxed);
        }
        Ok(())
    }

    fn forget_user(&self, user_key: u128) {
        for experiment in &self.inner.snapshot.load().experiments {
            experiment.sticky.remove(user_key);
        }
        self.inner.holdout_known.remove(user_key);
    }

    /// Refreshes every `refresh_interval` until `shutdown` fires.
    pub async fn run_refresh_loop(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.inner.settings.refresh_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    // A refresh waiting on an unreachable database must not hold up shutdown.
                    tokio::select! {
                        refreshed = self.refresh() => if let Err(e) = refreshed {
                            tracing::warn!(error = %e, "refresh failed; serving the previous snapshot");
                        },
                        _ = shutdown.changed() => break,
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Runs the retention task every `retention_interval` until `shutdown` fires.
    pub async fn run_retention_loop(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        // The first run comes soon after start (so that frequent restarts cannot keep it from
        // ever running), not at once (start-up has enough to do).
        let every = self.inner.settings.retention_interval;
        let first = tokio::time::Instant::now() + every.min(Duration::from_secs(60));
        let mut ticker = tokio::time::interval_at(first, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    tokio::select! {
                        purged = self.purge_expired() => match purged {
                            Ok(p) if p.events > 0 || p.erasures > 0 => tracing::info!(
                                events = p.events, erasures = p.erasures, "retention: deleted expired rows"
                            ),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "retention run failed; will retry"),
                        },
                        _ = shutdown.changed() => break,
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// One run of the retention task: deletes raw events that arrived longer ago than the
    /// retention (when one is set), in batches, leaving the statistics as they are; and the
    /// erasure log's old rows.
    pub async fn purge_expired(&self) -> Result<Purged, EngineError> {
        let retention = self.inner.settings.event_retention;
        Ok(self
            .inner
            .store
            .run(move |conn| {
                let now = Utc::now();
                let events = match retention {
                    Some(r) => store::purge_events(conn, now - r, PURGE_BATCH)?,
                    None => 0,
                };
                let erasures = store::purge_erasures(conn, now - ERASURE_LOG_KEPT)?;
                Ok(Purged { events, erasures })
            })
            .await?)
    }

    /// Finishes the queued writes and stops the writer threads.
    pub async fn shutdown(&self) {
        self.inner.writer.stop().await;
    }

    // ---- the hot path -------------------------------------------------------------------

    /// The variants of `user` in the experiments asked for (every live one when `None`).
    ///
    /// Order of decisions: the holdout (a held-out user gets nothing at all, and is recorded
    /// once if an experiment would have taken them); per experiment its status, its targeting, its pinned rules (the first matching
    /// rule decides, unless the user already has an experimental assignment, which stays:
    /// sticky wins), its layer range and traffic, and finally the sticky or new assignment.
    pub async fn assign(
        &self,
        user: &UserId,
        attributes: &Attributes,
        only: Option<&[ExperimentKey]>,
    ) -> Result<Assignments, EngineError> {
        let snapshot = self.inner.snapshot.load_full();
        let candidates: Vec<&Arc<LiveExperiment>> = match only {
            Some(keys) => keys
                .iter()
                .map(|k| {
                    snapshot
                        .get(k.as_str())
                        .ok_or_else(|| EngineError::UnknownExperiment(k.to_string()))
                })
                .collect::<Result<_, _>>()?,
            None => snapshot.experiments.iter().collect(),
        };
        if let Some(consent) = &self.inner.settings.consent
            && !consent.allows(attributes)
        {
            // No assignment, nothing stored, nothing cached (nor held out).
            return Ok(Assignments::default());
        }
        let user_id = user.as_str();
        let user_key = hashing::user_key(user_id);
        if holdout::in_holdout(snapshot.holdout, user_id) {
            // Recorded only when an experiment would have taken the user (running, targeted,
            // not pinned, in its layer and traffic): the users it is compared with are those
            // who got an experimental assignment, so both groups are alike but for the holdout.
            let eligible = candidates.iter().any(|e| {
                e.status == Status::Running
                    && e.audience.targeting.matches(attributes)
                    && e.audience.pinned(attributes).is_none()
                    && e.audience.in_layer(user_id)
                    && e.enrolls(user_id)
            });
            if eligible && self.inner.holdout_known.get(user_key).is_none() {
                self.inner
                    .writer
                    .hold_out(user_id.to_string(), Utc::now())
                    .await?;
                self.inner.holdout_known.insert(user_key, Known::Variant(0));
            }
            return Ok(Assignments {
                items: Vec::new(),
                holdout: true,
            });
        }
        let mut answers: Vec<Option<Assigned>> = Vec::with_capacity(candidates.len());
        // Cache misses, resolved together in one trip to the writer. A lookup may carry the
        // pinned rule that answers when no stored assignment turns up.
        let mut inserts: Vec<(usize, PendingAssignment)> = Vec::new();
        let mut lookups: Vec<(usize, Option<&audience::PinnedMatcher>)> = Vec::new();
        let now = Utc::now();

        for experiment in &candidates {
            let answer = |variant| {
                Some(Assigned {
                    experiment: Arc::clone(experiment),
                    variant,
                    rule: None,
                })
            };
            let slot = answers.len();
            answers.push(None);
            match experiment.status {
                Status::Draft => continue,
                Status::Stopped => {
                    if let Some(winner) = experiment.winner {
                        answers[slot] = answer(winner);
                    }
                    continue;
                }
                Status::Running | Status::Paused => {}
            }
            if !experiment.audience.targeting.matches(attributes) {
                continue;
            }
            let enrolled = experiment.audience.in_layer(user_id) && experiment.enrolls(user_id);
            if let Some(pin) = experiment.audience.pinned(attributes) {
                match (enrolled, experiment.sticky.get(user_key)) {
                    (true, Some(Known::Variant(v))) => answers[slot] = answer(v),
                    (true, None) => lookups.push((slot, Some(pin))),
                    _ => answers[slot] = pinned_answer(experiment, pin),
                }
                continue;
            }
            if !enrolled {
                continue;
            }
            match experiment.sticky.get(user_key) {
                Some(Known::Variant(v)) => answers[slot] = answer(v),
                Some(Known::NotEnrolled) if experiment.status == Status::Paused => {}
                None if experiment.status == Status::Paused => lookups.push((slot, None)),
                // Not known, or known to have had no stored assignment when looked up: a new
                // decision (the insert keeps any assignment stored meanwhile).
                Some(Known::NotEnrolled) | None => {
                    let decision = decide(experiment, user_id, attributes);
                    let (variant, propensity) = (decision.variant, decision.propensity);
                    let allocation = experiment
                        .variants
                        .iter()
                        .zip(decision.allocation)
                        .map(|(v, &p)| (v.id, p))
                        .collect();
                    inserts.push((
                        slot,
                        PendingAssignment {
                            row: batch::NewAssignment {
                                experiment_id: experiment.id,
                                user_id: user_id.to_string(),
                                variant_id: experiment.variants[variant].id,
                                assigned_at: now,
                                propensity,
                                attributes: Value::Object(attributes.as_map().clone()),
                                context_key: decision.context_key,
                            },
                            allocation,
                        },
                    ));
                }
            }
        }

        if !inserts.is_empty() || !lookups.is_empty() {
            let (slots, pending): (Vec<usize>, Vec<PendingAssignment>) =
                inserts.into_iter().unzip();
            let lookup_pairs = lookups
                .iter()
                .map(|&(slot, _)| (candidates[slot].id, user_id.to_string()))
                .collect();
            let stored = self.inner.writer.assign(pending, lookup_pairs).await?;
            let slots = slots
                .into_iter()
                .map(|slot| (slot, None))
                .chain(lookups.iter().copied());
            for ((slot, pin), variant_id) in slots.zip(stored) {
                let experiment = candidates[slot];
                match variant_id.and_then(|id| experiment.variant_index(id)) {
                    Some(v) => {
                        experiment.sticky.insert(user_key, Known::Variant(v));
                        answers[slot] = Some(Assigned {
                            experiment: Arc::clone(experiment),
                            variant: v,
                            rule: None,
                        });
                    }
                    None => {
                        experiment.sticky.insert(user_key, Known::NotEnrolled);
                        if let Some(pin) = pin {
                            answers[slot] = pinned_answer(experiment, pin);
                        }
                    }
                }
            }
        }
        Ok(Assignments {
            items: answers.into_iter().flatten().collect(),
            holdout: false,
        })
    }

    /// Stores events once per id and attributes them; answers after the commit.
    pub async fn track(&self, events: Vec<IncomingEvent>) -> Result<TrackReceipt, EngineError> {
        let now = Utc::now();
        let rows = events
            .into_iter()
            .map(|e| batch::NewEvent {
                event_id: e.event_id.unwrap_or_else(generated_event_id),
                user_id: e.user_id.into_inner(),
                name: e.name.into_inner(),
                value: e.value,
                occurred_at: e.timestamp.unwrap_or(now),
            })
            .collect();
        Ok(self.inner.writer.track(rows).await?)
    }

    // ---- experiments --------------------------------------------------------------------

    pub async fn create_experiment(
        &self,
        actor: &Actor,
        draft: ExperimentDraft,
    ) -> Result<Experiment, EngineError> {
        let spec = draft.validate()?;
        let actor = actor.to_string();
        let created = self
            .inner
            .store
            .run(move |conn| {
                store::audited(conn, |conn| {
                    let created = store::insert_experiment(conn, &spec)?;
                    let entry = NewAuditEntry {
                        actor,
                        action: "experiment.create".into(),
                        target: created.spec.key.to_string(),
                        before: None,
                        after: Some(audit::json(&created)),
                    };
                    Ok::<_, StoreError>((created, entry))
                })
            })
            .await?;
        self.refresh().await?;
        Ok(created)
    }

    pub async fn list_experiments(&self) -> Result<Vec<Experiment>, EngineError> {
        Ok(self.inner.store.run(store::list_experiments).await?)
    }

    pub async fn experiment(&self, key: &str) -> Result<Experiment, EngineError> {
        let k = key.to_string();
        self.inner
            .store
            .run(move |conn| store::get_experiment(conn, &k))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => EngineError::UnknownExperiment(key.to_string()),
                other => other.into(),
            })
    }

    pub async fn update_experiment(
        &self,
        actor: &Actor,
        key: &str,
        patch: ExperimentPatch,
    ) -> Result<Experiment, EngineError> {
        self.change(actor, "experiment.patch", key, move |current| {
            if current.status == Status::Stopped {
                return Err(EngineError::Conflict(
                    "a stopped experiment cannot be edited".into(),
                ));
            }
            let mut next = current.clone();
            next.spec = current.spec.patched(patch)?;
            Ok(next)
        })
        .await
    }

    pub async fn transition(
        &self,
        actor: &Actor,
        key: &str,
        transition: Transition,
    ) -> Result<Experiment, EngineError> {
        let action = match transition {
            Transition::Start => "experiment.start",
            Transition::Pause => "experiment.pause",
            Transition::Stop { .. } => "experiment.stop",
        };
        self.change(actor, action, key, move |current| {
            let mut next = current.clone();
            let now = Utc::now();
            let refuse = |what: &str| {
                Err(EngineError::Conflict(format!(
                    "cannot {what} an experiment that is {}",
                    current.status
                )))
            };
            match transition {
                Transition::Start => match current.status {
                    Status::Draft | Status::Paused => {
                        next.status = Status::Running;
                        next.started_at = current.started_at.or(Some(now));
                    }
                    _ => return refuse("start"),
                },
                Transition::Pause => match current.status {
                    Status::Running => next.status = Status::Paused,
                    _ => return refuse("pause"),
                },
                Transition::Stop { winner } => match current.status {
                    Status::Running | Status::Paused => {
                        if let Some(w) = &winner
                            && current.spec.variant_index(w.as_str()).is_none()
                        {
                            return Err(EngineError::UnknownVariant {
                                experiment: current.spec.key.to_string(),
                                variant: w.to_string(),
                            });
                        }
                        next.status = Status::Stopped;
                        next.winner = winner;
                        next.stopped_at = Some(now);
                    }
                    _ => return refuse("stop"),
                },
            }
            Ok(next)
        })
        .await
    }

    /// Changes an experiment under its row lock and records the change (before and after) in
    /// the audit log, in the same transaction.
    async fn change(
        &self,
        actor: &Actor,
        action: &'static str,
        key: &str,
        f: impl FnOnce(&Experiment) -> Result<Experiment, EngineError> + Send + 'static,
    ) -> Result<Experiment, EngineError> {
        let k = key.to_string();
        let actor = actor.to_string();
        let result = self
            .inner
            .store
            .run(move |conn| {
                let outcome = store::audited(conn, |conn| {
                    let mut before = None;
                    let next = store::update_experiment(conn, &k, |current| {
                        before = Some(audit::json(current));
                        f(current)
                    })?;
                    let entry = NewAuditEntry {
                        actor,
                        action: action.into(),
                        target: k.clone(),
                        before,
                        after: Some(audit::json(&next)),
                    };
                    Ok::<_, UpdateError<EngineError>>((next, entry))
                });
                match outcome {
                    Ok(e) => Ok(Ok(e)),
                    Err(UpdateError::Rejected(e)) => Ok(Err(e)),
                    Err(UpdateError::Store(e)) => Err(e),
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => EngineError::UnknownExperiment(key.to_string()),
                other => other.into(),
            })??;
        self.refresh().await?;
        Ok(result)
    }

    // ---- users --------------------------------------------------------------------------

    /// Erases a user's assignments and events and forgets them in this instance's caches
    /// (other instances forget them at their next refresh, from the erasure log). Runs in
    /// the user's writer partition, after the user's writes queued before it.
    pub async fn erase_user(&self, user: &UserId) -> Result<store::Erased, EngineError> {
        let key = hashing::user_key(user.as_str());
        let erased = self.inner.writer.erase(user.as_str(), key).await?;
        self.forget_user(key);
        Ok(erased)
    }

    pub async fn ping(&self) -> Result<(), EngineError> {
        Ok(self.inner.store.run(store::ping).await?)
    }
}

/// The answer a pinned rule gives: its variant, not stored, not part of the experiment.
fn pinned_answer(
    experiment: &Arc<LiveExperiment>,
    pin: &audience::PinnedMatcher,
) -> Option<Assigned> {
    Some(Assigned {
        experiment: Arc::clone(experiment),
        variant: pin.variant,
        rule: Some(pin.segment.clone()),
    })
}

/// A new user's variant under the experiment's policy.
struct PolicyChoice<'a> {
    variant: usize,
    /// The probability the policy gave that variant (logged for off-policy evaluation).
    propensity: f64,
    /// The probability of every variant (for the expected counts of the SRM check).
    allocation: &'a [f64],
    /// Contextual experiments: the user's context.
    context_key: Option<String>,
}

/// A new user's variant: from their context's policy for a contextual bandit,
/// otherwise from the experiment's policy.
fn decide<'a>(
    experiment: &'a LiveExperiment,
    user_id: &str,
    attributes: &Attributes,
) -> PolicyChoice<'a> {
    let context_key = experiment.context.as_ref().map(|c| c.key_of(attributes));
    if let Some((variant, propensity, allocation)) = context_key
        .as_deref()
        .and_then(|key| contextual::decide_in_context(experiment, key))
    {
        return PolicyChoice {
            variant,
            propensity,
            allocation,
            context_key,
        };
    }
    let (variant, propensity) = decide_pooled(experiment, user_id);
    PolicyChoice {
        variant,
        propensity,
        allocation: experiment.policy.allocation(),
        context_key,
    }
}

/// A new user's variant under the experiment's policy, and its probability (the propensity).
fn decide_pooled(experiment: &LiveExperiment, user_id: &str) -> (usize, f64) {
    match &experiment.policy {
        Policy::Ab { weights } => {
            let v = hashing::pick(
                weights,
                hashing::unit_interval(experiment.variant_seed, user_id),
            );
            (v, weights[v])
        }
        Policy::Bandit {
            posteriors,
            floor,
            allocation,
        } => {
            let v = posteriors.sample(*floor, &mut rand::rng());
            (v, allocation[v])
        }
    }
}

fn generated_event_id() -> String {
    use rand::RngExt;
    format!("gen-{:032x}", rand::rng().random::<u128>())
}
