//! Experiments: what a marketer defines, validated into an `ExperimentSpec`.

use super::cuped::{Cuped, CupedDraft};
use super::factorial::{self, Factor};
use super::metric::{
    Duration, MAX_GUARDRAILS, MAX_SECONDARY_METRICS, MeanOf, MetricDefinition, MetricSpec,
    MetricType,
};
use super::names::{EventName, ExperimentKey, MetricKey, SegmentKey, VariantKey};
use super::payload::{Dimension, MAX_PAYLOAD_BYTES, json_type};
use super::personal_timing::PersonalPayload;
use super::segment::{Layer, PinnedRule, check_pinned_rules, double_option};
use super::targeting::{MAX_ATTRIBUTE_NAME, Targeting};
use super::text::{check_description, check_name, has_nul};
use super::validation::{ValidationError, Violation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

pub const MAX_VARIANTS: usize = 50;
/// Weights are decimals typed by people; they must sum to 1 within this.
const WEIGHT_TOLERANCE: f64 = 1e-6;
pub const DEFAULT_FLOOR: f64 = 0.01;
pub const DEFAULT_MIN_USERS_PER_ARM: u32 = 100;
const MAX_MIN_USERS_PER_ARM: u32 = 100_000_000;
/// Contextual experiments: at most this many context segments.
pub const MAX_CONTEXT_SEGMENTS: usize = 8;
/// The context name under which `context_segments` give their value.
pub const SEGMENT_CONTEXT: &str = "segment";
/// Contextual experiments: at most this many context attributes.
pub const MAX_CONTEXT_ATTRIBUTES: usize = 3;
/// No `ship` before an experiment has run this long: a day-of-week effect needs a whole week.
pub const DEFAULT_MIN_RUNTIME: Duration = Duration::from_seconds(7 * 86_400);
/// The relative lift that matters unless told otherwise: 5%.
pub const DEFAULT_MINIMUM_EFFECT: f64 = 0.05;
/// The largest minimum effect: ten times better or worse.
pub const MAX_MINIMUM_EFFECT: f64 = 10.0;

str_enum!(
    /// `ab`: fixed weights; `bandit`: Thompson sampling moves traffic to what works;
    /// `factorial`: several factors at once, each user one level of every factor (its
    /// `policy` says how new users are allocated).
    Kind { Ab => "ab", Bandit => "bandit", Factorial => "factorial" }
);
str_enum!(
    /// How a new user's variant is chosen: `ab` by a hash of the user (fixed weights, or each
    /// factor on its own), `bandit` by Thompson sampling. An `ab` or `bandit` experiment's
    /// kind says it; a factorial experiment has its own.
    PolicyKind { Ab => "ab", Bandit => "bandit" }
);
str_enum!(
    /// Lifecycle: draft → running ⇄ paused → stopped.
    Status { Draft => "draft", Running => "running", Paused => "paused", Stopped => "stopped" }
);
str_enum!(
    /// What decides the verdict: `bayesian` (probability best and expected loss, read as
    /// often as you like but not a guarantee on error rates) or `sequential` (confidence
    /// sequences: the error rate holds however often results are read).
    Analysis { Bayesian => "bayesian", Sequential => "sequential" }
);
str_enum!(
    /// `conversion` counts a user once; `revenue` sums the values of their events.
    GoalMetric { Conversion => "conversion", Revenue => "revenue" }
);

/// The goal as the assignment rows follow it (`converted_at`, `value`) and a bandit
/// optimizes it: `{"event", "metric"}`, inline, or derived from the goal metric of the
/// library (see `ExperimentMetrics::goal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub event: EventName,
    #[serde(default = "default_metric")]
    pub metric: GoalMetric,
    /// How events count toward it (the library metric's window, count, value cap or
    /// retention window; nothing of that for an inline goal).
    #[serde(skip)]
    pub counting: GoalCounting,
}

/// Which of a goal event's occurrences count, and how much.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GoalCounting {
    /// Only events within this long after the assignment.
    pub window: Option<Duration>,
    /// Retention: only events in `[from, to)` after the assignment.
    pub retention: Option<(Duration, Duration)>,
    /// A mean of the events' number: each adds 1, not its value.
    pub of_count: bool,
    /// Each user's total counts at most this much in the statistics.
    pub cap_value: Option<f64>,
}

/// An experiment's metrics, by key in the library: the goal (what the verdict and a bandit
/// optimize; `None` when the inline `goal` is the goal), secondary metrics and guardrails.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentMetrics {
    #[serde(default)]
    pub goal: Option<MetricKey>,
    #[serde(default)]
    pub secondary: Vec<MetricKey>,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
}

/// A metric that must not get worse: `threshold` is the relative harm that matters (0.02:
/// 2% worse in the metric's bad direction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrail {
    pub metric: MetricKey,
    #[serde(default)]
    pub threshold: f64,
    /// What happens when the sequential test shows, at 95%, harm beyond the threshold.
    #[serde(default)]
    pub action: GuardrailAction,
}

