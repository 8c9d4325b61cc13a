//! Metrics: reusable definitions of what to measure from events, kept in a library and used
//! by experiments as their goal, secondary metrics and guardrails.
//!
//! - `conversion`: the share of users who sent the event at least once.
//! - `mean`: per user, the sum of the event's values (`of: value`) or its count (`of:
//!   count`), optionally capped (`{"value": 500}` per user, or `{"percentile": 0.99}` of all
//!   users' totals).
//! - `ratio`: over users, the sum of a numerator metric's per-user values over the sum of a
//!   denominator metric's (average order value = revenue / orders).
//! - `retention`: the share of users who sent the event between `from` and `to` after their
//!   assignment; a user counts only once `to` has passed since their assignment.
//!
//! Every type takes a `window`: only events within that long after the user's assignment
//! count (none: until the experiment stops). `direction` says which way is good.

use super::names::{EventName, MetricKey};
use super::text::{check_description, check_name};
use super::validation::{ValidationError, Violation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest duration a window or a retention bound may have: ten years.
pub const MAX_DURATION_SECONDS: i64 = 3650 * 86_400;
/// An experiment has one goal, at most this many secondary metrics...
pub const MAX_SECONDARY_METRICS: usize = 20;
/// ...and at most this many guardrails.
pub const MAX_GUARDRAILS: usize = 10;

str_enum!(
    /// What a metric measures per user (see the module documentation).
    MetricType { Conversion => "conversion", Mean => "mean", Ratio => "ratio", Retention => "retention" }
);
str_enum!(
    /// Which way is good: `increase` (the default) or `decrease` (uninstalls, errors).
    Direction { Increase => "increase", Decrease => "decrease" }
);
str_enum!(
    /// What a mean metric adds up per user: the events' values or their number.
    MeanOf { Value => "value", Count => "count" }
);

/// A duration as people write it: a whole number and a unit, `90s`, `30m`, `72h`, `7d`.
/// Written back in the largest unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[0-9]+[smhd]$", example = "7d")]
pub struct Duration(i64);

/// The key results give the inline goal `{"event", "metric"}` among an experiment's metrics,
/// so no library metric may have it.
pub const INLINE_GOAL_KEY: &str = "goal";

impl Duration {
    /// A duration above zero (`0d` refused: a window of nothing).
    pub fn parse(field: &str, text: &str) -> Result<Duration, ValidationError> {
        Self::parse_from(field, text, 1)
    }

    /// A duration that may be zero (`0s`: from the assignment on, or no minimum).
    pub fn parse_or_zero(field: &str, text: &str) -> Result<Duration, ValidationError> {
        Self::parse_from(field, text, 0)
    }

    fn parse_from(field: &str, text: &str, min: i64) -> Result<Duration, ValidationError> {
        let refuse = || {
            ValidationError::new(
                field,
                Violation::Duration {
                    value: text.to_string(),
                },
            )
        };
        let unit = text.chars().last().ok_or_else(refuse)?;
        let digits = &text[..text.len() - unit.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        let per_unit = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(refuse()),
        };
        let seconds = digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per_unit))
            .ok_or_else(refuse)?;
        if seconds < min || seconds > MAX_DURATION_SECONDS {
            return Err(ValidationError::new(
                field,
                Violation::OutOfRange {
                    min: min as f64,
                    max: MAX_DURATION_SECONDS as f64,
                },
            ));
        }
        Ok(Duration(seconds))
    }

    pub const fn from_seconds(seconds: i64) -> Duration {
        Duration(seconds)
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    pub fn as_time_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.0)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s {
            0 => f.write_str("0s"),
            _ if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            _ if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            _ if s % 60 == 0 => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How a mean metric's per-user totals are capped, so that one whale cannot decide a test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Cap {
    /// Every user's total is at most this.
    Value(f64),
    /// Totals are winsorized at this quantile (linear interpolation) of the totals of the
    /// users who have one (at least one counting event), e.g. 0.99.
    Percentile(f64),
}

/// What a metric counts, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricDefinition {
    Conversion {
        event: EventName,
    },
    Mean {
        event: EventName,
        of: MeanOf,
        cap: Option<Cap>,
    },
    Ratio {
        numerator: MetricKey,
        denominator: MetricKey,
    },
    Retention {
        event: EventName,
        from: Duration,
        to: Duration,
    },
}

