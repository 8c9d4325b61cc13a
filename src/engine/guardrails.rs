//! Guardrails that act. Every few refresh intervals, each running experiment with guardrails
//! is checked: a guardrail fires for a variant when the sequential test shows, at 95%, harm
//! beyond its threshold (the lift's confidence sequence entirely on the bad side of it, with
//! enough data in both arms; never a peek at a fixed p-value, whatever the experiment's
//! `analysis`). A firing is recorded once per (experiment, guardrail, variant) with its
//! evidence and audited as `guardrail.fired` by the actor `guardrail`; a `pause` guardrail then
//! pauses the experiment (enrolled users keep their variant, nobody new enters), audited as
//! any pause. The firing queues a `guardrail.fired` webhook delivery in its own transaction
//! (the pause, `experiment.paused`). Instances check independently; the firing's primary key
//! lets one record it.
//!
//! A `drop` guardrail (bandits only) takes the harmed arm out of the allocation in the
//! firing's transaction (`variants.dropped_at`, audited as `variant.dropped` by `guardrail`):
//! the policy gives it weight 0 and its floor goes to the arms left (`policy::OpenArms`), on
//! every instance at its next refresh and after restarts. Never the control: harm is measured
//! against it, so at worst the bandit serves the control alone. Users enrolled in the arm keep
//! it (sticky): the comparison stays intention-to-treat and valid, and moving them would
//! change their experience twice and mix the arms' users; to stop the harm for them too,
//! pause or stop the experiment.

use super::audit::{Actor, Change, audited};
use super::lifecycle::Transition;
use super::results::proven_harm;
use super::{Engine, EngineError};
use crate::domain::{Conflict, GuardrailAction, MetricRole, Status, WebhookEvent};
use crate::store::{self, guardrails::NewFiring};
use serde_json::json;

/// A recorded firing, as pages show it.
pub type Firing = store::guardrails::FiringRow;

/// The actor of every automatic guardrail action in the audit log.
pub const GUARDRAIL_ACTOR: &str = "guardrail";

/// A guardrail that fired in one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub experiment: String,
    pub metric: String,
    pub variant: String,
    pub action: GuardrailAction,
}

