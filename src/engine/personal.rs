//! Personalization administration: segments and the holdout (the hot-path side lives in
//! `rules` and `Engine::assign`).

use super::audit::{self, Actor};
use super::results::INTERVAL_LEVEL;
use super::{Engine, EngineError};
use crate::domain::{Segment, SegmentDraft, SegmentKey, ValidationError, check_holdout};
use crate::stats::Interval;
use crate::stats::beta::{self, BetaPosterior};
use crate::store::{self, HoldoutCounts, StoreError};
use serde::Serialize;

/// One group of the holdout comparison.
#[derive(Debug, Clone, Serialize)]
pub struct HoldoutGroup {
    pub users: i64,
    /// Users who sent the goal event after they were held out (or first assigned).
    pub conversions: i64,
    /// Posterior mean of the conversion rate, Beta(1 + conversions, 1 + users − conversions),
    /// with its 95% credible interval.
    pub rate: Interval,
}

/// `GET /api/v1/holdout/results`: exposed users against held-out users.
#[derive(Debug, Clone, Serialize)]
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

fn audit_entry(
    actor: String,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> store::NewAuditEntry {
    store::NewAuditEntry {
        actor,
        action: action.into(),
        target: target.into(),
        before,
        after,
    }
}

impl Engine {
    pub async fn create_segment(
        &self,
        actor: &Actor,
        draft: SegmentDraft,
    ) -> Result<Segment, EngineError> {
        let spec = draft.validate(None)?;
        let actor = actor.to_string();
        let created = self
            .inner
            .store
            .run(move |conn| {
                // Audit (security): recorded in the same transaction.
                store::audited(conn, |conn| {
                    let created = store::insert_segment(conn, &spec)?;
                    let entry = audit_entry(
                        actor,
                        "segment.create",
                        spec.key.as_str(),
                        None,
                        Some(audit::json(&created)),
                    );
                    Ok::<_, StoreError>((created, entry))
                })
            })
            .await?;
        self.refresh().await?;
        Ok(created)
    }

    pub async fn list_segments(&self) -> Result<Vec<Segment>, EngineError> {
        Ok(self.inner.store.run(store::list_segments).await?)
    }

    pub async fn segment(&self, key: &str) -> Result<Segment, EngineError> {
        let k = key.to_string();
        self.inner
            .store
            .run(move |conn| store::get_segment(conn, &k))
            .await
            .map_err(|e| unknown_segment(e, key))
    }

    /// Replaces a segment's name, description and rule; every experiment using it follows
    /// with the next refresh (this instance at once).
    pub async fn update_segment(
        &self,
        actor: &Actor,
        key: &str,
        draft: SegmentDraft,
    ) -> Result<Segment, EngineError> {
        let path_key =
            SegmentKey::parse(key).map_err(|_| EngineError::UnknownSegment(key.to_string()))?;
        let spec = draft.validate(Some(&path_key))?;
        let actor = actor.to_string();
        let updated = self
            .inner
            .store
            .run(move |conn| {
                store::audited(conn, |conn| {
                    let before = store::get_segment(conn, spec.key.as_str())?;
                    let updated = store::update_segment(conn, &spec)?;
                    let entry = audit_entry(
                        actor,
                        "segment.replace",
                        spec.key.as_str(),
                        Some(audit::json(&before)),
                        Some(audit::json(&updated)),
                    );
                    Ok::<_, StoreError>((updated, entry))
                })
            })
            .await
            .map_err(|e| unknown_segment(e, key))?;
        self.refresh().await?;
        Ok(updated)
    }

    /// Deletes a segment; refused (409) while a non-stopped experiment references it.
    pub async fn delete_segment(&self, actor: &Actor, key: &str) -> Result<(), EngineError> {
        let k = key.to_string();
        let actor = actor.to_string();
        self.inner
            .store
            .run(move |conn| {
                store::audited(conn, |conn| {
                    let before = store::get_segment(conn, &k)?;
                    store::delete_segment(conn, &k)?;
                    let entry = audit_entry(
                        actor,
                        "segment.delete",
                        &k,
                        Some(audit::json(&before)),
                        None,
                    );
                    Ok::<_, StoreError>(((), entry))
                })
            })
            .await
            .map_err(|e| unknown_segment(e, key))?;
        self.refresh().await?;
        Ok(())
    }

    /// The holdout fraction as stored.
    pub async fn holdout(&self) -> Result<f64, EngineError> {
        Ok(self.inner.store.run(store::get_holdout).await?)
    }

    pub async fn set_holdout(&self, actor: &Actor, fraction: f64) -> Result<f64, EngineError> {
        check_holdout(fraction)?;
        let actor = actor.to_string();
        self.inner
            .store
            .run(move |conn| {
                store::audited(conn, |conn| {
                    let before = store::get_holdout(conn)?;
                    store::set_holdout(conn, fraction)?;
                    let entry = audit_entry(
                        actor,
                        "holdout.set",
                        "holdout",
                        Some(serde_json::json!({ "fraction": before })),
                        Some(serde_json::json!({ "fraction": fraction })),
                    );
                    Ok::<_, StoreError>(((), entry))
                })
            })
            .await?;
        self.refresh().await?;
        Ok(fraction)
    }

    /// Conversion to `event` of held-out users against users exposed to experiments.
    pub async fn holdout_results(&self, event: &str) -> Result<HoldoutResults, EngineError> {
        let name = crate::domain::EventName::parse(event)
            .map_err(|e| ValidationError::new("event", e.message))?;
        let n = name.to_string();
        let (fraction, (held, exposed)) = self
            .inner
            .store
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

fn unknown_segment(e: StoreError, key: &str) -> EngineError {
    match e {
        StoreError::NotFound => EngineError::UnknownSegment(key.to_string()),
        other => other.into(),
    }
}
