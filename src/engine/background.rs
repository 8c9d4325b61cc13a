//! The engine's background work: the snapshot refresh, the key reload (with the sweep of the
//! failed-authentication throttle), the recomputation of metrics, the results tick (guardrail
//! check, decisions, the metrics' history), webhook deliveries, the retention task and the
//! creation of the event partitions ahead. One supervisor owns the loops; stopping it stops
//! them all and waits until each has ended.

use super::Engine;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// How often the days ahead get their event partitions (`retention::EVENT_PARTITIONS_AHEAD`).
const EVENT_PARTITIONS_EVERY: Duration = Duration::from_secs(3600);

/// The running background loops. Stop them with `stop` (dropping this leaves them running).
#[must_use = "the loops run until `stop` is awaited"]
pub struct Background {
    shutdown: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
}

impl Engine {
    /// Starts the background loops under one supervisor.
    pub fn start_background(&self) -> Background {
        let (shutdown, signal) = watch::channel(false);
        let supervisor = tokio::spawn(supervise(self.clone(), signal));
        Background {
            shutdown,
            supervisor,
        }
    }
}

impl Background {
    /// Stops every loop and waits until all have ended. A step waiting on the database is
    /// abandoned, not awaited: an unreachable database must not hold up shutdown.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.supervisor.await {
            tracing::error!(error = %e, "the background supervisor failed");
        }
    }
}

async fn supervise(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let settings = &engine.inner.settings;
    let refresh = tokio::time::interval(settings.refresh_interval);
    // Keys reload on a cadence of their own (at most 500 ms), so a revocation takes effect
    // everywhere within a second even when a full refresh is slow.
    let keys =
        tokio::time::interval((settings.refresh_interval / 2).min(Duration::from_millis(500)));
    // The first retention run comes soon after start (so that frequent restarts cannot keep
    // it from ever running), not at once (start-up has enough to do).
    let every_retention = settings.retention_interval;
    let first = Instant::now() + every_retention.min(Duration::from_secs(60));
    let retention = tokio::time::interval_at(first, every_retention);

    let mut loops = JoinSet::new();
    loops.spawn(every(
        refresh,
        engine.clone(),
        shutdown.clone(),
        refresh_once,
    ));
    loops.spawn(every(
        keys,
        engine.clone(),
        shutdown.clone(),
        reload_keys_once,
    ));
    loops.spawn(every(
        tokio::time::interval(settings.refresh_interval),
        engine.clone(),
        shutdown.clone(),
        recompute_once,
    ));
    let last_busy_page = Arc::new(std::sync::Mutex::new(None));
    loops.spawn(every(
        tokio::time::interval(settings.refresh_interval),
        engine.clone(),
        shutdown.clone(),
        move |engine| covariates_once(engine, last_busy_page.clone()),
    ));
    // Guardrails, decisions and the metrics' history: every five refreshes (a second's
    // results change little).
    loops.spawn(every(
        tokio::time::interval(settings.refresh_interval * 5),
        engine.clone(),
        shutdown.clone(),
        results_tick_once,
    ));
    let http = super::webhooks::client(&settings.webhooks);
    loops.spawn(every(
        tokio::time::interval(settings.webhooks.poll_interval),
        engine.clone(),
        shutdown.clone(),
        move |engine| deliver_webhooks_once(engine, http.clone()),
    ));
    // Profiles changed by other instances leave memory within a few hundred milliseconds.
    loops.spawn(every(
        tokio::time::interval(Duration::from_millis(250)),
        engine.clone(),
        shutdown.clone(),
        watch_profiles_once,
    ));
    loops.spawn(every(
        retention,
        engine.clone(),
        shutdown.clone(),
        retention_once,
    ));
    // The event partitions of the days ahead: every hour (start-up created them already),
    // whatever the retention's interval.
    loops.spawn(every(
        tokio::time::interval_at(
            Instant::now() + EVENT_PARTITIONS_EVERY,
            EVENT_PARTITIONS_EVERY,
        ),
        engine,
        shutdown.clone(),
        event_partitions_once,
    ));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            // A loop ends before shutdown only by panicking.
            Some(ended) = loops.join_next() => report(ended),
        }
    }
    while let Some(ended) = loops.join_next().await {
        report(ended);
    }
}