str_enum!(
    /// What a guardrail does when it fires: `alert` (recorded, audited, shown; the default),
    /// `pause` (the experiment pauses: enrolled users keep their variant, nobody new enters),
    /// `drop` (bandits only: the harmed arm takes no new users; its enrolled users keep it).
    GuardrailAction { Alert => "alert", Pause => "pause", Drop => "drop" }
);

// str_enum! writes the enum; its variants cannot carry `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for GuardrailAction {
    fn default() -> Self {
        GuardrailAction::Alert
    }
}

/// The largest guardrail threshold: ten times worse.
pub const MAX_GUARDRAIL_THRESHOLD: f64 = 10.0;

/// The role a metric plays in an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricRole {
    Goal,
    Secondary,
    Guardrail,
}

impl MetricRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricRole::Goal => "goal",
            MetricRole::Secondary => "secondary",
            MetricRole::Guardrail => "guardrail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "goal" => Some(MetricRole::Goal),
            "secondary" => Some(MetricRole::Secondary),
            "guardrail" => Some(MetricRole::Guardrail),
            _ => None,
        }
    }
}

impl ExperimentMetrics {
    /// Every declared metric with its role, position and threshold, goal first.
    pub fn declared(&self) -> Vec<(MetricRole, usize, &MetricKey, f64)> {
        let mut out = Vec::new();
        if let Some(goal) = &self.goal {
            out.push((MetricRole::Goal, 0, goal, 0.0));
        }
        out.extend(
            self.guardrails
                .iter()
                .enumerate()
                .map(|(i, g)| (MetricRole::Guardrail, i, &g.metric, g.threshold)),
        );
        out.extend(
            self.secondary
                .iter()
                .enumerate()
                .map(|(i, k)| (MetricRole::Secondary, i, k, 0.0)),
        );
        out
    }

    /// Checks counts, duplicates, thresholds, actions (`drop` needs a bandit `policy`) and
    /// that every key is in `library` (a lookup of the library as it stands in the caller's
    /// transaction).
    pub fn check(
        &self,
        policy: PolicyKind,
        library: &dyn Fn(&MetricKey) -> Option<MetricSpec>,
    ) -> Result<(), ValidationError> {
        if self.secondary.len() > MAX_SECONDARY_METRICS {
            return Err(ValidationError::new(
                "metrics.secondary",
                Violation::TooMany {
                    what: "secondary metrics",
                    max: MAX_SECONDARY_METRICS,
                    found: Some(self.secondary.len()),
                },
            ));
        }
        if self.guardrails.len() > MAX_GUARDRAILS {
            return Err(ValidationError::new(
                "metrics.guardrails",
                Violation::TooMany {
                    what: "guardrails",
                    max: MAX_GUARDRAILS,
                    found: Some(self.guardrails.len()),
                },
            ));
        }
        let mut seen = HashSet::new();
        for (role, i, key, threshold) in self.declared() {
            let field = match role {
                MetricRole::Goal => "metrics.goal".to_string(),
                MetricRole::Secondary => format!("metrics.secondary[{i}]"),
                MetricRole::Guardrail => format!("metrics.guardrails[{i}].metric"),
            };
            if library(key).is_none() {
                return Err(ValidationError::new(
                    field,
                    Violation::UnknownMetric {
                        key: key.to_string(),
                    },
                ));
            }
            if !seen.insert(key) {
                return Err(ValidationError::new(
                    field,
                    Violation::Duplicate {
                        what: "metric",
                        value: key.to_string(),
                    },
                ));
            }
            // An A/B split's weights are its design: only a bandit's allocation may lose an arm.
            if role == MetricRole::Guardrail
                && self.guardrails[i].action == GuardrailAction::Drop
                && policy != PolicyKind::Bandit
            {
                return Err(ValidationError::new(
                    format!("metrics.guardrails[{i}].action"),
                    Violation::GuardrailDrop,
                ));
            }
            if !(0.0..=MAX_GUARDRAIL_THRESHOLD).contains(&threshold) {
                return Err(ValidationError::new(
                    format!("metrics.guardrails[{i}].threshold"),
                    Violation::OutOfRange {
                        min: 0.0,
                        max: MAX_GUARDRAIL_THRESHOLD,
                    },
                ));
            }
        }
        Ok(())
    }
}

impl Goal {
    /// The goal a library metric gives the assignment rows and a bandit: conversion to its
    /// event (conversion, retention) or the mean of its values or count (mean); a ratio's
    /// goal rows follow its numerator. `None` when a part is missing from `library`.
    pub fn of_metric(
        spec: &MetricSpec,
        library: &dyn Fn(&MetricKey) -> Option<MetricSpec>,
    ) -> Option<Goal> {
        let counting = GoalCounting {
            window: spec.window,
            ..GoalCounting::default()
        };
        Some(match &spec.definition {
            MetricDefinition::Conversion { event } => Goal {
                event: event.clone(),
                metric: GoalMetric::Conversion,
                counting,
            },
            MetricDefinition::Retention { event, from, to } => Goal {
                event: event.clone(),
                metric: GoalMetric::Conversion,
                counting: GoalCounting {
                    retention: Some((*from, *to)),
                    ..counting
                },
            },
            MetricDefinition::Mean { event, of, cap } => Goal {
                event: event.clone(),
                metric: GoalMetric::Revenue,
                counting: GoalCounting {
                    of_count: *of == MeanOf::Count,
                    cap_value: match cap {
                        Some(super::metric::Cap::Value(v)) => Some(*v),
                        _ => None,
                    },
                    ..counting
                },
            },
            MetricDefinition::Ratio { numerator, .. } => {
                return Goal::of_metric(&library(numerator)?, library);
            }
        })
    }
}

