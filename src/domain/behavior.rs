//! Behavioral conditions: targeting rules on what a user did, read from their profile
//! (`domain::profile`).
//!
//! - `{"event": "open", "count": {"gte": 1}, "within": "7d"}`: events of that name in the window.
//! - `{"event": "purchase", "value_sum": {"gte": 100}, "within": "90d"}`: their values summed.
//! - `{"event": "open", "last_seen": {"before": "7d"}}`: the last one is older than that (a
//!   lapsed user); `{"after": "7d"}`: newer. A user who never sent the event matches `before`
//!   only with `"or_never": true`, and never matches `after`.
//! - `{"profile": "days_since_first_seen", "op": "lt", "value": 1}`: a figure of the whole
//!   profile (`days_since_last_seen` too). A user Posterior has never seen is first seen now
//!   (0 days) and has no last seen (every comparison on it fails).
//!
//! A comparison `{"gte": 1}` holds one to six bounds, all of which must hold (`{"gte": 2,
//! "lt": 5}` is a range). Windows take the durations of metrics (`90s`, `30m`, `72h`, `7d`):
//! up to [`profile::KEPT_DAYS`] days; one of a day or more is a whole number of UTC days (see
//! `domain::profile` for how those are counted), a shorter one is exact to the second.

use super::metric::Duration;
use super::names::EventName;
use super::profile::{self, Profile};
use super::validation::{ValidationError, Violation};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

const DAY: i64 = 86_400;

/// How far back a behavioral condition looks: at most the days a profile keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window(Duration);

impl Window {
    pub fn parse(field: &str, value: &Value) -> Result<Window, ValidationError> {
        let text = value.as_str().ok_or_else(|| {
            ValidationError::new(
                field,
                Violation::Duration {
                    value: value.to_string(),
                },
            )
        })?;
        let duration = Duration::parse(field, text)?;
        let seconds = duration.seconds();
        let refuse = |reason| {
            ValidationError::new(
                field,
                Violation::BehaviorWindow {
                    value: text.to_string(),
                    reason,
                },
            )
        };
        if seconds > i64::from(profile::KEPT_DAYS) * DAY {
            return Err(refuse(
                "longer than the 90 days profiles keep: the longest window is 90d",
            ));
        }
        if seconds >= DAY && seconds % DAY != 0 {
            return Err(refuse(
                "a window of a day or more is a whole number of days (like 2d)",
            ));
        }
        Ok(Window(duration))
    }

    pub fn seconds(self) -> i64 {
        self.0.seconds()
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole UTC days for a window of a day or more; `None` for a shorter one.
    fn days(self) -> Option<u32> {
        (self.seconds() >= DAY).then(|| (self.seconds() / DAY) as u32)
    }
}

/// How a figure is compared with a number (attribute conditions have operators of their
/// own, `targeting::Op`, with `in` and `exists`; figures are numbers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl NumericOp {
    pub const ALL: [NumericOp; 6] = [
        NumericOp::Eq,
        NumericOp::Neq,
        NumericOp::Lt,
        NumericOp::Lte,
        NumericOp::Gt,
        NumericOp::Gte,
    ];

    /// Its name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            NumericOp::Eq => "eq",
            NumericOp::Neq => "neq",
            NumericOp::Lt => "lt",
            NumericOp::Lte => "lte",
            NumericOp::Gt => "gt",
            NumericOp::Gte => "gte",
        }
    }

    pub fn parse(name: &str) -> Option<NumericOp> {
        NumericOp::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn holds(self, x: f64, bound: f64) -> bool {
        match self {
            NumericOp::Eq => x == bound,
            NumericOp::Neq => x != bound,
            NumericOp::Lt => x < bound,
            NumericOp::Lte => x <= bound,
            NumericOp::Gt => x > bound,
            NumericOp::Gte => x >= bound,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            NumericOp::Eq => "=",
            NumericOp::Neq => "≠",
            NumericOp::Lt => "<",
            NumericOp::Lte => "≤",
            NumericOp::Gt => ">",
            NumericOp::Gte => "≥",
        }
    }
}

/// Numeric bounds that must all hold, as `{"gte": 2, "lt": 5}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds(Vec<(NumericOp, f64)>);

