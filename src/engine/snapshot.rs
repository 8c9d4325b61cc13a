//! The compiled, immutable state the hot path reads: experiments ready to evaluate with no
//! I/O (the API keys live in `keys::KeyRing`). A background loop rebuilds it from the database every second.

use super::audience::{Audience, SegmentCatalog};
use super::contextual::LiveContext;
use super::hashing;
use super::sticky::StickyCache;
use crate::domain::{Experiment, ExperimentKey, Kind, Metric, Status, Targeting};
use crate::stats::beta::BetaPosterior;
use crate::stats::gaussian::MeanPosterior;
use crate::stats::thompson;
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
}

/// How a new user's variant is chosen.
pub enum Policy {
    /// Fixed weights; the variant follows from a hash of the user.
    Ab { weights: Vec<f64> },
    /// Thompson sampling over the posteriors as of the last refresh. `allocation` is the exact
    /// probability that the sampler (with its floor) picks each arm: the logged propensity.
    Bandit {
        posteriors: Posteriors,
        floor: f64,
        allocation: Vec<f64>,
    },
}

/// The bandit's model of each arm, by goal metric.
pub enum Posteriors {
    /// Conversion: Beta(1 + converted users, 1 + users − converted users).
    Conversion(Vec<BetaPosterior>),
    /// Revenue: Gaussian model of the mean value per user.
    Revenue(Vec<MeanPosterior>),
}

impl Posteriors {
    fn from_stats(metric: Metric, variant_ids: &[i64], stats: &[VariantStats]) -> Self {
        let of = |id: &i64| stats.iter().find(|s| s.variant_id == *id);
        match metric {
            Metric::Conversion => Posteriors::Conversion(
                variant_ids
                    .iter()
                    .map(|id| {
                        let (n, c) = of(id).map_or((0, 0), |s| {
                            (s.users.max(0) as u64, s.conversions.max(0) as u64)
                        });
                        BetaPosterior::from_counts(n, c)
                    })
                    .collect(),
            ),
            Metric::Revenue => Posteriors::Revenue(
                variant_ids
                    .iter()
                    .map(|id| {
                        let (n, sum, sum_sq) = of(id).map_or((0, 0.0, 0.0), |s| {
                            (s.users.max(0) as u64, s.value_sum, s.value_sum_sq)
                        });
                        MeanPosterior::from_sums(n, sum, sum_sq)
                    })
                    .collect(),
            ),
        }
    }

    /// The exact probability that the sampler picks each arm.
    fn allocation(&self, floor: f64) -> Vec<f64> {
        match self {
            Posteriors::Conversion(arms) => thompson::allocation(arms, floor),
            Posteriors::Revenue(arms) => thompson::allocation_gaussian(arms, floor),
        }
    }

    /// One Thompson-sampling decision.
    pub fn sample(&self, floor: f64, rng: &mut (impl rand::Rng + ?Sized)) -> usize {
        match self {
            Posteriors::Conversion(arms) => thompson::sample_arm_beta(arms, floor, rng),
            Posteriors::Revenue(arms) => thompson::sample_arm_gaussian(arms, floor, rng),
        }
    }
}

impl Policy {
    /// The probability of each variant for a new user, as the policy stands now.
    pub fn allocation(&self) -> &[f64] {
        match self {
            Policy::Ab { weights } => weights,
            Policy::Bandit { allocation, .. } => allocation,
        }
    }
}

/// One experiment, compiled for evaluation.
pub struct LiveExperiment {
    pub id: i64,
    pub key: ExperimentKey,
    pub version: i64,
    pub status: Status,
    pub kind: Kind,
    pub metric: Metric,
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
    pub sticky: Arc<StickyCache>,
    pub definition: Arc<Experiment>,
    /// Targeting (segments resolved), pinned rules and layer range, compiled.
    pub audience: Audience,
    /// Contextual experiments: the context attributes and the per-segment policies.
    pub context: Option<LiveContext>,
}

impl LiveExperiment {
    pub fn compile(
        experiment: Experiment,
        stats: Vec<VariantStats>,
        sticky: Arc<StickyCache>,
        segments: &SegmentCatalog,
    ) -> Self {
        let spec = &experiment.spec;
        let audience = Audience::compile(spec, segments);
        let position = |key: &str| spec.variant_index(key);
        let variants = spec
            .variants
            .iter()
            .zip(&experiment.variant_ids)
            .map(|(v, &id)| LiveVariant {
                id,
                key: v.key.to_string(),
                payload: serde_json::value::to_raw_value(&v.payload)
                    .expect("JSON value serializes"),
            })
            .collect();
        let policy = match spec.kind {
            Kind::Ab => Policy::Ab {
                weights: spec.variants.iter().map(|v| v.weight).collect(),
            },
            Kind::Bandit => {
                let posteriors =
                    Posteriors::from_stats(spec.goal.metric, &experiment.variant_ids, &stats);
                let allocation = posteriors.allocation(spec.floor);
                Policy::Bandit {
                    posteriors,
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
            kind: spec.kind,
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
            sticky,
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

    /// Builds the next snapshot, reusing compiled experiments that did not change and carrying
    /// every experiment's sticky cache over.
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
                        && (old.kind == Kind::Ab
                            || (old.stats == stats
                                && old
                                    .context
                                    .as_ref()
                                    .is_none_or(|c| c.stats == segment_stats))) =>
                {
                    old.clone()
                }
                _ => {
                    let sticky = match old {
                        Some(old) => {
                            if old.status == Status::Paused && experiment.status == Status::Running
                            {
                                old.sticky.forget_not_enrolled();
                            }
                            old.sticky.clone()
                        }
                        None => Arc::new(StickyCache::default()),
                    };
                    let registry = old
                        .and_then(|o| o.context.as_ref())
                        .map_or_else(Arc::default, |c| c.registry.clone());
                    let context =
                        LiveContext::compile(&experiment, &stats, segment_stats, registry);
                    let mut compiled =
                        LiveExperiment::compile(experiment, stats, sticky, &segments);
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