fn default_metric() -> GoalMetric {
    GoalMetric::Conversion
}

/// A variant as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantDraft {
    pub key: VariantKey,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub payload: Value,
    #[serde(default)]
    pub weight: Option<f64>,
}

/// An experiment as submitted to `POST /api/v1/experiments`, before validation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentDraft {
    pub key: ExperimentKey,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Required but for a factorial experiment (whose factors have theirs; the first's by
    /// default).
    #[serde(default)]
    pub dimension: Option<Dimension>,
    pub kind: Kind,
    /// Factorial experiments: `ab` (each factor hashed on its own; the default) or `bandit`
    /// (Thompson sampling over the cells with a model that shares strength across them).
    #[serde(default)]
    pub policy: Option<PolicyKind>,
    /// Factorial experiments: 2 to 4 factors of 2 to 5 levels; the cells (every combination)
    /// become the variants.
    #[serde(default)]
    pub factors: Vec<Factor>,
    /// Every kind but `factorial`: 2 or more variants.
    #[serde(default)]
    pub variants: Vec<VariantDraft>,
    #[serde(default)]
    pub control: Option<VariantKey>,
    /// The inline goal `{"event", "metric"}`; or name a library metric in `metrics.goal`.
    #[serde(default)]
    pub goal: Option<Goal>,
    /// The goal, secondary metrics and guardrails, by key in the metric library.
    #[serde(default)]
    pub metrics: ExperimentMetrics,
    #[serde(default)]
    pub targeting: Targeting,
    #[serde(default)]
    pub traffic: Option<f64>,
    #[serde(default)]
    pub floor: Option<f64>,
    #[serde(default)]
    pub min_users_per_arm: Option<u32>,
    /// What decides the verdict (default `bayesian`).
    #[serde(default)]
    pub analysis: Option<Analysis>,
    /// Regression adjustment on pre-assignment data: `{"lookback": "14d"}` (the default),
    /// `true` or `false`.
    #[serde(default)]
    pub cuped: Option<CupedDraft>,
    /// No `ship` verdict before the experiment has run this long (a duration, `"7d"` by
    /// default; `"0s"`: no minimum).
    #[serde(default)]
    #[schema(example = "7d")]
    pub min_runtime: Option<String>,
    /// The relative lift that matters (default 0.05): `no_difference` once every variant's
    /// interval excludes effects this large. Above 0, at most 10.
    #[serde(default)]
    pub minimum_effect: Option<f64>,
    /// Pinned rules, checked in order before the experiment: the first whose segment the user
    /// matches decides the variant, and the user is not part of the experiment.
    #[serde(default, rename = "rules")]
    pub pinned_rules: Vec<PinnedRule>,
    /// A mutual-exclusion layer range (optional).
    #[serde(default)]
    pub layer: Option<Layer>,
    /// Context attributes (0 to 3 names, e.g. `["platform", "returning"]`): a bandit keeps
    /// posteriors per combination of their values and assigns each user from their own
    /// segment's; every experiment reports results per segment. Fixed once created.
    #[serde(default)]
    pub context: Vec<String>,
    /// Segments as a context (e.g. `["new", "active", "lapsed"]`, behavioral ones included):
    /// the user's context value `segment` is the first of them they match, `(none)` if none.
    /// Fixed once created.
    #[serde(default)]
    pub context_segments: Vec<SegmentKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Variant {
    pub key: VariantKey,
    pub name: String,
    pub payload: Value,
    /// The fixed share of an `ab` experiment; for a bandit, the initial (uniform) share.
    pub weight: f64,
}

/// A valid experiment definition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExperimentSpec {
    pub key: ExperimentKey,
    pub name: String,
    pub description: String,
    pub dimension: Dimension,
    pub kind: Kind,
    /// How a new user's variant is chosen (for `ab` and `bandit` experiments, their kind).
    pub policy: PolicyKind,
    /// Factorial experiments: the factors, whose cells are `variants` (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<Factor>,
    pub variants: Vec<Variant>,
    pub control: VariantKey,
    pub goal: Goal,
    pub metrics: ExperimentMetrics,
    pub targeting: Targeting,
    pub traffic: f64,
    /// Bandits only: the least share any arm gets, so no arm is starved of data.
    pub floor: f64,
    /// The minimum-data rule: no winner is called before every arm has this many users.
    pub min_users_per_arm: u32,
    /// What decides the verdict.
    pub analysis: Analysis,
    /// CUPED: the lookback window before each assignment, or `false`.
    #[schema(value_type = serde_json::Value)]
    pub cuped: Cuped,
    /// No `ship` verdict before the experiment has run this long.
    pub min_runtime: Duration,
    /// The relative lift that matters: smaller effects count as no difference.
    pub minimum_effect: f64,
    /// Pinned rules: segment → variant, checked in order before the experiment.
    #[serde(rename = "rules")]
    pub pinned_rules: Vec<PinnedRule>,
    /// The mutual-exclusion layer range, if any.
    pub layer: Option<Layer>,
    /// Context attributes: segments of the contextual bandit and of per-segment results.
    pub context: Vec<String>,
    /// Segments whose first match is the user's context value `segment`.
    pub context_segments: Vec<SegmentKey>,
}

