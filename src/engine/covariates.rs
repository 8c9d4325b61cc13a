//! CUPED covariates, computed in the background: for every declared conversion or mean
//! metric of a started experiment with CUPED on, each newly assigned user's value of the
//! metric over the lookback window before their assignment, from the raw events, a page of
//! assignments per transaction. A changed lookback or metric definition starts a metric's
//! covariates over. Results read only the users who had activity (see `stats::cuped`).
//!
//! Assignments are covered up to a second ago, so that the group-commit writer has stored
//! the ones made before. One that lands later still counts, with x = 0: that keeps the
//! estimate unbiased (x is fixed before the assignment whatever its value), it only adjusts
//! a little less.

use super::{Engine, EngineError};
use crate::store::{self, covariates::CovariateJob};
use chrono::{TimeDelta, Utc};

/// How far behind the clock the covariates follow the assignments.
const LAG: TimeDelta = TimeDelta::seconds(1);
/// Assignments a transaction covers.
const PAGE: i64 = 1_000;
/// The time a pass may spend (a pass runs every refresh interval, a second by default): the
/// covariates are a background catch-up that must not take the database from the writer
/// under load. Behind, they only adjust a little less (x = 0 for the users not yet covered).
const PASS_BUDGET: std::time::Duration = std::time::Duration::from_millis(150);

impl Engine {
    /// One pass over the covariates that lag; returns the number of pages computed.
    pub async fn compute_covariates(&self) -> Result<usize, EngineError> {
        let started = std::time::Instant::now();
        let upto = Utc::now() - LAG;
        let jobs = self
            .store()
            .run(move |conn| store::covariates::due(conn, upto))
            .await?;
        let mut pages = 0;
        for mut job in jobs {
            if job.stale {
                let stale = job.clone();
                self.store()
                    .run(move |conn| store::covariates::restart(conn, &stale))
                    .await?;
                job.through = None;
            }
            // The furthest behind come first and each resumes from its mark, so passes cut
            // short by the budget take turns.
            while started.elapsed() < PASS_BUDGET {
                let page_job: CovariateJob = job.clone();
                match self
                    .store()
                    .run(move |conn| store::covariates::compute_page(conn, &page_job, upto, PAGE))
                    .await?
                {
                    Some(through) => {
                        job.through = Some(through);
                        pages += 1;
                    }
                    None => break,
                }
            }
        }
        Ok(pages)
    }
}
