//! Experiments: create, read, edit, and move through their statuses (draft → running ⇄
//! paused → stopped). Every change is an audited write under the experiment's row lock.

use super::audit::{self, Actor, Change};
use super::error::OrMissing;
use super::library::Library;
use super::webhooks;
use super::{Engine, EngineError};
use crate::domain::WebhookEvent;
use crate::domain::{
    Conflict, Experiment, ExperimentDraft, ExperimentPatch, Status, ValidationError, VariantKey,
    Violation,
};
use crate::store::{self, Connection};
use chrono::Utc;
use serde_json::json;

/// A status change asked of an experiment.
#[derive(Debug, Clone)]
pub enum Transition {
    Start,
    Pause,
    Stop { winner: Option<VariantKey> },
}

impl Engine {
    pub async fn create_experiment(
        &self,
        actor: &Actor,
        draft: ExperimentDraft,
    ) -> Result<Experiment, EngineError> {
        // The configured limit (at most the domain's) applies to every door alike.
        self.limits().check_names(draft.names())?;
        let behavior = self.inner.settings.behavior_check();
        self.write_audited(actor, "experiment.create", move |conn| {
            let library = Library::load(conn)?;
            let spec = draft.validate_with(&library.lookup())?;
            behavior.check("targeting", spec.targeting.rules())?;
            behavior.check_payloads(&spec)?;
            let created = store::insert_experiment(conn, &spec)?;
            Ok(Change {
                target: created.spec.key.to_string(),
                before: None,
                after: Some(audit::json(&created)),
                value: created,
            })
        })
        .await
    }

    pub async fn list_experiments(&self) -> Result<Vec<Experiment>, EngineError> {
        Ok(self.store().run(store::list_experiments).await?)
    }

    pub async fn experiment(&self, key: &str) -> Result<Experiment, EngineError> {
        let k = key.to_string();
        self.store()
            .run(move |conn| store::get_experiment(conn, &k))
            .await
            .or_missing(EngineError::unknown_experiment(key))
    }

    pub async fn update_experiment(
        &self,
        actor: &Actor,
        key: &str,
        patch: ExperimentPatch,
    ) -> Result<Experiment, EngineError> {
        if let Some(name) = &patch.name {
            self.limits().check_name("name", name)?;
        }
        let behavior = self.inner.settings.behavior_check();
        self.change(actor, "experiment.patch", key, move |current, library| {
            // A stopped experiment's metrics may still change: its results are read for long.
            if current.status == Status::Stopped && !patch.only_metrics() {
                return Err(EngineError::Conflict(Conflict::Stopped));
            }
            if let Some(metrics) = &patch.metrics
                && metrics.goal != current.spec.metrics.goal
                && current.status != Status::Draft
            {
                return Err(ValidationError::new("metrics.goal", Violation::GoalFixed).into());
            }
            let mut next = current.clone();
            next.spec = current.spec.patched_with(patch, &library.lookup())?;
            behavior.check("targeting", next.spec.targeting.rules())?;
            behavior.check_payloads(&next.spec)?;
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
        let (action, event) = match transition {
            Transition::Start => ("experiment.start", WebhookEvent::ExperimentStarted),
            Transition::Pause => ("experiment.pause", WebhookEvent::ExperimentPaused),
            Transition::Stop { .. } => ("experiment.stop", WebhookEvent::ExperimentStopped),
        };
        let by = actor.to_string();
        // The webhook deliveries are queued in the transition's transaction: they exist if
        // and only if the transition committed.
        let announce = move |conn: &mut Connection, before: &Experiment, after: &Experiment| {
            let payload = json!({
                "experiment": after.spec.key,
                "name": after.spec.name,
                "status": after.status,
                "previous_status": before.status,
                "winner": after.winner,
                "started_at": after.started_at,
                "stopped_at": after.stopped_at,
                "actor": by,
            });
            webhooks::queue(conn, event, &payload)?;
            Ok(())
        };
        self.change_then(actor, action, key, announce, move |current, _| {
            let mut next = current.clone();
            let now = Utc::now();
            let refuse = |action: &'static str| {
                Err(EngineError::Conflict(Conflict::Lifecycle {
                    action,
                    status: current.status,
                }))
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
        f: impl FnOnce(&Experiment, &Library) -> Result<Experiment, EngineError> + Send + 'static,
    ) -> Result<Experiment, EngineError> {
        self.change_then(actor, action, key, |_, _, _| Ok(()), f)
            .await
    }

    /// `change`, then `then` (given the experiment before and after) in the same transaction.
    async fn change_then(
        &self,
        actor: &Actor,
        action: &'static str,
        key: &str,
        then: impl FnOnce(&mut Connection, &Experiment, &Experiment) -> Result<(), EngineError>
        + Send
        + 'static,
        f: impl FnOnce(&Experiment, &Library) -> Result<Experiment, EngineError> + Send + 'static,
    ) -> Result<Experiment, EngineError> {
        let k = key.to_string();
        self.write_audited(actor, action, move |conn| {
            let library = Library::load(conn)?;
            let mut before = None;
            let mut previous = None;
            let next = store::update_experiment(conn, &k, |current| {
                before = Some(audit::json(current));
                previous = Some(current.clone());
                f(current, &library)
            })
            .or_missing(EngineError::unknown_experiment(&k))?;
            if let Some(previous) = &previous {
                then(conn, previous, &next)?;
            }
            Ok(Change {
                target: k,
                before,
                after: Some(audit::json(&next)),
                value: next,
            })
        })
        .await
    }
}
