//! Why a change was refused for what already exists, as data: the API answers 409 with its
//! message (`Display`); the dashboard places it next to the form field it concerns.

use super::Status;
use std::fmt;

/// A change that conflicts with what is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Conflict {
    /// An experiment or segment with this key exists already (`what`: "an experiment", "a segment").
    KeyTaken { what: &'static str, key: String },
    /// Another unique value exists already (the database's own words).
    Duplicate(String),
    /// The layer range overlaps another experiment's range in the same layer.
    LayerOverlap {
        layer: String,
        range: (f64, f64),
        other: String,
        other_range: (f64, f64),
    },
    /// The segment is used by experiments that are not stopped.
    SegmentInUse {
        segment: String,
        experiments: Vec<String>,
    },
    /// The lifecycle does not allow `action` (start, pause, stop) from `status`.
    Lifecycle {
        action: &'static str,
        status: Status,
    },
    /// A stopped experiment cannot be edited (but for its metrics).
    Stopped,
    /// The metric is used by experiments that are not stopped.
    MetricInUse {
        metric: String,
        experiments: Vec<String>,
    },
    /// The metric is a part of ratio metrics.
    MetricIsPart { metric: String, ratios: Vec<String> },
    /// This guardrail has fired already for this variant (it fires once).
    GuardrailFired {
        experiment: String,
        metric: String,
        variant: String,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::KeyTaken { what, key } => write!(f, "{what} with key {key:?} exists"),
            Conflict::Duplicate(message) => f.write_str(message),
            Conflict::LayerOverlap {
                layer,
                range,
                other,
                other_range,
            } => write!(
                f,
                "layer {layer:?}: the range [{}, {}) overlaps experiment {other:?}'s range [{}, {}); experiments of one layer must not share users",
                range.0, range.1, other_range.0, other_range.1
            ),
            Conflict::SegmentInUse {
                segment,
                experiments,
            } => write!(
                f,
                "segment {segment:?} is used by experiments that are not stopped: {}; remove it from them (or stop them) first",
                experiments.join(", ")
            ),
            Conflict::Lifecycle { action, status } => {
                write!(f, "cannot {action} an experiment that is {status}")
            }
            Conflict::Stopped => {
                f.write_str("a stopped experiment cannot be edited, except for its metrics")
            }
            Conflict::MetricInUse {
                metric,
                experiments,
            } => write!(
                f,
                "metric {metric:?} is used by experiments that are not stopped: {}; remove it from them (or stop them) first",
                experiments.join(", ")
            ),
            Conflict::MetricIsPart { metric, ratios } => write!(
                f,
                "metric {metric:?} is a part of the ratio metrics {}; change or delete them first",
                ratios.join(", ")
            ),
            Conflict::GuardrailFired {
                experiment,
                metric,
                variant,
            } => write!(
                f,
                "guardrail {metric:?} of {experiment:?} has fired already for variant {variant:?}"
            ),
        }
    }
}
