//! Why an input was refused, as data: where (`field`) and which rule it broke (`Violation`,
//! with the numbers the rule needs). The API's message is made from it (`Display`); the
//! dashboard places the same value next to a form field and words it in the form's terms.

use std::fmt;

/// An input that breaks a rule. `field` is the path of the value in the input as the API
/// receives it: `name`, `variants.b.name`, `targeting[2].any[0]`, `rules[1].variant`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {violation}")]
pub struct ValidationError {
    pub field: String,
    pub violation: Violation,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, violation: Violation) -> Self {
        Self {
            field: field.into(),
            violation,
        }
    }

    /// The same violation, found at another field (a value checked on behalf of another).
    pub fn at(self, field: impl Into<String>) -> Self {
        Self::new(field, self.violation)
    }
}

/// The rule an input broke.
#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    /// Not of its format (a key, an id, an event name): `expected` says what is.
    Format {
        value: String,
        expected: &'static str,
    },
    /// Text that must be 1 to `max_bytes` bytes without control characters.
    Text {
        max_bytes: usize,
    },
    /// Text that may be empty but at most `max_bytes` bytes without control characters.
    OptionalText {
        max_bytes: usize,
    },
    /// `len` bytes where `what` (plural: "names", "user ids") take at most `max_bytes`.
    TooLong {
        what: &'static str,
        len: usize,
        max_bytes: usize,
    },
    /// A NUL character, which PostgreSQL text cannot hold.
    Nul,
    /// A number outside `[min, max]`.
    OutOfRange {
        min: f64,
        max: f64,
    },
    /// A number above `max`.
    TooLarge {
        max: u64,
    },
    /// A rate limit that is not above 0 and at most `max` requests per second.
    RateLimit {
        max: f64,
    },
    /// A bandit's floor above its largest possible value, 1 / `arms`.
    FloorTooHigh {
        arms: usize,
        max: f64,
    },
    /// Weights that do not sum to 1.
    WeightsSum {
        sum: f64,
    },
    /// Some variants have a weight and others not; `or_none`: leaving every weight out works too.
    WeightsIncomplete {
        or_none: bool,
    },
    /// Weights given for a bandit, which allocates by itself.
    WeightsForBandit,
    /// A floor given for an A/B experiment, which has fixed weights.
    FloorForAb,
    /// Weights given for a factorial experiment, whose factors' levels are equally likely.
    WeightsForFactorial,
    /// Factors given for an experiment whose kind is not `factorial`.
    FactorsOfOtherKind,
    /// A policy given for an `ab` or `bandit` experiment that contradicts its kind.
    PolicyOfOtherKind,
    /// Variants given for a factorial experiment, whose variants are its cells.
    VariantsOfFactorial,
    /// A factorial experiment's control other than the cell of every factor's first level.
    ControlOfFactorial,
    /// A factor key that is the name of a column of the exports (each factor has one).
    ReservedColumn {
        value: String,
    },
    /// Fewer than `min` or more than `max` of `what` (plural).
    Count {
        what: &'static str,
        min: usize,
        max: usize,
        found: usize,
    },
    /// More than `max` of `what` (plural), `found` when counted.
    TooMany {
        what: &'static str,
        max: usize,
        found: Option<usize>,
    },
    /// `value` appears twice where `what` must be unique.
    Duplicate {
        what: &'static str,
        value: String,
    },
    UnknownVariant {
        key: String,
    },
    UnknownSegment {
        key: String,
    },
    UnknownKey {
        id: i64,
    },
    /// Payloads of different JSON types (OpenFeature infers a flag's type from its value).
    MixedPayloadTypes,
    /// A layer range that is not `0 <= from < to <= 1`.
    LayerRange {
        from: f64,
        to: f64,
    },
    /// A key in the body that differs from the path's: keys cannot change.
    KeyChanged {
        body: String,
        path: String,
    },
    MissingKey,
    /// A guardrail's `drop` action on an experiment that is not a bandit.
    GuardrailDrop,
    /// A key the server gives a meaning of its own (`goal`: the inline goal in results).
    ReservedKey {
        value: String,
    },
    /// Not a duration: a whole number and a unit (`90s`, `30m`, `72h`, `7d`).
    Duration {
        value: String,
    },
    /// A minimum effect of interest that is not a relative lift above 0 and at most `max`.
    MinimumEffect {
        max: f64,
    },
    /// A field this type of metric needs (`kind`: conversion, mean, ratio, retention).
    MetricFieldRequired {
        kind: &'static str,
    },
    /// A field this type of metric does not have.
    MetricFieldNotAllowed {
        kind: &'static str,
    },
    /// Strictly between `min` and `max`.
    OpenRange {
        min: f64,
        max: f64,
    },
    /// A retention window whose end is not after its start.
    RetentionOrder {
        from: String,
        to: String,
    },
    /// No metric has this key in the library.
    UnknownMetric {
        key: String,
    },
    /// A ratio's part that is itself a ratio.
    RatioOfRatio {
        key: String,
    },
    /// A ratio whose numerator and denominator are one metric.
    RatioSameParts,
    /// A bandit's goal that Thompson sampling cannot optimize (ratio, retention).
    BanditGoal {
        kind: &'static str,
    },
    /// An experiment without a goal, or with two (`goal` and `metrics.goal`).
    GoalCount {
        found: usize,
    },
    /// The goal cannot change once the experiment has started.
    GoalFixed,
    /// A segment that references another segment (segments are flat, by design).
    SegmentInSegment {
        key: String,
    },
    /// A condition's attribute empty or over `max_bytes`, or a NUL in its value.
    ConditionAttribute {
        max_bytes: usize,
    },
    /// A condition whose value does not suit its operator `op`, which needs `expected`.
    ConditionValue {
        op: &'static str,
        expected: &'static str,
    },
    /// Not one of the shapes a rule takes; `detail` says what was wrong, when known.
    NotARule {
        detail: Option<String>,
    },
    /// A group or a segment reference (`rule`: `all`, `any`, `segment`) with other fields.
    ExtraFields {
        rule: &'static str,
    },
    EmptyGroup,
    NotAList,
    NotASegmentKey,
    EmptyRule,
    /// Groups nested deeper than `max` levels.
    TooDeep {
        max: usize,
    },
    /// An attribute name empty or over `max_bytes`.
    AttributeName {
        max_bytes: usize,
    },
    /// An attribute name over the configured `max_bytes`; `start` is its beginning.
    AttributeNameTooLong {
        start: String,
        len: usize,
        max_bytes: usize,
    },
    /// An attribute value that is not a scalar, or a string over `max_bytes`.
    AttributeValue {
        max_bytes: usize,
    },
    /// A required field left out.
    Required,
    /// A field `name` this object does not have; it has `expected`.
    UnknownField {
        name: String,
        expected: &'static str,
    },
    /// A behavioral condition's window `value` that cannot be used, for `reason`.
    BehaviorWindow {
        value: String,
        reason: &'static str,
    },
    /// A window longer than the raw events are kept (`max_days`).
    BeyondRetention {
        value: String,
        max_days: u32,
    },
    /// A behavioral condition with `found` measures instead of one.
    BehaviorMeasure {
        found: usize,
    },
    /// Behavioral conditions or personal payloads while profiles are switched off.
    ProfilesOff,
    /// A `best_hour_of` placeholder outside a timing experiment.
    PersonalTimingOnly,
}

