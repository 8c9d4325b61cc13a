//! The holdout: a server-wide share of users who get no experiment at all, to measure the
//! total effect of personalization. Membership is a hash of the user (the hot path asks
//! `in_holdout`); the fraction is an audited setting; the results compare held-out users
//! with users exposed to experiments.

use super::audit::{Actor, Change};
use super::hashing;
use super::results::INTERVAL_LEVEL;
use super::{Engine, EngineError};
use crate::domain::check_holdout;
use crate::stats::Interval;
use crate::stats::beta::{self, BetaPosterior};
use crate::store::{self, HoldoutCounts};
use serde::Serialize;

/// The holdout's seed: one server-wide hash of the user (computed once: `assign` asks for it).
pub fn holdout_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| hashing::seed("posterior:holdout", "holdout"))
}

/// Whether the user is in the holdout of this `fraction`.
pub fn in_holdout(fraction: f64, user_id: &str) -> bool {
    fraction > 0.0 && hashing::unit_interval(holdout_seed(), user_id) < fraction
}

/// One group of the holdout comparison.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldoutGroup {
    pub users: i64,
    /// Users who sent the goal event after they were held out (or first assigned).
    pub conversions: i64,
    /// Posterior mean of the conversion rate, Beta(1 + conversions, 1 + users − conversions),
    /// with its 95% credible interval.
    pub rate: Interval,
}

/// `GET /api/v1/holdout/results`: exposed users against held-out users.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldoutResults {
    pub event: String,
    /// The holdout fraction now.
    pub fraction: f64,
    pub holdout: HoldoutGroup,
    pub exposed: HoldoutGroup,
    /// Relative lift of the exposed users' rate over the holdout's, with its 95% credible
    /// interval; null until both groups have users.
    pub lift: Option<Interval>,
    /// P(exposed rate > holdout rate); null until both groups have users.
    pub chance_to_beat_holdout: Option<f64>,
}

fn group(c: HoldoutCounts) -> (HoldoutGroup, BetaPosterior) {
    let posterior = BetaPosterior::from_counts(c.users.max(0) as u64, c.converted.max(0) as u64);
    (
        HoldoutGroup {
            users: c.users,
            conversions: c.converted,
            rate: posterior.interval(INTERVAL_LEVEL),
        },
        posterior,
    )
}

impl Engine {
    /// The holdout fraction as stored.
    pub async fn holdout(&self) -> Result<f64, EngineError> {
        Ok(self.store().run(store::get_holdout).await?)
    }

    pub async fn set_holdout(&self, actor: &Actor, fraction: f64) -> Result<f64, EngineError> {
        check_holdout(fraction)?;
        self.write_audited(actor, "holdout.set", move |conn| {
            let before = store::get_holdout(conn)?;
            store::set_holdout(conn, fraction)?;
            Ok(Change {
                target: "holdout".into(),
                before: Some(serde_json::json!({ "fraction": before })),
                after: Some(serde_json::json!({ "fraction": fraction })),
                value: fraction,
            })
        })
        .await
    }

    /// Conversion to `event` of held-out users against users exposed to experiments.
    pub async fn holdout_results(&self, event: &str) -> Result<HoldoutResults, EngineError> {
        let name = crate::domain::EventName::parse(event).map_err(|e| e.at("event"))?;
        let n = name.to_string();
        let (fraction, (held, exposed)) = self
            .store()
            .run(move |conn| Ok((store::get_holdout(conn)?, store::holdout_counts(conn, &n)?)))
            .await?;
        let (holdout, h) = group(held);
        let (exposed_group, x) = group(exposed);
        let both = held.users > 0 && exposed.users > 0;
        // Quadrature is CPU work: off the async threads.
        let (lift, chance) = if both {
            tokio::task::spawn_blocking(move || {
                (
                    Some(beta::lift(&x, &h, INTERVAL_LEVEL)),
                    Some(beta::prob_greater(&x, &h)),
                )
            })
            .await
            .map_err(|e| EngineError::Internal(format!("holdout results failed: {e}")))?
        } else {
            (None, None)
        };
        Ok(HoldoutResults {
            event: name.into_inner(),
            fraction,
            holdout,
            exposed: exposed_group,
            lift,
            chance_to_beat_holdout: chance,
        })
    }
}
