//! Each user's own best time: payload values filled per user.
//!
//! In a `timing` experiment, any object of a variant's payload of the form
//! `{"best_hour_of": "open"}` (optionally with `"min_events": 5` and `"default": 12`) is a
//! placeholder. Each user gets, in its place, the hour of day (UTC, 0–23) at which they most
//! often sent that event (their profile's histogram; the earliest of a tie). A user with
//! fewer than `min_events` such events gets the hour at which the most events of that name
//! arrive over all users (the population's hour), and `default` while nobody has sent it.
//! `{"send_at_hour": {"best_hour_of": "open"}}` answers `{"send_at_hour": 19}`.

use super::names::EventName;
use super::profile::Profile;
use super::validation::{ValidationError, Violation};
use serde_json::{Map, Value, json};

/// The key that makes an object a placeholder.
pub const MARKER: &str = "best_hour_of";
/// Events a user needs for their own hour, unless the placeholder says otherwise.
pub const DEFAULT_MIN_EVENTS: i64 = 5;
/// The hour answered while nobody has sent the event, unless the placeholder says otherwise.
pub const DEFAULT_HOUR: u8 = 12;
const MAX_MIN_EVENTS: i64 = 10_000;
const MAX_PLACEHOLDERS: usize = 16;

/// One placeholder: where it sits (a JSON pointer) and what fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct BestHour {
    pub pointer: String,
    pub event: EventName,
    pub min_events: i64,
    pub default: u8,
}

impl BestHour {
    /// The hour for the user with this profile (`None`: never seen), given the population's
    /// hour of the event (`None` while nobody sent it).
    pub fn hour_for(&self, profile: Option<&Profile>, population: Option<u8>) -> u8 {
        let own = profile
            .and_then(|p| p.events.get(self.event.as_str()))
            .filter(|h| h.count >= self.min_events)
            .and_then(|h| h.best_hour());
        own.or(population).unwrap_or(self.default)
    }
}

/// A payload with placeholders: the template and where they are.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalPayload {
    pub template: Value,
    pub placeholders: Vec<BestHour>,
}

impl PersonalPayload {
    /// The placeholders of a payload (`field` names it in errors); `None` when it has none.
    pub fn parse(field: &str, payload: &Value) -> Result<Option<PersonalPayload>, ValidationError> {
        let mut placeholders = Vec::new();
        find(field, payload, String::new(), &mut placeholders)?;
        if placeholders.len() > MAX_PLACEHOLDERS {
            return Err(ValidationError::new(
                field,
                Violation::TooMany {
                    what: "best_hour_of placeholders in one payload",
                    max: MAX_PLACEHOLDERS,
                    found: Some(placeholders.len()),
                },
            ));
        }
        Ok((!placeholders.is_empty()).then(|| PersonalPayload {
            template: payload.clone(),
            placeholders,
        }))
    }

    /// The payload for one user: each placeholder replaced by its hour.
    pub fn fill(&self, hour: impl Fn(&BestHour) -> u8) -> Value {
        let mut out = self.template.clone();
        for p in &self.placeholders {
            if let Some(slot) = out.pointer_mut(&p.pointer) {
                *slot = json!(hour(p));
            }
        }
        out
    }