impl MetricDefinition {
    pub fn metric_type(&self) -> MetricType {
        match self {
            MetricDefinition::Conversion { .. } => MetricType::Conversion,
            MetricDefinition::Mean { .. } => MetricType::Mean,
            MetricDefinition::Ratio { .. } => MetricType::Ratio,
            MetricDefinition::Retention { .. } => MetricType::Retention,
        }
    }

    /// The event it counts (a ratio counts through its parts).
    pub fn event(&self) -> Option<&EventName> {
        match self {
            MetricDefinition::Conversion { event }
            | MetricDefinition::Mean { event, .. }
            | MetricDefinition::Retention { event, .. } => Some(event),
            MetricDefinition::Ratio { .. } => None,
        }
    }
}

/// A metric as submitted (`POST /api/v1/metrics`, `PUT /api/v1/metrics/{key}`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricDraft {
    /// Optional on `PUT` (the path names the metric); when given it must match.
    #[serde(default)]
    pub key: Option<MetricKey>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    #[serde(default)]
    pub event: Option<EventName>,
    /// `mean` only: `value` (the default) or `count`.
    #[serde(default)]
    pub of: Option<MeanOf>,
    /// `mean` only.
    #[serde(default)]
    pub cap: Option<Cap>,
    /// `ratio` only: the numerator and denominator metrics' keys.
    #[serde(default)]
    pub numerator: Option<MetricKey>,
    #[serde(default)]
    pub denominator: Option<MetricKey>,
    /// `retention` only: the window after assignment in which the event must come.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "1d")]
    pub from: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "8d")]
    pub to: Option<String>,
    /// Only events within this long after the user's assignment count; none: until the
    /// experiment stops.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "7d")]
    pub window: Option<String>,
    #[serde(default)]
    pub direction: Option<Direction>,
}

/// A valid metric definition.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub key: MetricKey,
    pub name: String,
    pub description: String,
    pub definition: MetricDefinition,
    pub window: Option<Duration>,
    pub direction: Direction,
}

/// A metric as stored in the library.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub id: i64,
    pub spec: MetricSpec,
    /// Bumped on every edit: experiments using the metric recompute it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MetricDraft {
    /// Checks the draft on its own; the library checks what needs other metrics (a ratio's
    /// parts). `path_key` is the key in the path of a `PUT`.
    pub fn validate(self, path_key: Option<&MetricKey>) -> Result<MetricSpec, ValidationError> {
        let key = match (self.key, path_key) {
            (Some(k), Some(p)) if &k != p => {
                return Err(ValidationError::new(
                    "key",
                    Violation::KeyChanged {
                        body: k.into_inner(),
                        path: p.to_string(),
                    },
                ));
            }
            (Some(k), _) => k,
            (None, Some(p)) => p.clone(),
            (None, None) => return Err(ValidationError::new("key", Violation::MissingKey)),
        };
        if key.as_str() == INLINE_GOAL_KEY {
            return Err(ValidationError::new(
                "key",
                Violation::ReservedKey {
                    value: key.to_string(),
                },
            ));
        }
        check_name("name", &self.name)?;
        check_description(&self.description)?;
        let kind = self.metric_type;
        let required = |field: &str| {
            ValidationError::new(
                field,
                Violation::MetricFieldRequired {
                    kind: kind.as_str(),
                },
            )
        };
        let not_allowed = |field: &str, present: bool| {
            if present {
                Err(ValidationError::new(
                    field,
                    Violation::MetricFieldNotAllowed {
                        kind: kind.as_str(),
                    },
                ))
            } else {
                Ok(())
            }
        };
        let window = self
            .window
            .as_deref()
            .map(|w| Duration::parse("window", w))
            .transpose()?;
        let is_ratio = kind == MetricType::Ratio;
        not_allowed("event", is_ratio && self.event.is_some())?;
        not_allowed("of", kind != MetricType::Mean && self.of.is_some())?;
        not_allowed("cap", kind != MetricType::Mean && self.cap.is_some())?;
        not_allowed("numerator", !is_ratio && self.numerator.is_some())?;
        not_allowed("denominator", !is_ratio && self.denominator.is_some())?;
        let is_retention = kind == MetricType::Retention;
        not_allowed("from", !is_retention && self.from.is_some())?;
        not_allowed("to", !is_retention && self.to.is_some())?;
        let event = || self.event.clone().ok_or_else(|| required("event"));
        let definition = match kind {
            MetricType::Conversion => MetricDefinition::Conversion { event: event()? },
            MetricType::Mean => {
                if let Some(cap) = self.cap {
                    check_cap(cap)?;
                }
                MetricDefinition::Mean {
                    event: event()?,
                    of: self.of.unwrap_or(MeanOf::Value),
                    cap: self.cap,
                }
            }
            MetricType::Ratio => {
                let numerator = self.numerator.ok_or_else(|| required("numerator"))?;
                let denominator = self.denominator.ok_or_else(|| required("denominator"))?;
                if numerator == denominator {
                    return Err(ValidationError::new(
                        "denominator",
                        Violation::RatioSameParts,
                    ));
                }
                MetricDefinition::Ratio {
                    numerator,
                    denominator,
                }
            }
            MetricType::Retention => {
                let from = Duration::parse_or_zero(
                    "from",
                    self.from.as_deref().ok_or_else(|| required("from"))?,
                )?;
                let to = Duration::parse("to", self.to.as_deref().ok_or_else(|| required("to"))?)?;
                if to <= from {
                    return Err(ValidationError::new(
                        "to",
                        Violation::RetentionOrder {
                            from: from.to_string(),
                            to: to.to_string(),
                        },
                    ));
                }
                MetricDefinition::Retention {
                    event: event()?,
                    from,
                    to,
                }
            }
        };
        Ok(MetricSpec {
            key,
            name: self.name,
            description: self.description,
            definition,
            window,
            direction: self.direction.unwrap_or(Direction::Increase),
        })
    }
}