impl Bounds {
    /// The comparisons a bound may use.
    const EXPECTED: &'static str =
        "an object of number bounds among eq, neq, lt, lte, gt, gte, like {\"gte\": 1}";

    pub fn parse(field: &str, value: &Value) -> Result<Bounds, ValidationError> {
        let refuse = || {
            ValidationError::new(
                field,
                Violation::ConditionValue {
                    op: "a count or value_sum",
                    expected: Self::EXPECTED,
                },
            )
        };
        let Value::Object(map) = value else {
            return Err(refuse());
        };
        if map.is_empty() {
            return Err(refuse());
        }
        let mut bounds = Vec::with_capacity(map.len());
        for (name, bound) in map {
            let op = NumericOp::parse(name).ok_or_else(|| {
                ValidationError::new(
                    format!("{field}.{name}"),
                    Violation::UnknownField {
                        name: name.clone(),
                        expected: "eq, neq, lt, lte, gt or gte",
                    },
                )
            })?;
            let number = bound.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                ValidationError::new(
                    format!("{field}.{name}"),
                    Violation::ConditionValue {
                        op: op.as_str(),
                        expected: "a number",
                    },
                )
            })?;
            bounds.push((op, number));
        }
        Ok(Bounds(bounds))
    }

    /// The bounds as given, `(op, number)`.
    pub fn as_slice(&self) -> &[(NumericOp, f64)] {
        &self.0
    }

    pub fn hold(&self, x: f64) -> bool {
        self.0.iter().all(|&(op, bound)| op.holds(x, bound))
    }

    fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(op, bound)| (op.as_str().to_string(), json!(bound)))
                .collect(),
        )
    }
}

/// Figures of a whole profile a condition may compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    DaysSinceFirstSeen,
    DaysSinceLastSeen,
}

impl ProfileField {
    pub const ALL: [ProfileField; 2] = [
        ProfileField::DaysSinceFirstSeen,
        ProfileField::DaysSinceLastSeen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileField::DaysSinceFirstSeen => "days_since_first_seen",
            ProfileField::DaysSinceLastSeen => "days_since_last_seen",
        }
    }
}

/// Whether the last event is older or newer than the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recency {
    Before,
    After,
}

impl Recency {
    /// Its key in `last_seen`.
    pub fn as_str(self) -> &'static str {
        match self {
            Recency::Before => "before",
            Recency::After => "after",
        }
    }

    pub fn parse(key: &str) -> Option<Recency> {
        [Recency::Before, Recency::After]
            .into_iter()
            .find(|r| r.as_str() == key)
    }
}

/// One behavioral condition (see the module's note).
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    Count {
        event: EventName,
        bounds: Bounds,
        within: Window,
    },
    ValueSum {
        event: EventName,
        bounds: Bounds,
        within: Window,
    },
    LastSeen {
        event: EventName,
        recency: Recency,
        window: Window,
        or_never: bool,
    },
    Profile {
        field: ProfileField,
        op: NumericOp,
        value: f64,
    },
}

/// Whether a rule object is a behavioral condition (it has `event` or `profile`).
pub fn is_behavior(map: &Map<String, Value>) -> bool {
    map.contains_key("event") || map.contains_key("profile")
}

fn only_fields(
    field: &str,
    map: &Map<String, Value>,
    allowed: &[&str],
    expected: &'static str,
) -> Result<(), ValidationError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(name) => Err(ValidationError::new(
            format!("{field}.{name}"),
            Violation::UnknownField {
                name: name.clone(),
                expected,
            },
        )),
        None => Ok(()),
    }
}

fn required<'a>(
    field: &str,
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a Value, ValidationError> {
    map.get(name)
        .ok_or_else(|| ValidationError::new(format!("{field}.{name}"), Violation::Required))
}

