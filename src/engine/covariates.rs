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
const PAGE: i64 = 5_000;
/// Pages per metric per pass, so one large experiment cannot hold the others back.
const PAGES_PER_PASS: usize = 20;

impl Engine {
    /// One pass over the covariates that lag; returns the number of pages computed.
    pub async fn compute_covariates(&self) -> Result<usize, EngineError> {
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
            for _ in 0..PAGES_PER_PASS {
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