/// An experiment as stored, with its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Experiment {
    #[serde(skip)]
    pub id: i64,
    #[serde(flatten)]
    pub spec: ExperimentSpec,
    pub status: Status,
    pub winner: Option<VariantKey>,
    #[serde(skip)]
    pub version: i64,
    /// Database ids of `spec.variants`, in the same order.
    #[serde(skip)]
    pub variant_ids: Vec<i64>,
    /// When a `drop` guardrail took each of `spec.variants` out of a bandit's allocation
    /// (`None`: it takes new users), in the same order.
    #[serde(skip)]
    pub dropped_at: Vec<Option<DateTime<Utc>>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

impl Experiment {
    /// Whether each of `spec.variants` was dropped (takes no new users), in order.
    pub fn dropped(&self) -> Vec<bool> {
        (0..self.spec.variants.len())
            .map(|i| self.dropped_at.get(i).is_some_and(|d| d.is_some()))
            .collect()
    }
}

/// What `PATCH` may change while an experiment runs.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub traffic: Option<f64>,
    pub targeting: Option<Targeting>,
    /// `ab` only: a weight for every variant, summing to 1.
    pub weights: Option<BTreeMap<VariantKey, f64>>,
    /// `bandit` only.
    pub floor: Option<f64>,
    pub min_users_per_arm: Option<u32>,
    pub analysis: Option<Analysis>,
    /// `{"lookback": "7d"}`, `true` or `false`; a new window recomputes the covariates.
    pub cuped: Option<CupedDraft>,
    /// A duration (`"7d"`, `"0s"` for none).
    #[schema(example = "7d")]
    pub min_runtime: Option<String>,
    pub minimum_effect: Option<f64>,
    /// Replaces the pinned rules (`[]` removes them).
    #[serde(rename = "rules")]
    pub pinned_rules: Option<Vec<PinnedRule>>,
    /// Moves the experiment in a layer; `null` takes it out.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Layer>)]
    pub layer: Option<Option<Layer>>,
    /// Replaces the metrics (also of a stopped experiment); the goal may change only in a
    /// draft.
    pub metrics: Option<ExperimentMetrics>,
}

impl ExperimentPatch {
    /// Whether the patch changes nothing but the metrics (all a stopped experiment allows).
    pub fn only_metrics(&self) -> bool {
        let ExperimentPatch {
            name,
            description,
            traffic,
            targeting,
            weights,
            floor,
            min_users_per_arm,
            analysis,
            cuped,
            min_runtime,
            minimum_effect,
            pinned_rules,
            layer,
            metrics: _,
        } = self;
        name.is_none()
            && description.is_none()
            && traffic.is_none()
            && targeting.is_none()
            && weights.is_none()
            && floor.is_none()
            && min_users_per_arm.is_none()
            && analysis.is_none()
            && cuped.is_none()
            && min_runtime.is_none()
            && minimum_effect.is_none()
            && pinned_rules.is_none()
            && layer.is_none()
    }
}

fn check_traffic(traffic: f64) -> Result<(), ValidationError> {
    if !(0.0..=1.0).contains(&traffic) {
        return Err(ValidationError::new(
            "traffic",
            Violation::OutOfRange { min: 0.0, max: 1.0 },
        ));
    }
    Ok(())
}

fn check_floor(floor: f64, arms: usize) -> Result<(), ValidationError> {
    let max = 1.0 / arms as f64;
    if !(0.0..=max).contains(&floor) {
        return Err(ValidationError::new(
            "floor",
            Violation::FloorTooHigh { arms, max },
        ));
    }
    Ok(())
}

fn check_min_users(n: u32) -> Result<(), ValidationError> {
    if n > MAX_MIN_USERS_PER_ARM {
        return Err(ValidationError::new(
            "min_users_per_arm",
            Violation::TooLarge {
                max: MAX_MIN_USERS_PER_ARM.into(),
            },
        ));
    }
    Ok(())
}

fn parse_min_runtime(text: &str) -> Result<Duration, ValidationError> {
    Duration::parse_or_zero("min_runtime", text)
}

fn check_minimum_effect(effect: f64) -> Result<(), ValidationError> {
    if !(effect > 0.0 && effect <= MAX_MINIMUM_EFFECT) {
        return Err(ValidationError::new(
            "minimum_effect",
            Violation::MinimumEffect {
                max: MAX_MINIMUM_EFFECT,
            },
        ));
    }
    Ok(())
}

