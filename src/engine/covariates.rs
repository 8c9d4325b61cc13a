//! CUPED covariates, computed in the background: for every declared conversion or mean
//! metric of a started experiment with CUPED on, each newly assigned user's value of the
//! metric over the lookback window before their assignment, from the raw events, a page of
//! assignments per transaction. A changed lookback or metric definition starts a metric's
//! covariates over. Results read only the users who had activity (see `stats::cuped`).
//!
//! Results never scan the covariates: the background rereads each experiment's sums (Σx, Σx²,
//! Σxy per metric and variant) once a minute into a cache results adjust with, so the
//! adjusted figures lag the live ones by up to a minute while a results read stays a few
//! milliseconds at any size. A pass spends at most 100 ms, and while requests wait for the writer it yields to them (a
//! single page every ten seconds), so the catch-up never takes the database from live
//! traffic. Assignments are covered up to a second ago, so that the group-commit writer has stored
//! the ones made before. One that lands later still counts, with x = 0: that keeps the
//! estimate unbiased (x is fixed before the assignment whatever its value), it only adjusts
//! a little less.

use super::metric_sums::CovariateSums;
use super::{Engine, EngineError};
use crate::domain::Status;
use crate::store::{self, covariates::CovariateJob};
use chrono::{TimeDelta, Utc};
use dashmap::DashMap;
use std::sync::Arc;

/// How far behind the clock the covariates follow the assignments.
const LAG: TimeDelta = TimeDelta::seconds(1);
/// Assignments a transaction covers (small, so that a page stays well inside the budget).
const PAGE: i64 = 500;
/// The time a pass may spend (a pass runs every refresh interval, a second by default): the
/// covariates are a background catch-up that must not take the database from the writer
/// under load. Behind, they only adjust a little less (x = 0 for the users not yet covered).
const PASS_BUDGET: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether two jobs can share pages: one experiment, one mark, one lookback.
fn same_page(a: &CovariateJob, b: &CovariateJob) -> bool {
    a.experiment_id == b.experiment_id
        && a.through == b.through
        && a.lookback_seconds == b.lookback_seconds
}

/// How often the background rereads an experiment's covariate sums for results.
const SUMS_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Per experiment, the covariate sums results adjust with.
pub(super) type CovariateSumsCache = DashMap<i64, Arc<CovariateSums>>;

/// While the writer is busy, a pass computes one page at most this often, so the covariates
/// still advance under sustained load.
const BUSY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Engine {
    /// One pass over the covariates that lag; returns the number of pages computed. While
    /// requests wait for the writer, the pass yields to them: nothing, or a single page when
    /// `last_busy_page` (kept by the caller between passes) is [`BUSY_EVERY`] old.
    pub async fn compute_covariates(
        &self,
        last_busy_page: &mut Option<std::time::Instant>,
    ) -> Result<usize, EngineError> {
        let started = std::time::Instant::now();
        let busy = self.inner.writer.is_busy();
        if busy && last_busy_page.is_some_and(|t| t.elapsed() < BUSY_EVERY) {
            return Ok(0);
        }
        let mut pages_left = if busy { 1 } else { usize::MAX };
        let upto = Utc::now() - LAG;
        let jobs = self
            .store()
            .run(move |conn| store::covariates::due(conn, upto))
            .await?;
        let mut groups: Vec<Vec<CovariateJob>> = Vec::new();
        for mut job in jobs {
            if job.stale {
                let stale = job.clone();
                self.store()
                    .run(move |conn| store::covariates::restart(conn, &stale))
                    .await?;
                job.through = None;
            }
            // Metrics of one experiment at the same mark share their pages: each user's
            // events are read once for all of them.
            match groups.last_mut() {
                Some(group) if same_page(&group[0], &job) => group.push(job),
                _ => groups.push(vec![job]),
            }
        }
        // The furthest behind first; each resumes from its mark, so passes cut short by the
        // budget take turns.
        groups.sort_by_key(|g| g[0].through);
        let mut pages = 0;
        let mut advanced = std::collections::HashSet::new();
        for mut group in groups {
            while pages_left > 0 && (busy || started.elapsed() < PASS_BUDGET) {
                pages_left -= 1;
                let jobs = group.clone();
                match self
                    .store()
                    .run(move |conn| store::covariates::compute_page(conn, &jobs, upto, PAGE))
                    .await?
                {
                    Some(through) => {
                        advanced.insert(group[0].experiment_id);
                        for job in &mut group {
                            job.through = Some(through);
                        }
                        pages += 1;
                    }
                    None => break,
                }
            }
        }
        if busy && pages > 0 {
            *last_busy_page = Some(started);
        }
        if !busy {
            self.reread_covariate_sums(&advanced).await?;
        }
        Ok(pages)
    }

    /// The covariate sums results of an experiment adjust with (`None`: none read yet).
    pub(super) fn covariate_sums(&self, experiment_id: i64) -> Option<Arc<CovariateSums>> {
        self.inner
            .covariate_sums
            .get(&experiment_id)
            .map(|s| s.value().clone())
    }

    /// Rereads the covariate sums of the experiments with CUPED on that are running or paused
    /// (or have none read yet) once they are a minute old, or at once when their lookback
    /// changed or this pass computed pages and none were read.
    async fn reread_covariate_sums(
        &self,
        advanced: &std::collections::HashSet<i64>,
    ) -> Result<(), EngineError> {
        let (experiments, library) = self
            .store()
            .run(|conn| Ok((store::list_experiments(conn)?, store::metrics_by_key(conn)?)))
            .await?;
        let now = Utc::now();
        for experiment in experiments {
            let Some(lookback) = experiment.spec.cuped.lookback() else {
                self.inner.covariate_sums.remove(&experiment.id);
                continue;
            };
            if experiment.status == Status::Draft {
                continue;
            }
            let cached = self.covariate_sums(experiment.id);
            let due = match &cached {
                None => advanced.contains(&experiment.id) || experiment.status != Status::Stopped,
                // A read that found nothing yet (taken before the first pages) is taken again
                // as soon as pages come.
                Some(c) => {
                    c.lookback_seconds != lookback.seconds()
                        || (c.rows.is_empty() && advanced.contains(&experiment.id))
                        || (experiment.status != Status::Stopped && now - c.read_at >= SUMS_EVERY)
                }
            };
            if !due {
                continue;
            }
            let id = experiment.id;
            let library = library.clone();
            let read = self
                .store()
                .run(move |conn| CovariateSums::read(conn, &experiment, &library))
                .await?;
            match read {
                Some(sums) => {
                    self.inner.covariate_sums.insert(id, Arc::new(sums));
                }
                None => {
                    self.inner.covariate_sums.remove(&id);
                }
            }
        }
        Ok(())
    }
}