const RULE_SHAPES: &str = "a rule is a condition {\"attribute\", \"op\", \"value\"}, a behavioral condition {\"event\", \"count\" | \"value_sum\", \"within\"}, {\"event\", \"last_seen\"} or {\"profile\", \"op\", \"value\"}, {\"all\": [rules]}, {\"any\": [rules]} or {\"segment\": \"key\"}";

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Violation::*;
        match self {
            Format { value, expected } => write!(f, "{value:?} is not valid: {expected}"),
            Text { max_bytes } => write!(f, "must be 1 to {max_bytes} bytes of text"),
            OptionalText { max_bytes } => write!(
                f,
                "at most {max_bytes} bytes of text without control characters"
            ),
            TooLong {
                what,
                len,
                max_bytes,
            } => write!(f, "{len} bytes; {what} are at most {max_bytes} bytes"),
            Nul => f.write_str("must not contain NUL characters"),
            OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            TooLarge { max } => write!(f, "at most {max}"),
            RateLimit { max } => write!(
                f,
                "a rate limit is a number of requests per second above 0 and at most {max}"
            ),
            FloorTooHigh { arms, max } => write!(
                f,
                "must be between 0 and 1/{arms} = {max:.4} (the floor is per arm)"
            ),
            WeightsSum { sum } => write!(f, "weights must sum to 1, not {sum}"),
            WeightsIncomplete { or_none: true } => {
                f.write_str("give a weight for every variant or for none")
            }
            WeightsIncomplete { or_none: false } => f.write_str("give a weight for every variant"),
WeightsForFactorial => f.write_str(
                "a factorial experiment has no weights: each factor's levels are equally likely",
            ),
            FactorsOfOtherKind => f.write_str("only an experiment of kind `factorial` has factors"),
            PolicyOfOtherKind => f.write_str(
                "an `ab` or `bandit` experiment's kind is its policy; `policy` is for `factorial`",
            ),
            VariantsOfFactorial => f.write_str(
                "a factorial experiment's variants are the combinations of its factors' levels: give `factors` instead",
            ),
            ReservedColumn { value } => write!(
                f,
                "factor key `{value}` is the name of an export column (exports give each factor a column): choose another"
            ),
            ControlOfFactorial => f.write_str(
                "a factorial experiment's control is the cell of every factor's first level",
            ),
                        WeightsForBandit => f.write_str(
                "weights apply to ab experiments; a bandit allocates by Thompson sampling (set `floor` instead)",
            ),
            FloorForAb => {
                f.write_str("a floor applies to bandits; ab experiments use fixed weights")
            }
            Count {
                what,
                min,
                max,
                found,
            } => write!(f, "needs {min} to {max} {what}, not {found}"),
            TooMany { what, max, found } => {
                write!(f, "at most {max} {what}")?;
                match found {
                    Some(n) => write!(f, ", not {n}"),
                    None => Ok(()),
                }
            }
            Duplicate { what, value } => write!(f, "duplicate {what} {value:?}"),
            UnknownVariant { key } => write!(f, "unknown variant {key:?}"),
            UnknownSegment { key } => write!(
                f,
                "no segment has the key {key:?}; create it first (POST /api/v1/segments)"
            ),
            UnknownKey { id } => write!(f, "there is no active key with id {id}"),
            MixedPayloadTypes => f.write_str(
                "all payloads must be of one JSON type (all objects, all strings, all integers, ... or all null)",
            ),
            LayerRange { from, to } => {
                write!(f, "needs 0 <= from < to <= 1, not from {from} to {to}")
            }
            KeyChanged { body, path } => write!(
                f,
                "the body names {body:?} but the path {path:?}; a key cannot change"
            ),
            MissingKey => f.write_str("a key is required"),
            GuardrailDrop => f.write_str(
                "`drop` (the harmed arm takes no new users) is for bandits only: an A/B test's weights are its design; use `pause` or `alert`",
            ),
            ReservedKey { value } => write!(f, "`{value}` is reserved: results name the inline goal so"),
            Duration { value } => write!(
                f,
                "{value:?} is not a duration: write a whole number and a unit, like 90s, 30m, 72h or 7d"
            ),
            MinimumEffect { max } => write!(
                f,
                "the smallest relative lift that matters: above 0 and at most {max} (0.05 is 5%)"
            ),
            MetricFieldRequired { kind } => write!(f, "a {kind} metric needs this field"),
            MetricFieldNotAllowed { kind } => write!(f, "a {kind} metric has no such field"),
            OpenRange { min, max } => write!(f, "must be above {min} and below {max}"),
            RetentionOrder { from, to } => {
                write!(f, "`to` ({to}) must come after `from` ({from})")
            }
            UnknownMetric { key } => write!(f, "no metric has the key {key:?}"),
            RatioOfRatio { key } => write!(
                f,
                "{key:?} is a ratio metric; the parts of a ratio are conversion, mean or retention metrics"
            ),
            RatioSameParts => {
                f.write_str("the numerator and the denominator must be two different metrics")
            }
            BanditGoal { kind } => write!(
                f,
                "a bandit optimizes its goal by Thompson sampling over a conversion (Beta) or mean \
                 (Gaussian) model per user; a {kind} goal has no such per-user model: use an A/B test, \
                 or make the {kind} metric a secondary metric"
            ),
            GoalCount { found: 0 } => {
                f.write_str("an experiment needs a goal: `goal` ({\"event\", \"metric\"}) or `metrics.goal` (a metric key)")
            }
            GoalCount { .. } => f.write_str("give the goal once: either `goal` or `metrics.goal`"),
            GoalFixed => f.write_str(
                "the goal is fixed once the experiment has started (its results and its bandit are built on it)",
            ),
            SegmentInSegment { key } => write!(
                f,
                "a segment cannot reference another segment ({key:?}); copy its conditions instead"
            ),
            ConditionAttribute { max_bytes } => write!(
                f,
                "attribute must be 1 to {max_bytes} bytes and values must not contain NUL characters"
            ),
            ConditionValue { op, expected } => write!(f, "{op} needs {expected}"),
            NotARule { detail: Some(detail) } => write!(f, "{detail}; {RULE_SHAPES}"),
            NotARule { detail: None } => f.write_str(RULE_SHAPES),
            ExtraFields { rule: "segment" } => write!(
                f,
                "a segment reference has the one field \"segment\"; {RULE_SHAPES}"
            ),
            ExtraFields { rule } => write!(f, "a group has the one field {rule:?}; {RULE_SHAPES}"),
            Required => f.write_str("this field is required"),
            UnknownField { name, expected } => {
                write!(f, "{name:?} is not a field here: expected {expected}")
            }
            BehaviorWindow { value, reason } => write!(f, "{value:?}: {reason}"),
            BeyondRetention { value, max_days } => write!(
                f,
                "{value:?} is longer than the {max_days} days raw events are kept (event retention)"
            ),
            BehaviorMeasure { found } => write!(
                f,
                "a behavioral condition on an event has exactly one of count, value_sum or last_seen (found {found})"
            ),
            ProfilesOff => f.write_str(
                "behavioral conditions and best_hour_of payloads need profiles: start the server with --profiles (POSTERIOR_PROFILES=true)"
            ),
            PersonalTimingOnly => f.write_str(
                "best_hour_of placeholders are for timing experiments (\"dimension\": \"timing\")"
            ),
            EmptyGroup => f.write_str("a group needs at least one rule"),
            NotAList => f.write_str("must be a list of rules"),
            NotASegmentKey => f.write_str("must be a segment key"),
            EmptyRule => f.write_str("a rule needs at least one condition"),
            TooDeep { max } => write!(f, "groups nest at most {max} levels deep"),
            AttributeName { max_bytes } => {
                write!(f, "attribute names must be 1 to {max_bytes} bytes")
            }
            AttributeNameTooLong {
                start,
                len,
                max_bytes,
            } => write!(
                f,
                "attribute names are at most {max_bytes} bytes; {start:?}… is {len}"
            ),
            AttributeValue { max_bytes } => write!(
                f,
                "must be a string of at most {max_bytes} bytes, a number or a boolean"
            ),
        }
    }
}