fn check_context(names: &[String], segments: &[SegmentKey]) -> Result<(), ValidationError> {
    if segments.len() > MAX_CONTEXT_SEGMENTS {
        return Err(ValidationError::new(
            "context_segments",
            Violation::TooMany {
                what: "context segments",
                max: MAX_CONTEXT_SEGMENTS,
                found: Some(segments.len()),
            },
        ));
    }
    let mut keys = HashSet::new();
    for key in segments {
        if !keys.insert(key.as_str()) {
            return Err(ValidationError::new(
                "context_segments",
                Violation::Duplicate {
                    what: "context segment",
                    value: key.to_string(),
                },
            ));
        }
    }
    if !segments.is_empty() && names.iter().any(|n| n == SEGMENT_CONTEXT) {
        return Err(ValidationError::new(
            "context",
            Violation::Duplicate {
                what: "context attribute (context_segments are the context value \"segment\")",
                value: SEGMENT_CONTEXT.to_string(),
            },
        ));
    }
    if names.len() > MAX_CONTEXT_ATTRIBUTES {
        return Err(ValidationError::new(
            "context",
            Violation::TooMany {
                what: "context attributes",
                max: MAX_CONTEXT_ATTRIBUTES,
                found: Some(names.len()),
            },
        ));
    }
    let mut seen = HashSet::new();
    for name in names {
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME || name.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                "context",
                Violation::Text {
                    max_bytes: MAX_ATTRIBUTE_NAME,
                },
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(ValidationError::new(
                "context",
                Violation::Duplicate {
                    what: "context attribute",
                    value: name.clone(),
                },
            ));
        }
    }
    Ok(())
}

fn check_weights(weights: &[f64]) -> Result<(), ValidationError> {
    if weights.iter().any(|w| !(0.0..=1.0).contains(w)) {
        return Err(ValidationError::new(
            "weights",
            Violation::OutOfRange { min: 0.0, max: 1.0 },
        ));
    }
    let sum: f64 = weights.iter().sum();
    if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
        return Err(ValidationError::new(
            "weights",
            Violation::WeightsSum { sum },
        ));
    }
    Ok(())
}

impl ExperimentDraft {
    /// The draft's policy, dimension and variants: as given, or a factorial experiment's
    /// cells (weights equal: each factor's levels are equally likely).
    fn design(&self) -> Result<(PolicyKind, Dimension, Vec<VariantDraft>), ValidationError> {
        let required = |field: &str| ValidationError::new(field, Violation::Required);
        if self.kind != Kind::Factorial {
            if !self.factors.is_empty() {
                return Err(ValidationError::new(
                    "factors",
                    Violation::FactorsOfOtherKind,
                ));
            }
            let policy = match self.kind {
                Kind::Bandit => PolicyKind::Bandit,
                _ => PolicyKind::Ab,
            };
            if self.policy.is_some_and(|p| p != policy) {
                return Err(ValidationError::new("policy", Violation::PolicyOfOtherKind));
            }
            let dimension = self.dimension.ok_or_else(|| required("dimension"))?;
            return Ok((policy, dimension, self.variants.clone()));
        }
        if !self.variants.is_empty() {
            return Err(ValidationError::new(
                "variants",
                Violation::VariantsOfFactorial,
            ));
        }
        if self.factors.is_empty() {
            return Err(required("factors"));
        }
        let cells = factorial::cells(&self.factors)?;
        let variants = cells
            .into_iter()
            .map(|cell| VariantDraft {
                key: cell.key,
                name: None,
                payload: cell.payload,
                weight: None,
            })
            .collect();
        Ok((
            self.policy.unwrap_or(PolicyKind::Ab),
            self.dimension.unwrap_or(self.factors[0].dimension),
            variants,
        ))
    }

    /// Every name in the draft with its field: the experiment's, then its variants' (for
    /// limits stricter than the domain's, such as a configured one).
    pub fn names(&self) -> impl Iterator<Item = (String, &str)> {
        std::iter::once(("name".to_string(), self.name.as_str())).chain(
            self.variants.iter().filter_map(|v| {
                let name = v.name.as_deref()?;
                Some((format!("variants.{}.name", v.key), name))
            }),
        )
    }

    /// Validates a draft that names no library metric.
    pub fn validate(self) -> Result<ExperimentSpec, ValidationError> {
        self.validate_with(&|_| None)
    }

