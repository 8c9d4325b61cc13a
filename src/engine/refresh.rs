//! Reloading the in-memory state: experiments, statistics, segments, the holdout and keys are
//! read from the database, the snapshot is rebuilt and swapped, and users erased anywhere
//! leave the user cache.

use super::audience;
use super::{Engine, EngineError, Snapshot};
use crate::store;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Erasures are re-read for this long after they happened, so that one committed after a
/// later-numbered one is not missed by the refresh that already moved past its id.
const ERASURE_REREAD: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

impl Engine {
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
        self.inner.users.set_holdout(next.holdout > 0.0);
        self.inner.snapshot.store(Arc::new(next));
        // Users erased anywhere (this instance included, which also covers an assignment
        // cached by a request that raced the erasure) leave the user cache.
        for &(_, user_key) in &erasures {
            self.forget_user(user_key);
        }
        let usage = self.inner.users.usage();
        metrics::gauge!("posterior_user_cache_entries").set(usage.entries as f64);
        metrics::gauge!("posterior_user_cache_bytes").set(usage.bytes as f64);
        if let Some(&(latest, _)) = erasures.iter().max_by_key(|e| e.0) {
            self.inner
                .erasure_watermark
                .fetch_max(latest, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(super) fn forget_user(&self, user_key: u128) {
        self.inner.users.forget_user(user_key);
    }
}