impl Behavior {
    /// Parses a rule object for which [`is_behavior`] holds; `field` names it in errors.
    pub fn parse(field: &str, map: &Map<String, Value>) -> Result<Behavior, ValidationError> {
        if let Some(name) = map.get("profile") {
            only_fields(
                field,
                map,
                &["profile", "op", "value"],
                "profile, op and value",
            )?;
            let name_field = format!("{field}.profile");
            let field_name = name.as_str().unwrap_or_default();
            let profile_field = ProfileField::ALL
                .into_iter()
                .find(|f| f.as_str() == field_name)
                .ok_or_else(|| {
                    ValidationError::new(
                        &name_field,
                        Violation::UnknownField {
                            name: name
                                .as_str()
                                .map_or_else(|| name.to_string(), str::to_string),
                            expected: "days_since_first_seen or days_since_last_seen",
                        },
                    )
                })?;
            let op_value = required(field, map, "op")?;
            let op = op_value
                .as_str()
                .and_then(NumericOp::parse)
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("{field}.op"),
                        Violation::UnknownField {
                            name: op_value
                                .as_str()
                                .map_or_else(|| op_value.to_string(), str::to_string),
                            expected: "eq, neq, lt, lte, gt or gte",
                        },
                    )
                })?;
            let value = required(field, map, "value")?
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("{field}.value"),
                        Violation::ConditionValue {
                            op: op.as_str(),
                            expected: "a number",
                        },
                    )
                })?;
            return Ok(Behavior::Profile {
                field: profile_field,
                op,
                value,
            });
        }
        let event_value = required(field, map, "event")?;
        let event = event_value
            .as_str()
            .ok_or_else(|| {
                ValidationError::new(
                    format!("{field}.event"),
                    Violation::Format {
                        value: event_value.to_string(),
                        expected: "an event name",
                    },
                )
            })
            .and_then(|name| EventName::parse(name).map_err(|e| e.at(format!("{field}.event"))))?;
        let measures: Vec<&str> = ["count", "value_sum", "last_seen"]
            .into_iter()
            .filter(|m| map.contains_key(*m))
            .collect();
        let [measure] = measures[..] else {
            return Err(ValidationError::new(
                field,
                Violation::BehaviorMeasure {
                    found: measures.len(),
                },
            ));
        };
        if measure == "last_seen" {
            only_fields(
                field,
                map,
                &["event", "last_seen", "or_never"],
                "event, last_seen and or_never",
            )?;
            let or_never = match map.get("or_never") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ValidationError::new(
                        format!("{field}.or_never"),
                        Violation::ConditionValue {
                            op: "or_never",
                            expected: "true or false",
                        },
                    ));
                }
            };
            let last_field = format!("{field}.last_seen");
            let recency = match &map["last_seen"] {
                Value::Object(o) if o.len() == 1 => o
                    .iter()
                    .next()
                    .and_then(|(k, v)| Some((Recency::parse(k)?, k, v))),
                _ => None,
            };
            let Some((recency, key, window)) = recency else {
                return Err(ValidationError::new(
                    last_field,
                    Violation::ConditionValue {
                        op: "last_seen",
                        expected: "{\"before\": window} or {\"after\": window}, like {\"before\": \"7d\"}",
                    },
                ));
            };
            let window = Window::parse(&format!("{last_field}.{key}"), window)?;
            return Ok(Behavior::LastSeen {
                event,
                recency,
                window,
                or_never,
            });
        }
        only_fields(
            field,
            map,
            &["event", measure, "within"],
            if measure == "count" {
                "event, count and within"
            } else {
                "event, value_sum and within"
            },
        )?;
        let bounds = Bounds::parse(&format!("{field}.{measure}"), &map[measure])?;
        let within = Window::parse(&format!("{field}.within"), required(field, map, "within")?)?;
        Ok(if measure == "count" {
            Behavior::Count {
                event,
                bounds,
                within,
            }
        } else {
            Behavior::ValueSum {
                event,
                bounds,
                within,
            }
        })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Behavior::Count {
                event,
                bounds,
                within,
            } => json!({"event": event, "count": bounds.to_json(), "within": within.as_duration()}),
            Behavior::ValueSum {
                event,
                bounds,
                within,
            } => {
                json!({"event": event, "value_sum": bounds.to_json(), "within": within.as_duration()})
            }
            Behavior::LastSeen {
                event,
                recency,
                window,
                or_never,
            } => {
                let mut out =
                    json!({"event": event, "last_seen": {recency.as_str(): window.as_duration()}});
                if *or_never {
                    out["or_never"] = Value::Bool(true);
                }
                out
            }
            Behavior::Profile { field, op, value } => {
                json!({"profile": field.as_str(), "op": op.as_str(), "value": value})
            }
        }
    }

    /// The window the condition looks back over (`None` for profile figures).
    pub fn window(&self) -> Option<Window> {
        match self {
            Behavior::Count { within, .. } | Behavior::ValueSum { within, .. } => Some(*within),
            Behavior::LastSeen { window, .. } => Some(*window),
            Behavior::Profile { .. } => None,
        }
    }

    /// Whether the user whose profile this is (`None`: never seen) meets the condition at
    /// `now`.
    pub fn matches(&self, profile: Option<&Profile>, now: DateTime<Utc>) -> bool {
        let history = |event: &EventName| profile.and_then(|p| p.events.get(event.as_str()));
        match self {
            Behavior::Count {
                event,
                bounds,
                within,
            } => {
                let count = history(event).map_or(0, |h| match within.days() {
                    Some(days) => h.count_within(days, now),
                    None => h.count_since(now - chrono::TimeDelta::seconds(within.seconds()), now),
                });
                bounds.hold(count as f64)
            }
            Behavior::ValueSum {
                event,
                bounds,
                within,
            } => {
                let sum = history(event).map_or(0.0, |h| match within.days() {
                    Some(days) => h.value_sum_within(days, now),
                    None => {
                        h.value_sum_since(now - chrono::TimeDelta::seconds(within.seconds()), now)
                    }
                });
                bounds.hold(sum)
            }
            Behavior::LastSeen {
                event,
                recency,
                window,
                or_never,
            } => match history(event) {
                None => *or_never && *recency == Recency::Before,
                Some(h) => {
                    let edge = now - chrono::TimeDelta::seconds(window.seconds());
                    match recency {
                        Recency::Before => h.last_at < edge,
                        Recency::After => h.last_at >= edge,
                    }
                }
            },
            Behavior::Profile { field, op, value } => {
                let days = match field {
                    ProfileField::DaysSinceFirstSeen => Some(
                        profile
                            .and_then(|p| p.days_since_first_seen(now))
                            .unwrap_or(0),
                    ),
                    ProfileField::DaysSinceLastSeen => profile
                        .and_then(|p| p.last_seen())
                        .map(|t| (now - t).num_days()),
                };
                days.is_some_and(|d| op.holds(d as f64, *value))
            }
        }
    }
}