    /// Validates the draft; `library` looks metrics up as the library stands in the
    /// caller's transaction.
    pub fn validate_with(
        self,
        library: &dyn Fn(&MetricKey) -> Option<MetricSpec>,
    ) -> Result<ExperimentSpec, ValidationError> {
        check_name("name", &self.name)?;
        check_description(&self.description)?;
        let (policy, dimension, variants) = self.design()?;
        let n = variants.len();
        // A factorial experiment's cells are bounded by its factors' own limits (5⁴ = 625).
        if self.kind != Kind::Factorial && !(2..=MAX_VARIANTS).contains(&n) {
            return Err(ValidationError::new(
                "variants",
                Violation::Count {
                    what: "variants",
                    min: 2,
                    max: MAX_VARIANTS,
                    found: n,
                },
            ));
        }
        let mut seen = HashSet::new();
        for v in &variants {
            if !seen.insert(v.key.as_str()) {
                return Err(ValidationError::new(
                    "variants",
                    Violation::Duplicate {
                        what: "variant key",
                        value: v.key.to_string(),
                    },
                ));
            }
            if let Some(name) = &v.name {
                check_name(&format!("variants.{}.name", v.key), name)?;
            }
            if has_nul(&v.payload) {
                return Err(ValidationError::new(
                    format!("variants.{}.payload", v.key),
                    Violation::Nul,
                ));
            }
            let len = serde_json::to_vec(&v.payload).map_or(usize::MAX, |b| b.len());
            if len > MAX_PAYLOAD_BYTES {
                return Err(ValidationError::new(
                    format!("variants.{}.payload", v.key),
                    Violation::TooLong {
                        what: "payloads (as JSON)",
                        len,
                        max_bytes: MAX_PAYLOAD_BYTES,
                    },
                ));
            }
            let field = format!("variants.{}.payload", v.key);
            if PersonalPayload::parse(&field, &v.payload)?.is_some()
                && dimension != Dimension::Timing
                && self.factors.is_empty()
            {
                return Err(ValidationError::new(field, Violation::PersonalTimingOnly));
            }
        }
        // OpenFeature clients infer a flag's type from its value, so every payload must have one JSON type.
        let kinds: HashSet<&str> = variants.iter().map(|v| json_type(&v.payload)).collect();
        if kinds.len() > 1 {
            return Err(ValidationError::new(
                "variants",
                Violation::MixedPayloadTypes,
            ));
        }

        let given: Vec<f64> = variants.iter().filter_map(|v| v.weight).collect();
        let weights = match policy {
            PolicyKind::Bandit if !given.is_empty() => {
                return Err(ValidationError::new("weights", Violation::WeightsForBandit));
            }
            PolicyKind::Ab if !given.is_empty() => {
                if given.len() != n {
                    return Err(ValidationError::new(
                        "weights",
                        Violation::WeightsIncomplete { or_none: true },
                    ));
                }
                check_weights(&given)?;
                given
            }
            _ => vec![1.0 / n as f64; n],
        };

        let control = match self.control {
            // Main effects are each factor's levels against its first: the control is the
            // cell of every first level.
            Some(c) if self.kind == Kind::Factorial && c != variants[0].key => {
                return Err(ValidationError::new(
                    "control",
                    Violation::ControlOfFactorial,
                ));
            }
            Some(c) if seen.contains(c.as_str()) => c,
            Some(c) => {
                return Err(ValidationError::new(
                    "control",
                    Violation::UnknownVariant {
                        key: c.into_inner(),
                    },
                ));
            }
            None => variants[0].key.clone(),
        };
        let traffic = self.traffic.unwrap_or(1.0);
        check_traffic(traffic)?;
        let floor = match (policy, self.floor) {
            (PolicyKind::Ab, Some(_)) => {
                return Err(ValidationError::new("floor", Violation::FloorForAb));
            }
            (PolicyKind::Ab, None) => 0.0,
            // Many cells: the default floor shrinks so that every cell can have it.
            (PolicyKind::Bandit, f) => f.unwrap_or(DEFAULT_FLOOR.min(0.5 / n as f64)),
        };
        check_floor(floor, n)?;
        let min_users_per_arm = self.min_users_per_arm.unwrap_or(DEFAULT_MIN_USERS_PER_ARM);
        check_min_users(min_users_per_arm)?;
        let min_runtime = match &self.min_runtime {
            Some(text) => parse_min_runtime(text)?,
            None => DEFAULT_MIN_RUNTIME,
        };
        let minimum_effect = self.minimum_effect.unwrap_or(DEFAULT_MINIMUM_EFFECT);
        check_minimum_effect(minimum_effect)?;
        check_pinned_rules(&self.pinned_rules, |k| seen.contains(k))?;
        if let Some(layer) = &self.layer {
            layer.check()?;
        }
        check_context(&self.context, &self.context_segments)?;
        self.metrics.check(policy, library)?;
        let goal = resolve_goal(self.goal, &self.metrics, policy, library)?;
        let cuped = match &self.cuped {
            Some(draft) => draft.validate()?,
            None => Cuped::default(),
        };

        let variants = variants
            .into_iter()
            .zip(weights)
            .map(|(v, weight)| Variant {
                name: v.name.unwrap_or_else(|| v.key.to_string()),
                key: v.key,
                payload: v.payload,
                weight,
            })
            .collect();
        Ok(ExperimentSpec {
            key: self.key,
            name: self.name,
            description: self.description,
            dimension,
            kind: self.kind,
            policy,
            factors: self.factors,
            variants,
            control,
            goal,
            metrics: self.metrics,
            targeting: self.targeting,
            traffic,
            floor,
            min_users_per_arm,
            analysis: self.analysis.unwrap_or(Analysis::Bayesian),
            cuped,
            min_runtime,
            minimum_effect,
            pinned_rules: self.pinned_rules,
            layer: self.layer,
            context: self.context,
            context_segments: self.context_segments,
        })
    }
}

