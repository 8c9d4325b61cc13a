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
mod erasure;
mod experiment;
#[cfg(test)]
pub(crate) mod fuzz;
mod keys;
mod names;
mod segment;
mod targeting;
mod time_range;

pub use audit::AuditEntry;
pub use erasure::Erased;
pub use experiment::{
    Dimension, Experiment, ExperimentDraft, ExperimentPatch, ExperimentSpec, Goal, Kind, MAX_NAME,
    MAX_VARIANTS, Metric, Status, Variant, VariantDraft,
};
pub use keys::{
    ApiKey, MAX_KEY_NAME, MAX_RATE_LIMIT, Scope, validate_key_name, validate_rate_limit,
};
pub use names::{EventName, ExperimentKey, LayerKey, MAX_USER_ID, SegmentKey, UserId, VariantKey};
pub use segment::{
    Layer, MAX_HOLDOUT, PinnedRule, Segment, SegmentDraft, SegmentSpec, check_holdout,
};
pub use targeting::{
    Attributes, Condition, MAX_ATTRIBUTE_NAME, MAX_ATTRIBUTE_STRING, MAX_ATTRIBUTES,
    MAX_CONDITIONS, MAX_DEPTH, Op, Rule, Targeting,
};
pub use time_range::{RangeEnd, RangeError, TimeRange};

/// PostgreSQL text and JSONB cannot hold a NUL character: such input is refused at the
/// boundary (a 400) instead of failing in the database (a 500).
pub fn has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Why an input was refused; `field` names where, for forms and API messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