/// The condition in words, for pages: "`open` events within 7d: ≥ 1".
impl std::fmt::Display for Behavior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bounds = |b: &Bounds| {
            b.0.iter()
                .map(|(op, x)| format!("{} {x}", op.symbol()))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        match self {
            Behavior::Count {
                event,
                bounds: b,
                within,
            } => write!(
                f,
                "{event} events within {}: {}",
                within.as_duration(),
                bounds(b)
            ),
            Behavior::ValueSum {
                event,
                bounds: b,
                within,
            } => write!(
                f,
                "sum of {event} values within {}: {}",
                within.as_duration(),
                bounds(b)
            ),
            Behavior::LastSeen {
                event,
                recency: Recency::Before,
                window,
                or_never,
            } => write!(
                f,
                "last {event} more than {} ago{}",
                window.as_duration(),
                if *or_never { " (or never)" } else { "" }
            ),
            Behavior::LastSeen {
                event,
                recency: Recency::After,
                window,
                ..
            } => write!(f, "last {event} within {}", window.as_duration()),
            Behavior::Profile { field, op, value } => {
                write!(
                    f,
                    "{} {} {value}",
                    field.as_str().replace('_', " "),
                    op.symbol()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::{EventHistory, Moment};
    use chrono::{TimeDelta, TimeZone};
    use std::collections::BTreeMap;

    fn parse(rule: Value) -> Behavior {
        let Value::Object(map) = rule else { panic!() };
        Behavior::parse("rule", &map).unwrap()
    }

    /// A user who opened at these times (each its own moment, value 10 each).
    fn opener(times: &[DateTime<Utc>], now: DateTime<Utc>) -> Profile {
        let mut h = EventHistory {
            first_at: *times.iter().min().unwrap(),
            last_at: *times.iter().max().unwrap(),
            count: times.len() as i64,
            value_sum: 10.0 * times.len() as f64,
            days: Vec::new(),
            hours: [0; 24],
            recent: Vec::new(),
            recent_since: None,
        };
        for &t in times {
            h.recent.push(Moment {
                at: t,
                count: 1,
                value_sum: 10.0,
            });
            let day = profile::day_number(t);
            match h.days.iter_mut().find(|b| b.day == day) {
                Some(b) => {
                    b.count += 1;
                    b.value_sum += 10.0;
                }
                None if profile::has_bucket(t, now) => h.days.push(profile::DayBucket {
                    day,
                    count: 1,
                    value_sum: 10.0,
                }),
                None => {}
            }
        }
        Profile {
            user_id: "u".into(),
            events: BTreeMap::from([("open".to_string(), h)]),
        }
    }

    #[test]
    fn conditions_read_the_profile_at_the_time_given() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let ago = |s: i64| now - TimeDelta::seconds(s);
        let user = opener(&[ago(30), ago(600), ago(3 * 86_400)], now);
        let holds = |rule: Value, at: DateTime<Utc>| parse(rule).matches(Some(&user), at);
        let never = |rule: Value| parse(rule).matches(None, now);

        assert!(holds(
            json!({"event": "open", "count": {"gte": 2}, "within": "15m"}),
            now
        ));
        assert!(!holds(
            json!({"event": "open", "count": {"gte": 2}, "within": "5m"}),
            now
        ));
        assert!(holds(
            json!({"event": "open", "count": {"gte": 2, "lt": 4}, "within": "7d"}),
            now
        ));
        assert!(holds(
            json!({"event": "open", "value_sum": {"eq": 30}, "within": "7d"}),
            now
        ));
        assert!(holds(
            json!({"event": "open", "value_sum": {"lt": 25}, "within": "1h"}),
            ago(-3600)
        ));
        // Lapsed: the last open is 30 s old; two minutes later it is more than 90 s old.
        let lapsed = json!({"event": "open", "last_seen": {"before": "90s"}});
        assert!(!holds(lapsed.clone(), now));
        assert!(holds(lapsed.clone(), now + TimeDelta::seconds(120)));
        assert!(!never(lapsed));
        assert!(never(
            json!({"event": "open", "last_seen": {"before": "90s"}, "or_never": true})
        ));
        assert!(!never(
            json!({"event": "open", "last_seen": {"after": "90s"}, "or_never": true})
        ));
        assert!(holds(
            json!({"event": "open", "last_seen": {"after": "1m"}}),
            now
        ));
        // Zero counts for a user who never sent the event.
        assert!(never(
            json!({"event": "open", "count": {"eq": 0}, "within": "7d"})
        ));
        assert!(holds(
            json!({"profile": "days_since_first_seen", "op": "eq", "value": 3}),
            now
        ));
        assert!(never(
            json!({"profile": "days_since_first_seen", "op": "lt", "value": 1})
        ));
        assert!(!never(
            json!({"profile": "days_since_last_seen", "op": "gte", "value": 0})
        ));
        assert!(holds(
            json!({"profile": "days_since_last_seen", "op": "lt", "value": 1}),
            now
        ));
    }

    #[test]
    fn written_back_as_given() {
        for rule in [
            json!({"event": "open", "count": {"gte": 1.0}, "within": "7d"}),
            json!({"event": "buy", "value_sum": {"gte": 100.0, "lt": 500.0}, "within": "90s"}),
            json!({"event": "open", "last_seen": {"before": "7d"}, "or_never": true}),
            json!({"event": "open", "last_seen": {"after": "36h"}}),
            json!({"profile": "days_since_first_seen", "op": "lt", "value": 1.0}),
        ] {
            let Value::Object(map) = &rule else { panic!() };
            match Behavior::parse("rule", map) {
                Ok(b) => assert_eq!(b.to_json(), rule),
                // 36h: a day or more is a whole number of days.
                Err(e) => assert_eq!(e.field, "rule.last_seen.after", "{rule}"),
            }
        }
    }
}