/// The goal of a draft: the inline one, or the one its goal metric gives; exactly one must
/// be named, and a bandit's must have a per-user model Thompson sampling can draw from.
fn resolve_goal(
    inline: Option<Goal>,
    metrics: &ExperimentMetrics,
    policy: PolicyKind,
    library: &dyn Fn(&MetricKey) -> Option<MetricSpec>,
) -> Result<Goal, ValidationError> {
    match (inline, &metrics.goal) {
        (Some(goal), None) => Ok(goal),
        (None, Some(key)) => {
            let unknown = || {
                ValidationError::new(
                    "metrics.goal",
                    Violation::UnknownMetric {
                        key: key.to_string(),
                    },
                )
            };
            let spec = library(key).ok_or_else(unknown)?;
            let kind_of_goal = spec.definition.metric_type();
            if policy == PolicyKind::Bandit
                && matches!(kind_of_goal, MetricType::Ratio | MetricType::Retention)
            {
                return Err(ValidationError::new(
                    "metrics.goal",
                    Violation::BanditGoal {
                        kind: kind_of_goal.as_str(),
                    },
                ));
            }
            Goal::of_metric(&spec, library).ok_or_else(unknown)
        }
        (inline, goal) => Err(ValidationError::new(
            "goal",
            Violation::GoalCount {
                found: usize::from(inline.is_some()) + usize::from(goal.is_some()),
            },
        )),
    }
}

