//! The compiled, immutable state the hot path reads: experiments ready to evaluate with no
//! I/O (the API keys live in `keys::KeyRing`). A background loop rebuilds it from the database every second.

use super::audience::{Audience, SegmentCatalog};
use super::context::LiveContext;
use super::hashing;
use super::policy::{ArmModel, FactorHash, OpenArms, Policy};
use crate::domain::factorial;
use crate::domain::personal_timing::PersonalPayload;
use crate::domain::{Experiment, ExperimentKey, GoalMetric, PolicyKind, Status, Targeting};
use crate::store::{ContextStats, VariantStats};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub struct LiveVariant {
    pub id: i64,
    pub key: String,
    /// Pre-serialized, so answering costs a copy, not a serialization.
    pub payload: Box<RawValue>,
    /// A payload with `best_hour_of` placeholders, filled per user at assignment.
    pub personal: Option<PersonalPayload>,
    /// A factorial experiment's cell: `{factor: level}`, pre-serialized.
    pub levels: Option<Box<RawValue>>,
}

/// One experiment, compiled for evaluation.
pub struct LiveExperiment {
    pub id: i64,
    pub key: ExperimentKey,
    pub version: i64,
    pub status: Status,
    pub policy_kind: PolicyKind,
    pub metric: GoalMetric,
    pub variants: Vec<LiveVariant>,
    pub control: usize,
    pub winner: Option<usize>,
    pub targeting: Targeting,
    pub traffic: f64,
    pub policy: Policy,
    /// The statistics the bandit posteriors were built from (to skip needless recompiles).
    pub stats: Vec<VariantStats>,
    pub traffic_seed: u64,
    pub variant_seed: u64,
    pub definition: Arc<Experiment>,
    /// Targeting (segments resolved), pinned rules and layer range, compiled.
    pub audience: Audience,
    /// Contextual experiments: the context attributes and the per-segment policies.
    pub context: Option<LiveContext>,
}

impl LiveExperiment {
    /// A new user's variant, its propensity and the allocation it was drawn from, in their
    /// context; `None` when the pooled policy decides (A/B, or a context first seen since the
    /// last refresh).
    pub fn decide_in_context(&self, context_key: &str) -> Option<(usize, f64, &[f64])> {
        let Policy::Bandit { floor, .. } = &self.policy else {
            return None;
        };
        let context = self.context.as_ref()?.policies.get(context_key)?;
        let v = context.arms.sample(*floor, &mut rand::rng());
        Some((v, context.allocation[v], &context.allocation))
    }

    /// Whether deciding for a user reads their profile (behavioral targeting or pinned
    /// rules), while the experiment can still take users.
    pub fn reads_profiles(&self) -> bool {
        matches!(self.status, Status::Running | Status::Paused)
            && (self.audience.needs_profile
                || self
                    .context
                    .as_ref()
                    .is_some_and(LiveContext::needs_profile))
    }

    /// The allocation a new user of this context gets now (the pooled one for an unknown
    /// context or a non-contextual experiment).
    pub fn allocation_in(&self, context_key: &str) -> &[f64] {
        self.context
            .as_ref()
            .and_then(|c| c.policies.get(context_key))
            .map_or_else(|| self.policy.allocation(), |s| &s.allocation[..])
    }