fn check_cap(cap: Cap) -> Result<(), ValidationError> {
    match cap {
        Cap::Value(v) if !(v.is_finite() && v > 0.0) => Err(ValidationError::new(
            "cap.value",
            Violation::OpenRange {
                min: 0.0,
                max: f64::MAX,
            },
        )),
        Cap::Percentile(q) if !(q > 0.5 && q < 1.0) => Err(ValidationError::new(
            "cap.percentile",
            Violation::OpenRange { min: 0.5, max: 1.0 },
        )),
        _ => Ok(()),
    }
}

/// The JSON of a metric: the draft's shape, with what validation filled in.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MetricView<'a> {
    pub key: &'a MetricKey,
    pub name: &'a str,
    pub description: &'a str,
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<&'a EventName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<MeanOf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numerator: Option<&'a MetricKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator: Option<&'a MetricKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Duration>,
    pub window: Option<Duration>,
    pub direction: Direction,
}

impl MetricSpec {
    pub fn view(&self) -> MetricView<'_> {
        let d = &self.definition;
        let (of, cap) = match d {
            MetricDefinition::Mean { of, cap, .. } => (Some(*of), *cap),
            _ => (None, None),
        };
        let (numerator, denominator) = match d {
            MetricDefinition::Ratio {
                numerator,
                denominator,
            } => (Some(numerator), Some(denominator)),
            _ => (None, None),
        };
        let (from, to) = match d {
            MetricDefinition::Retention { from, to, .. } => (Some(*from), Some(*to)),
            _ => (None, None),
        };
        MetricView {
            key: &self.key,
            name: &self.name,
            description: &self.description,
            metric_type: d.metric_type(),
            event: d.event(),
            of,
            cap,
            numerator,
            denominator,
            from,
            to,
            window: self.window,
            direction: self.direction,
        }
    }

    /// The draft that validates into this spec (to store it and read it back).
    pub fn to_draft(&self) -> MetricDraft {
        let v = self.view();
        MetricDraft {
            key: Some(self.key.clone()),
            name: self.name.clone(),
            description: self.description.clone(),
            metric_type: v.metric_type,
            event: v.event.cloned(),
            of: v.of,
            cap: v.cap,
            numerator: v.numerator.cloned(),
            denominator: v.denominator.cloned(),
            from: v.from.map(|d| d.to_string()),
            to: v.to.map(|d| d.to_string()),
            window: self.window.map(|d| d.to_string()),
            direction: Some(self.direction),
        }
    }
}