impl ExperimentSpec {
    pub fn variant_index(&self, key: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.key.as_str() == key)
    }

    /// Every segment the targeting, the pinned rules and the context reference (may repeat).
    pub fn segment_refs(&self) -> Vec<&SegmentKey> {
        let mut refs = self.targeting.segment_refs();
        refs.extend(self.pinned_rules.iter().map(|r| &r.segment));
        refs.extend(&self.context_segments);
        refs
    }

    /// The names of the context's values: the context attributes, then `segment` when
    /// context segments are given. Empty for an experiment without context.
    pub fn context_names(&self) -> Vec<String> {
        let mut names = self.context.clone();
        if !self.context_segments.is_empty() {
            names.push(SEGMENT_CONTEXT.to_string());
        }
        names
    }

    /// The spec with its goal derived again from `library` (after an edit of a metric it
    /// uses), or why the edit cannot stand (a bandit's goal turned into a ratio).
    pub fn relinked(
        &self,
        library: &dyn Fn(&MetricKey) -> Option<MetricSpec>,
    ) -> Result<ExperimentSpec, ValidationError> {
        let mut spec = self.clone();
        if self.metrics.goal.is_some() {
            spec.goal = resolve_goal(None, &self.metrics, self.policy, library)?;
        }
        Ok(spec)
    }

    /// Applies a patch that names no library metric.
    pub fn patched(&self, patch: ExperimentPatch) -> Result<ExperimentSpec, ValidationError> {
        self.patched_with(patch, &|_| None)
    }

    /// Applies a patch, returning the changed spec, or why it cannot apply; `library` looks
    /// metrics up. Whether the goal may change (a draft) is the caller's to check.
    pub fn patched_with(
        &self,
        patch: ExperimentPatch,
        library: &dyn Fn(&MetricKey) -> Option<MetricSpec>,
    ) -> Result<ExperimentSpec, ValidationError> {
        let mut spec = self.clone();
        if let Some(name) = patch.name {
            check_name("name", &name)?;
            spec.name = name;
        }
        if let Some(description) = patch.description {
            check_description(&description)?;
            spec.description = description;
        }
        if let Some(traffic) = patch.traffic {
            check_traffic(traffic)?;
            spec.traffic = traffic;
        }
        if let Some(targeting) = patch.targeting {
            spec.targeting = targeting;
        }
        if let Some(weights) = patch.weights {
            if spec.kind != Kind::Ab {
                return Err(ValidationError::new(
                    "weights",
                    match spec.kind {
                        Kind::Factorial => Violation::WeightsForFactorial,
                        _ => Violation::WeightsForBandit,
                    },
                ));
            }
            if let Some(unknown) = weights
                .keys()
                .find(|k| spec.variant_index(k.as_str()).is_none())
            {
                return Err(ValidationError::new(
                    "weights",
                    Violation::UnknownVariant {
                        key: unknown.to_string(),
                    },
                ));
            }
            if weights.len() != spec.variants.len() {
                return Err(ValidationError::new(
                    "weights",
                    Violation::WeightsIncomplete { or_none: false },
                ));
            }
            let ordered: Vec<f64> = spec.variants.iter().map(|v| weights[&v.key]).collect();
            check_weights(&ordered)?;
            for (v, w) in spec.variants.iter_mut().zip(ordered) {
                v.weight = w;
            }
        }
        if let Some(floor) = patch.floor {
            if spec.policy != PolicyKind::Bandit {
                return Err(ValidationError::new("floor", Violation::FloorForAb));
            }
            check_floor(floor, spec.variants.len())?;
            spec.floor = floor;
        }
        if let Some(n) = patch.min_users_per_arm {
            check_min_users(n)?;
            spec.min_users_per_arm = n;
        }
        if let Some(analysis) = patch.analysis {
            spec.analysis = analysis;
        }
        if let Some(cuped) = &patch.cuped {
            spec.cuped = cuped.validate()?;
        }
        if let Some(text) = patch.min_runtime {
            spec.min_runtime = parse_min_runtime(&text)?;
        }
        if let Some(effect) = patch.minimum_effect {
            check_minimum_effect(effect)?;
            spec.minimum_effect = effect;
        }
        if let Some(rules) = patch.pinned_rules {
            check_pinned_rules(&rules, |k| spec.variant_index(k).is_some())?;
            spec.pinned_rules = rules;
        }
        if let Some(layer) = patch.layer {
            if let Some(l) = &layer {
                l.check()?;
            }
            spec.layer = layer;
        }
        if let Some(metrics) = patch.metrics {
            metrics.check(spec.policy, library)?;
            if metrics.goal != spec.metrics.goal {
                let inline = metrics.goal.is_none().then(|| spec.goal.clone());
                spec.goal = resolve_goal(inline, &metrics, spec.policy, library)?;
            }
            spec.metrics = metrics;
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(v: Value) -> Result<ExperimentSpec, ValidationError> {
        serde_json::from_value::<ExperimentDraft>(v)
            .expect("a draft")
            .validate()
    }

    fn base() -> Value {
        json!({"key": "push-time", "name": "Push send time", "dimension": "timing", "kind": "ab",
               "variants": [{"key": "morning", "payload": {"h": 8}}, {"key": "evening", "payload": {"h": 19}}],
               "goal": {"event": "open"}})
    }

    #[test]
    fn defaults() {
        let spec = draft(base()).unwrap();
        assert_eq!(spec.control.as_str(), "morning");
        assert_eq!(spec.traffic, 1.0);
        assert_eq!(spec.goal.metric, GoalMetric::Conversion);
        assert_eq!(spec.variants[1].weight, 0.5);
        assert_eq!(spec.variants[1].name, "evening");
        assert_eq!(spec.min_runtime.to_string(), "7d");
        assert_eq!(spec.minimum_effect, 0.05);
    }

    #[test]
    fn verdict_settings() {
        let mut none = base();
        none["min_runtime"] = json!("0s");
        none["minimum_effect"] = json!(10.0);
        let spec = draft(none).unwrap();
        assert_eq!(spec.min_runtime.seconds(), 0);
        for (field, value) in [
            ("min_runtime", json!("abc")),
            ("min_runtime", json!("-1d")),
            ("minimum_effect", json!(0.0)),
            ("minimum_effect", json!(-0.1)),
            ("minimum_effect", json!(10.5)),
        ] {
            let mut bad = base();
            bad[field] = value.clone();
            assert_eq!(draft(bad).unwrap_err().field, field, "{value}");
        }
        let patch: ExperimentPatch =
            serde_json::from_value(json!({"min_runtime": "14d", "minimum_effect": 0.1})).unwrap();
        let patched = spec.patched(patch).unwrap();
        assert_eq!(
            (
                patched.min_runtime.to_string().as_str(),
                patched.minimum_effect
            ),
            ("14d", 0.1)
        );
        let wrong: ExperimentPatch = serde_json::from_value(json!({"minimum_effect": 0})).unwrap();
        assert_eq!(spec.patched(wrong).unwrap_err().field, "minimum_effect");
    }

    #[test]
    fn refusals() {
        let mut one = base();
        one["variants"] = json!([{"key": "a"}]);
        assert!(matches!(
            draft(one).unwrap_err().violation,
            Violation::Count { found: 1, .. }
        ));
        let mut dup = base();
        dup["variants"] = json!([{"key": "a"}, {"key": "a"}]);
        assert!(matches!(
            draft(dup).unwrap_err().violation,
            Violation::Duplicate { .. }
        ));
        let mut bad_sum = base();
        bad_sum["variants"] = json!([{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.6}]);
        let e = draft(bad_sum).unwrap_err();
        assert!(matches!(e.violation, Violation::WeightsSum { sum } if (sum - 1.1).abs() < 1e-9));
        assert_eq!(e.to_string(), "weights: weights must sum to 1, not 1.1");
        let mut control = base();
        control["control"] = json!("noon");
        assert_eq!(draft(control).unwrap_err().field, "control");
        let mut mixed = base();
        mixed["variants"] = json!([{"key": "a", "payload": 1}, {"key": "b", "payload": "x"}]);
        assert!(draft(mixed).is_err());
        let mut floor = base();
        floor["kind"] = json!("bandit");
        floor["floor"] = json!(0.6);
        assert_eq!(draft(floor).unwrap_err().field, "floor");
        let mut traffic = base();
        traffic["traffic"] = json!(1.5);
        assert_eq!(draft(traffic).unwrap_err().field, "traffic");
    }

    #[test]
    fn patch_weights() {
        let spec = draft(base()).unwrap();
        let patch: ExperimentPatch =
            serde_json::from_value(json!({"weights": {"morning": 0.2, "evening": 0.8}})).unwrap();
        let patched = spec.patched(patch).unwrap();
        assert_eq!(patched.variants[1].weight, 0.8);
        let wrong: ExperimentPatch =
            serde_json::from_value(json!({"weights": {"morning": 1.0}})).unwrap();
        assert!(spec.patched(wrong).is_err());
    }
}