    pub fn compile(
        experiment: Experiment,
        stats: Vec<VariantStats>,
        segments: &SegmentCatalog,
    ) -> Self {
        let spec = &experiment.spec;
        let audience = Audience::compile(spec, segments);
        let position = |key: &str| spec.variant_index(key);
        let variants = spec
            .variants
            .iter()
            .zip(&experiment.variant_ids)
            .enumerate()
            .map(|(i, (v, &id))| LiveVariant {
                id,
                key: v.key.to_string(),
                payload: serde_json::value::to_raw_value(&v.payload)
                    .expect("JSON value serializes"),
                // Validated when saved.
                personal: PersonalPayload::parse("payload", &v.payload).ok().flatten(),
                levels: (!spec.factors.is_empty()).then(|| {
                    let levels: serde_json::Map<String, serde_json::Value> = spec
                        .factors
                        .iter()
                        .zip(factorial::levels_of(&spec.factors, i))
                        .map(|(f, l)| (f.key.to_string(), f.levels[l].key.as_str().into()))
                        .collect();
                    serde_json::value::to_raw_value(&levels).expect("JSON value serializes")
                }),
            })
            .collect();
        let policy = match spec.policy {
            PolicyKind::Ab if !spec.factors.is_empty() => Policy::Factorial {
                factors: spec
                    .factors
                    .iter()
                    .map(|f| FactorHash {
                        seed: hashing::seed(spec.key.as_str(), &format!("factor/{}", f.key)),
                        levels: f.levels.len(),
                    })
                    .collect(),
                weights: spec.variants.iter().map(|v| v.weight).collect(),
            },
            PolicyKind::Ab => Policy::Ab {
                weights: spec.variants.iter().map(|v| v.weight).collect(),
            },
            PolicyKind::Bandit => {
                let arms = OpenArms::new(
                    ArmModel::of_experiment(&experiment, &stats),
                    &experiment.dropped(),
                );
                let allocation = arms.allocation(spec.floor);
                Policy::Bandit {
                    arms,
                    floor: spec.floor,
                    allocation,
                }
            }
        };
        Self {
            id: experiment.id,
            key: spec.key.clone(),
            version: experiment.version,
            status: experiment.status,
            policy_kind: spec.policy,
            metric: spec.goal.metric,
            control: position(spec.control.as_str()).unwrap_or(0),
            winner: experiment
                .winner
                .as_ref()
                .and_then(|w| position(w.as_str())),
            targeting: spec.targeting.clone(),
            traffic: spec.traffic,
            policy,
            variants,
            traffic_seed: hashing::seed(spec.key.as_str(), "traffic"),
            variant_seed: hashing::seed(spec.key.as_str(), "variant"),
            stats,
            definition: Arc::new(experiment),
            audience,
            context: None,
        }
    }

    /// Whether the user falls inside the enrolled fraction (`traffic`) of matching users.
    pub fn enrolls(&self, user_id: &str) -> bool {
        self.traffic >= 1.0 || hashing::unit_interval(self.traffic_seed, user_id) < self.traffic
    }

    pub fn variant_index(&self, variant_id: i64) -> Option<usize> {
        self.variants.iter().position(|v| v.id == variant_id)
    }
}

pub struct Snapshot {
    pub experiments: Vec<Arc<LiveExperiment>>,
    pub by_key: HashMap<String, usize>,
    pub built_at: Instant,
    /// Named segments (their rules are compiled into the experiments that use them).
    pub segments: Arc<SegmentCatalog>,
    /// The share of users held out of every experiment.
    pub holdout: f64,
}

impl Snapshot {
    pub fn empty() -> Self {
        Self {
            experiments: Vec::new(),
            by_key: HashMap::new(),
            built_at: Instant::now(),
            segments: Arc::new(SegmentCatalog::default()),
            holdout: 0.0,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Arc<LiveExperiment>> {
        self.by_key.get(key).map(|&i| &self.experiments[i])
    }

    /// Builds the next snapshot, reusing compiled experiments that did not change.
    pub fn rebuild(
        previous: &Snapshot,
        experiments: Vec<Experiment>,
        mut stats: HashMap<i64, Vec<VariantStats>>,
        mut context_stats: HashMap<i64, Vec<ContextStats>>,
        segments: SegmentCatalog,
        holdout: f64,
    ) -> Snapshot {
        let segments_changed = segments.fingerprint != previous.segments.fingerprint;
        let mut live = Vec::with_capacity(experiments.len());
        let mut by_key = HashMap::with_capacity(experiments.len());
        for experiment in experiments {
            let stats = stats.remove(&experiment.id).unwrap_or_default();
            let segment_stats = context_stats.remove(&experiment.id).unwrap_or_default();
            let old = previous.get(experiment.spec.key.as_str());
            let compiled = match old {
                Some(old)
                    if old.version == experiment.version
                        && !segments_changed
                        && (old.policy_kind == PolicyKind::Ab
                            || (old.stats == stats
                                && old
                                    .context
                                    .as_ref()
                                    .is_none_or(|c| c.stats == segment_stats))) =>
                {
                    old.clone()
                }
                _ => {
                    let registry = old
                        .and_then(|o| o.context.as_ref())
                        .map_or_else(Arc::default, |c| c.registry.clone());
                    let context = LiveContext::compile(
                        &experiment,
                        &stats,
                        segment_stats,
                        registry,
                        &segments,
                    );
                    let mut compiled = LiveExperiment::compile(experiment, stats, &segments);
                    compiled.context = context;
                    Arc::new(compiled)
                }
            };
            by_key.insert(compiled.key.to_string(), live.len());
            live.push(compiled);
        }
        Snapshot {
            experiments: live,
            by_key,
            built_at: Instant::now(),
            segments: Arc::new(segments),
            holdout,
        }
    }
}