impl Engine {
    /// Checks every running experiment's guardrails once; returns what fired.
    pub async fn check_guardrails(&self) -> Result<Vec<Fired>, EngineError> {
        let (experiments, library) = self
            .store()
            .run(|conn| Ok((store::list_experiments(conn)?, store::metrics_by_key(conn)?)))
            .await?;
        let mut fired = Vec::new();
        for experiment in experiments {
            if experiment.status != Status::Running || experiment.spec.metrics.guardrails.is_empty()
            {
                continue;
            }
            let key = experiment.spec.key.to_string();
            let id = experiment.id;
            let already = self
                .store()
                .run(move |conn| store::guardrails::fired(conn, id))
                .await?;
            let overview = self.overview(&key).await?;
            let results = &overview.results;
            for m in results
                .metrics
                .iter()
                .filter(|m| m.role == MetricRole::Guardrail)
            {
                let Some(guardrail) = experiment
                    .spec
                    .metrics
                    .guardrails
                    .iter()
                    .find(|g| g.metric.as_str() == m.key)
                else {
                    continue;
                };
                let Some(metric) = library.get(&guardrail.metric) else {
                    continue;
                };
                for (i, v) in m.variants.iter().enumerate() {
                    let Some(s) = v.sequential else { continue };
                    if !s.decisive
                        || !proven_harm(s.lift, m.direction, guardrail.threshold)
                        || already.contains(&(metric.id, experiment.variant_ids[i]))
                    {
                        continue;
                    }
                    let firing = NewFiring {
                        experiment_id: experiment.id,
                        metric_id: metric.id,
                        variant_id: experiment.variant_ids[i],
                        action: guardrail.action.as_str().to_string(),
                        lift_mean: s.lift.mean,
                        lift_low: s.lift.low,
                        lift_high: s.lift.high,
                        threshold: guardrail.threshold,
                        users: v.users,
                    };
                    // Harm is measured against the control: it is never dropped.
                    let drop =
                        guardrail.action == GuardrailAction::Drop && v.key != results.control;
                    if self
                        .record_firing(&key, &m.key, &v.key, firing, drop)
                        .await?
                    {
                        fired.push(Fired {
                            experiment: key.clone(),
                            metric: m.key.clone(),
                            variant: v.key.clone(),
                            action: guardrail.action,
                        });
                    }
                }
            }
        }
        for f in fired.iter().filter(|f| f.action == GuardrailAction::Pause) {
            match self
                .transition(
                    &Actor::new(GUARDRAIL_ACTOR),
                    &f.experiment,
                    Transition::Pause,
                )
                .await
            {
                // Paused already (by another guardrail, instance or person): nothing to do.
                Ok(_) | Err(EngineError::Conflict(Conflict::Lifecycle { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(fired)
    }

    /// Records a firing and its audit entry together (with `drop`, the arm's drop and its
    /// own entry too); `false` when it had fired already.
    async fn record_firing(
        &self,
        experiment: &str,
        metric: &str,
        variant: &str,
        firing: NewFiring,
        drop: bool,
    ) -> Result<bool, EngineError> {
        let gone = EngineError::Conflict(Conflict::GuardrailFired {
            experiment: experiment.to_string(),
            metric: metric.to_string(),
            variant: variant.to_string(),
        });
        let evidence = json!({
            "experiment": experiment,
            "metric": metric,
            "variant": variant,
            "action": firing.action,
            "lift": {"mean": firing.lift_mean, "low": firing.lift_low, "high": firing.lift_high},
            "threshold": firing.threshold,
            "users": firing.users,
            "test": "sequential: 95% confidence sequence of the lift beyond the threshold",
        });
        let target = experiment.to_string();
        let written = self
            .write_audited(
                &Actor::new(GUARDRAIL_ACTOR),
                "guardrail.fired",
                move |conn| {
                    if !store::guardrails::record_firing(conn, &firing)? {
                        // Rolls the audit entry back with it.
                        return Err(gone);
                    }
                    if drop {
                        drop_arm(conn, &target, &firing, &evidence)?;
                    }
                    // Sent to the subscribed webhooks once this commits.
                    store::queue_deliveries(conn, WebhookEvent::GuardrailFired, &evidence)?;
                    Ok(Change {
                        value: (),
                        target,
                        before: None,
                        after: Some(evidence),
                    })
                },
            )
            .await;
        match written {
            Ok(()) => Ok(true),
            Err(EngineError::Conflict(Conflict::GuardrailFired { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// An experiment's guardrail firings, oldest first.
    pub async fn guardrail_firings(&self, experiment_id: i64) -> Result<Vec<Firing>, EngineError> {
        Ok(self
            .store()
            .run(move |conn| store::guardrails::firings_of(conn, experiment_id))
            .await?)
    }
}

/// Takes the fired variant out of the bandit's allocation, audited as `variant.dropped` by
/// `guardrail` with the firing's evidence, inside the firing's transaction.
fn drop_arm(
    conn: &mut store::Connection,
    experiment: &str,
    firing: &NewFiring,
    evidence: &serde_json::Value,
) -> Result<(), EngineError> {
    let Some(at) = store::guardrails::drop_variant(conn, firing.experiment_id, firing.variant_id)?
    else {
        // Out already (another guardrail dropped it): nothing changes, nothing to log.
        return Ok(());
    };
    audited(
        conn,
        &Actor::new(GUARDRAIL_ACTOR),
        "variant.dropped",
        |_| {
            let mut after = evidence.clone();
            after["dropped_at"] = json!(at);
            after["enrolled_users"] = json!("keep their variant");
            Ok::<_, EngineError>(Change {
                value: (),
                target: experiment.to_string(),
                before: None,
                after: Some(after),
            })
        },
    )
}
