//! The hot path: which variants a user gets. A returning user is answered from memory (their
//! enrollment in the user cache, read in a batch when not there); a new one is decided by the experiment's policy and stored
//! durably (group commit) before the answer.

use super::audience;
use super::hashing;
use super::policy::Policy;
use super::snapshot::{self, LiveExperiment};
use super::writer::PendingAssignment;
use super::{Engine, EngineError, holdout};
use crate::domain::{Attributes, ExperimentKey, Status, Subject, UserId};
use crate::store::batch;
use chrono::Utc;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;

/// One answer of `assign`: the experiment (with its payloads) and the variant's index.
pub struct Assigned {
    pub experiment: Arc<LiveExperiment>,
    pub variant: usize,
    /// The segment of the pinned rule that decided, when a rule did (the user is then not
    /// part of the experiment); `None` for an experimental assignment or a winner.
    pub rule: Option<Arc<str>>,
    /// The variant's payload filled for this user, when it has `best_hour_of` placeholders.
    pub payload: Option<Box<RawValue>>,
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

    /// The payload this user gets: filled for them, or the variant's.
    pub fn payload(&self) -> &RawValue {
        self.payload.as_deref().unwrap_or(&self.variant().payload)
    }
}

impl Engine {
    /// The variants of `user` in the experiments asked for (every live one when `None`).
    ///
    /// Order of decisions: the holdout (a held-out user gets nothing at all, and is recorded
    /// once if an experiment would have taken them); per experiment its status, its
    /// targeting, its pinned rules (the first matching rule decides, unless the user already
    /// has an experimental assignment, which stays: sticky wins), its layer range and
    /// traffic, and finally the sticky or new assignment.
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
        // The profile only when a rule reads it: read from memory (or with the other reads
        // waiting), never per experiment.
        let profile = if candidates.iter().any(|e| e.reads_profiles()) {
            Some(self.targeting_profile(user_id, user_key).await?)
        } else {
            None
        };
        let subject = Subject {
            attributes,
            profile: profile.as_ref().and_then(|p| p.as_deref()),
            now: Utc::now(),
        };
        if holdout::in_holdout(snapshot.holdout, user_id) {
            // Recorded only when an experiment would have taken the user (running, targeted,
            // not pinned, in its layer and traffic): the users it is compared with are those
            // who got an experimental assignment, so both groups are alike but for the holdout.
            let eligible = candidates.iter().any(|e| {
                e.status == Status::Running
                    && e.audience.targeting.matches(&subject)
                    && e.audience.pinned(&subject).is_none()
                    && e.audience.in_layer(user_id)
                    && e.enrolls(user_id)
            });
            if eligible
                && !self
                    .inner
                    .users
                    .enrollment(user_id, user_key)
                    .await?
                    .held_out()
            {
                self.inner
                    .writer
                    .hold_out(user_id.to_string(), Utc::now())
                    .await?;
                self.inner.users.remember_held_out(user_key);
            }
            return Ok(Assignments {
                items: Vec::new(),
                holdout: true,
            });
        }
        let now = subject.now;
        // First what needs no stored fact; then, only if some experiment needs it, the user's
        // stored enrollment (from memory, or one batched read).
        let mut answers: Vec<Option<Assigned>> = Vec::with_capacity(candidates.len());
        // Experiments whose answer is the stored variant, with the pinned rule that answers
        // when there is none.
        let mut sticky: Vec<(usize, Option<&audience::PinnedMatcher>)> = Vec::new();
        for experiment in &candidates {
            let slot = answers.len();
            answers.push(None);
            match experiment.status {
                Status::Draft => continue,
                Status::Stopped => {
                    if let Some(winner) = experiment.winner {
                        answers[slot] = Some(Assigned::of(experiment, winner));
                    }
                    continue;
                }
                Status::Running | Status::Paused => {}
            }
            if !experiment.audience.targeting.matches(&subject) {
                continue;
            }
            let enrolled = experiment.audience.in_layer(user_id) && experiment.enrolls(user_id);
            let pin = experiment.audience.pinned(&subject);
            match (enrolled, pin) {
                (true, pin) => sticky.push((slot, pin)),
                (false, Some(pin)) => answers[slot] = pinned_answer(experiment, pin),
                (false, None) => {}
            }
        }
        let enrollment = if sticky.is_empty() {
            None
        } else {
            Some(self.inner.users.enrollment(user_id, user_key).await?)
        };
        let mut inserts: Vec<(usize, PendingAssignment)> = Vec::new();
        for (slot, pin) in sticky {
            let experiment = candidates[slot];
            let stored = enrollment
                .as_ref()
                .and_then(|e| e.variant_of(experiment.id))
                .and_then(|id| experiment.variant_index(id));
            match (stored, pin) {
                (Some(v), _) => answers[slot] = Some(Assigned::of(experiment, v)),
                (None, Some(pin)) => answers[slot] = pinned_answer(experiment, pin),
                // Nobody new is enrolled while paused.
                (None, None) if experiment.status == Status::Paused => {}
                // Not stored when read: a new decision (the insert keeps any assignment
                // stored meanwhile, by another instance).
                (None, None) => {
                    let decision = decide(experiment, user_id, &subject);
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
                                variant_id: experiment.variants[decision.variant].id,
                                assigned_at: now,
                                propensity: decision.propensity,
                                attributes: Value::Object(attributes.as_map().clone()),
                                context_key: decision.context_key,
                            },
                            allocation,
                        },
                    ));
                }
            }
        }
        if !inserts.is_empty() {
            let (slots, pending): (Vec<usize>, Vec<PendingAssignment>) =
                inserts.into_iter().unzip();
            let stored = self.inner.writer.assign(pending).await?;
            let mut confirmed: Vec<(i64, i64)> = Vec::with_capacity(slots.len());
            for (slot, variant_id) in slots.into_iter().zip(stored) {
                let experiment = candidates[slot];
                if let Some(v) = variant_id.and_then(|id| experiment.variant_index(id)) {
                    confirmed.push((experiment.id, experiment.variants[v].id));
                    answers[slot] = Some(Assigned::of(experiment, v));
                }
            }
            self.inner.users.remember_variants(user_key, &confirmed);
        }
        let mut items: Vec<Assigned> = answers.into_iter().flatten().collect();
        self.personalize(&mut items, user_id, user_key, profile)
            .await?;
        Ok(Assignments {
            items,
            holdout: false,
        })
    }
}

impl Assigned {
    /// The experiment's variant `variant`, as an experimental assignment or a winner.
    fn of(experiment: &Arc<LiveExperiment>, variant: usize) -> Assigned {
        Assigned {
            experiment: Arc::clone(experiment),
            variant,
            rule: None,
            payload: None,
        }
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
        payload: None,
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
    subject: &Subject,
) -> PolicyChoice<'a> {
    let context_key = experiment.context.as_ref().map(|c| c.key_of(subject));
    if let Some((variant, propensity, allocation)) = context_key
        .as_deref()
        .and_then(|key| experiment.decide_in_context(key))
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
        Policy::Factorial { factors, weights } => {
            let cell = super::policy::factorial_cell(factors, user_id);
            (cell, weights[cell])
        }
        Policy::Bandit {
            arms,
            floor,
            allocation,
        } => {
            let v = arms.sample(*floor, &mut rand::rng());
            (v, allocation[v])
        }
    }
}