/// A metric as the API shows it: its definition, its version and times.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MetricOut<'a> {
    #[serde(flatten)]
    pub definition: MetricView<'a>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Metric {
    pub fn out(&self) -> MetricOut<'_> {
        MetricOut {
            definition: self.spec.view(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.out().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn spec(v: Value) -> Result<MetricSpec, ValidationError> {
        serde_json::from_value::<MetricDraft>(v)
            .expect("a draft")
            .validate(None)
    }

    #[test]
    fn durations_parse_and_print() {
        for (text, seconds, back) in [
            ("90s", 90, "90s"),
            ("30m", 1800, "30m"),
            ("72h", 259_200, "3d"),
            ("7d", 604_800, "7d"),
            ("120s", 120, "2m"),
        ] {
            let d = Duration::parse("window", text).unwrap();
            assert_eq!(d.seconds(), seconds);
            assert_eq!(d.to_string(), back);
        }
        for bad in [
            "",
            "7",
            "d",
            "7w",
            "-1d",
            "1.5h",
            "7 d",
            "0d",
            "99999999999999d",
        ] {
            assert!(Duration::parse("window", bad).is_err(), "{bad}");
        }
        assert!(Duration::parse("from", "0d").is_err());
        assert_eq!(Duration::parse_or_zero("from", "0d").unwrap().seconds(), 0);
    }

    #[test]
    fn the_issue_examples_validate() {
        for v in [
            json!({"key": "purchase-rate", "name": "Purchase rate", "type": "conversion", "event": "purchase", "window": "7d", "direction": "increase"}),
            json!({"key": "revenue", "name": "Revenue per user", "type": "mean", "event": "purchase", "of": "value", "cap": {"percentile": 0.99}}),
            json!({"key": "orders", "name": "Orders per user", "type": "mean", "event": "purchase", "of": "count"}),
            json!({"key": "aov", "name": "Average order value", "type": "ratio", "numerator": "revenue", "denominator": "orders"}),
            json!({"key": "d7-retention", "name": "Day-7 retention", "type": "retention", "event": "open", "from": "1d", "to": "8d"}),
            json!({"key": "uninstalls", "name": "Uninstall rate", "type": "conversion", "event": "uninstall", "direction": "decrease"}),
        ] {
            let s = spec(v.clone()).unwrap();
            // What the API shows reads back as the same metric.
            let shown = serde_json::to_value(s.view()).unwrap();
            let again: MetricDraft = serde_json::from_value(shown).unwrap();
            assert_eq!(again.validate(None).unwrap(), s, "{v}");
        }
    }

    #[test]
    fn refusals_name_their_field() {
        let cases = [
            (
                json!({"key": "r", "name": "R", "type": "retention", "event": "open", "from": "8d", "to": "1d"}),
                "to",
            ),
            (
                json!({"key": "r", "name": "R", "type": "retention", "event": "open", "from": "1d", "to": "1d"}),
                "to",
            ),
            (
                json!({"key": "r", "name": "R", "type": "retention", "event": "open", "from": "1d"}),
                "to",
            ),
            (
                json!({"key": "m", "name": "M", "type": "mean", "event": "buy", "cap": {"percentile": 0.5}}),
                "cap.percentile",
            ),
            (
                json!({"key": "m", "name": "M", "type": "mean", "event": "buy", "cap": {"percentile": 1.0}}),
                "cap.percentile",
            ),
            (
                json!({"key": "m", "name": "M", "type": "mean", "event": "buy", "cap": {"value": 0}}),
                "cap.value",
            ),
            (
                json!({"key": "c", "name": "C", "type": "conversion", "event": "buy", "window": "soon"}),
                "window",
            ),
            (
                json!({"key": "c", "name": "C", "type": "conversion"}),
                "event",
            ),
            (
                json!({"key": "c", "name": "C", "type": "conversion", "event": "buy", "of": "count"}),
                "of",
            ),
            (
                json!({"key": "a", "name": "A", "type": "ratio", "numerator": "x", "denominator": "x"}),
                "denominator",
            ),
            (
                json!({"key": "a", "name": "A", "type": "ratio", "numerator": "x"}),
                "denominator",
            ),
            (
                json!({"key": "a", "name": "A", "type": "ratio", "event": "buy", "numerator": "x", "denominator": "y"}),
                "event",
            ),
        ];
        for (v, field) in cases {
            assert_eq!(spec(v.clone()).unwrap_err().field, field, "{v}");
        }
        assert!(
            serde_json::from_value::<MetricDraft>(
                json!({"key": "c", "name": "C", "type": "median", "event": "x"})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<MetricDraft>(json!({"key": "c", "name": "C", "type": "conversion", "event": "x", "direction": "up"})).is_err());
    }
}