fn report(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        tracing::error!(error = %e, "a background loop failed");
    }
}

/// Runs `step` at every tick until `shutdown` fires, abandoning a step in progress then.
async fn every<Step>(
    mut ticker: Interval,
    engine: Engine,
    mut shutdown: watch::Receiver<bool>,
    step: impl Fn(Engine) -> Step,
) where
    Step: Future<Output = ()>,
{
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                tokio::select! {
                    _ = step(engine.clone()) => {}
                    _ = shutdown.changed() => break,
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn refresh_once(engine: Engine) {
    if let Err(e) = engine.refresh().await {
        tracing::warn!(error = %e, "refresh failed; serving the previous snapshot");
    }
}

async fn reload_keys_once(engine: Engine) {
    engine.sweep_auth_throttle();
    if let Err(e) = engine.refresh_keys().await {
        tracing::debug!(error = %e, "key refresh failed; keeping the previous keys");
    }
}

async fn recompute_once(engine: Engine) {
    match engine.recompute_metrics().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(metrics = n, "recomputed metrics from the raw rows"),
        Err(e) => tracing::warn!(error = %e, "recomputing metrics failed; will retry"),
    }
}

async fn covariates_once(
    engine: Engine,
    last_busy_page: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
) {
    let mut last = *last_busy_page.lock().expect("not poisoned");
    let done = engine.compute_covariates(&mut last).await;
    *last_busy_page.lock().expect("not poisoned") = last;
    match done {
        Ok(0) => {}
        Ok(n) => tracing::debug!(pages = n, "computed CUPED covariates"),
        Err(e) => tracing::warn!(error = %e, "computing CUPED covariates failed; will retry"),
    }
}

async fn watch_profiles_once(engine: Engine) {
    if let Err(e) = engine.watch_profiles().await {
        tracing::warn!(error = %e, "watching for changed profiles failed; will retry");
    }
}

async fn results_tick_once(engine: Engine) {
    match engine.check_guardrails().await {
        Ok(fired) => {
            for f in fired {
                tracing::warn!(experiment = %f.experiment, metric = %f.metric, variant = %f.variant,
                    action = %f.action, "a guardrail fired");
            }
        }
        Err(e) => tracing::warn!(error = %e, "checking guardrails failed; will retry"),
    }
    match engine.announce_decisions().await {
        Ok(decided) => {
            for experiment in decided {
                tracing::info!(%experiment, "an experiment's verdict named a winner");
            }
        }
        Err(e) => tracing::warn!(error = %e, "announcing decisions failed; will retry"),
    }
    // The hours personal payloads fall back on.
    if let Err(e) = engine.refresh_population_hours().await {
        tracing::warn!(error = %e, "reading the population's best hours failed; will retry");
    }
    // The same results, kept day by day for `over_time`.
    match engine.record_history().await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "recorded the metrics' history"),
        Err(e) => tracing::warn!(error = %e, "recording the metrics' history failed; will retry"),
    }
}

/// Posts the due webhook deliveries, batch after batch while batches come full (a backlog
/// drains at once, not a batch per tick).
async fn deliver_webhooks_once(engine: Engine, http: reqwest::Client) {
    let batch = usize::try_from(engine.inner.settings.webhooks.batch).unwrap_or(1);
    loop {
        match engine.deliver_due(&http).await {
            Ok(n) if n >= batch => continue,
            Ok(0) => {}
            Ok(n) => tracing::debug!(deliveries = n, "webhook deliveries attempted"),
            Err(e) => tracing::warn!(error = %e, "webhook delivery step failed; will retry"),
        }
        break;
    }
}

async fn event_partitions_once(engine: Engine) {
    if let Err(e) = engine.create_event_partitions().await {
        tracing::warn!(error = %e, "creating event partitions failed; will retry");
    }
}

async fn retention_once(engine: Engine) {
    match engine.purge_expired().await {
        Ok(p) if p.events > 0 || p.erasures > 0 || p.webhook_deliveries > 0 => tracing::info!(
            events = p.events,
            event_partitions = p.event_partitions,
            erasures = p.erasures,
            webhook_deliveries = p.webhook_deliveries,
            "retention: deleted expired rows"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "retention run failed; will retry"),
    }
}
