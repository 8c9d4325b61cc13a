//! The vocabulary shared by every layer: validated newtypes and the experiment definition.
//!
//! Input is parsed here once, at the boundary (`parse` / `validate`), so the layers below
//! never see an invalid key, weight or targeting rule.

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod audit;
pub mod behavior;
mod conflict;
mod cuped;
pub mod enrollment;
mod erasure;
mod experiment;
pub mod factorial;
#[cfg(test)]
pub(crate) mod fuzz;
mod keys;
mod metric;
mod names;
mod payload;
pub mod personal_timing;
pub mod profile;
mod segment;
mod targeting;
mod text;
mod time_range;
mod validation;
mod webhook;

pub use audit::AuditEntry;
pub use conflict::Conflict;
pub use cuped::{Cuped, CupedDraft};
pub use erasure::Erased;
pub use experiment::{
    Analysis, DEFAULT_MIN_RUNTIME, DEFAULT_MINIMUM_EFFECT, Experiment, ExperimentDraft,
    ExperimentMetrics, ExperimentPatch, ExperimentSpec, Goal, GoalCounting, GoalMetric, Guardrail,
    GuardrailAction, Kind, MAX_MINIMUM_EFFECT, MAX_VARIANTS, MetricRole, PolicyKind, Status,
    Variant, VariantDraft,
};
pub use keys::{
    ApiKey, MAX_KEY_NAME, MAX_RATE_LIMIT, Scope, validate_key_name, validate_rate_limit,
};
pub use metric::{
    Cap, Direction, Duration, INLINE_GOAL_KEY, MAX_GUARDRAILS, MAX_SECONDARY_METRICS, MeanOf,
    Metric, MetricDefinition, MetricDraft, MetricOut, MetricSpec, MetricType, MetricView,
};
pub use names::{
    EventName, ExperimentKey, FactorKey, LayerKey, LevelKey, MAX_USER_ID, MetricKey, SegmentKey,
    UserId, VariantKey,
};
pub use payload::Dimension;
pub use segment::{
    Layer, MAX_HOLDOUT, PinnedRule, Segment, SegmentDraft, SegmentSpec, check_holdout,
};
pub use targeting::{
    Attributes, Condition, MAX_ATTRIBUTE_NAME, MAX_ATTRIBUTE_STRING, MAX_ATTRIBUTES,
    MAX_CONDITIONS, MAX_DEPTH, Op, Rule, Subject, Targeting,
};
pub use text::{MAX_NAME, has_nul};
pub use time_range::{RangeEnd, RangeError, TimeRange};
pub use validation::{ValidationError, Violation};
pub use webhook::{
    CreatedWebhook, DeliveryAttempt, DeliveryState, MAX_WEBHOOK_EVENTS, MAX_WEBHOOK_URL, Webhook,
    WebhookDelivery, WebhookDraft, WebhookEvent, WebhookSpec,
};