    /// The events whose hours it needs.
    pub fn events(&self) -> impl Iterator<Item = &EventName> {
        self.placeholders.iter().map(|p| &p.event)
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn find(
    field: &str,
    value: &Value,
    pointer: String,
    out: &mut Vec<BestHour>,
) -> Result<(), ValidationError> {
    match value {
        Value::Object(map) if map.contains_key(MARKER) => {
            out.push(placeholder(
                &format!("{field}{}", dotted(&pointer)),
                map,
                pointer,
            )?);
        }
        Value::Object(map) => {
            for (key, inner) in map {
                find(field, inner, format!("{pointer}/{}", escape(key)), out)?;
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                find(field, inner, format!("{pointer}/{i}"), out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A pointer as a dotted field path for errors (`/send/at` → `.send.at`).
fn dotted(pointer: &str) -> String {
    pointer.replace('/', ".")
}

fn placeholder(
    field: &str,
    map: &Map<String, Value>,
    pointer: String,
) -> Result<BestHour, ValidationError> {
    if let Some(name) = map
        .keys()
        .find(|k| !matches!(k.as_str(), MARKER | "min_events" | "default"))
    {
        return Err(ValidationError::new(
            format!("{field}.{name}"),
            Violation::UnknownField {
                name: name.clone(),
                expected: "best_hour_of, min_events and default",
            },
        ));
    }
    let event = map[MARKER]
        .as_str()
        .ok_or_else(|| {
            ValidationError::new(
                format!("{field}.{MARKER}"),
                Violation::Format {
                    value: map[MARKER].to_string(),
                    expected: "an event name",
                },
            )
        })
        .and_then(|name| EventName::parse(name).map_err(|e| e.at(format!("{field}.{MARKER}"))))?;
    let min_events = match map.get("min_events") {
        None => DEFAULT_MIN_EVENTS,
        Some(v) => v
            .as_i64()
            .filter(|n| (1..=MAX_MIN_EVENTS).contains(n))
            .ok_or_else(|| {
                ValidationError::new(
                    format!("{field}.min_events"),
                    Violation::OutOfRange {
                        min: 1.0,
                        max: MAX_MIN_EVENTS as f64,
                    },
                )
            })?,
    };
    let default = match map.get("default") {
        None => DEFAULT_HOUR,
        Some(v) => v
            .as_u64()
            .filter(|h| *h < 24)
            .map(|h| h as u8)
            .ok_or_else(|| {
                ValidationError::new(
                    format!("{field}.default"),
                    Violation::OutOfRange {
                        min: 0.0,
                        max: 23.0,
                    },
                )
            })?,
    };
    Ok(BestHour {
        pointer,
        event,
        min_events,
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::EventHistory;
    use chrono::Utc;
    use std::collections::BTreeMap;

    fn profile(event: &str, hours: &[(usize, i64)]) -> Profile {
        let mut h = [0i64; 24];
        for &(hour, n) in hours {
            h[hour] = n;
        }
        let now = Utc::now();
        Profile {
            user_id: "u".into(),
            events: BTreeMap::from([(
                event.to_string(),
                EventHistory {
                    first_at: now,
                    last_at: now,
                    count: h.iter().sum(),
                    value_sum: 0.0,
                    days: Vec::new(),
                    hours: h,
                    recent: Vec::new(),
                    recent_since: None,
                },
            )]),
        }
    }

    #[test]
    fn fills_each_placeholder_with_the_users_hour_or_the_fallbacks() {
        let payload = json!({"send_at_hour": {"best_hour_of": "open"}, "copy": "Hi",
            "also": [{"best_hour_of": "buy", "min_events": 1, "default": 9}]});
        let personal = PersonalPayload::parse("variants.p.payload", &payload)
            .unwrap()
            .unwrap();
        assert_eq!(personal.placeholders.len(), 2);
        let regular = profile("open", &[(19, 4), (8, 2)]);
        let fill = |p: Option<&Profile>, population| personal.fill(|b| b.hour_for(p, population));
        // Six opens, mostly at 19: their own hour. No purchase, nobody's: the default.
        assert_eq!(
            fill(Some(&regular), None),
            json!({"send_at_hour": 19, "copy": "Hi", "also": [9]})
        );
        // Four opens (fewer than 5): the population's hour.
        let light = profile("open", &[(7, 4)]);
        assert_eq!(fill(Some(&light), Some(21))["send_at_hour"], 21);
        assert_eq!(fill(None, Some(21))["send_at_hour"], 21);
        assert_eq!(fill(None, None)["send_at_hour"], DEFAULT_HOUR);
        // Payloads without placeholders are not personal.
        assert_eq!(PersonalPayload::parse("p", &json!({"h": 8})).unwrap(), None);
    }

    #[test]
    fn refuses_malformed_placeholders_with_the_field_named() {
        let cases = [
            (json!({"at": {"best_hour_of": 3}}), "p.at.best_hour_of"),
            (json!({"at": {"best_hour_of": ""}}), "p.at.best_hour_of"),
            (
                json!({"at": {"best_hour_of": "open", "min_events": 0}}),
                "p.at.min_events",
            ),
            (
                json!({"at": {"best_hour_of": "open", "default": 24}}),
                "p.at.default",
            ),
            (
                json!({"at": {"best_hour_of": "open", "tz": "CET"}}),
                "p.at.tz",
            ),
        ];
        for (payload, field) in cases {
            let e = PersonalPayload::parse("p", &payload).unwrap_err();
            assert_eq!(e.field, field, "{payload}");
        }
    }
}
