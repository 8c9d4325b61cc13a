//! Behavioral conditions as the segment form shows them: one row per condition,
//! `{prefix}-{i}-{event,measure,op,value,window,or_never}`, its measure choosing which other
//! columns count. A row becomes the rule JSON the API takes, so the domain parses and checks
//! it like any rule; the form itself only checks what the JSON cannot say (a measure, a
//! comparison and a number), and places the domain's errors back on the row's inputs.

use super::rows::FormData;
use crate::domain::Rule;
use crate::domain::behavior::{Behavior, Bounds, NumericOp, ProfileField, Recency};
use crate::templates::form_values::{BehaviorRow, FieldErrors};
use serde_json::{Value, json};

/// What a row measures, by its name in the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Count,
    ValueSum,
    LastSeen(Recency),
    Profile(ProfileField),
}

impl Measure {
    fn parse(name: &str) -> Option<Measure> {
        Some(match name {
            "count" => Measure::Count,
            "value_sum" => Measure::ValueSum,
            "last_seen_before" => Measure::LastSeen(Recency::Before),
            "last_seen_after" => Measure::LastSeen(Recency::After),
            other => Measure::Profile(
                ProfileField::ALL
                    .into_iter()
                    .find(|f| f.as_str() == other)?,
            ),
        })
    }
}

/// The behavior rows named `{prefix}-{i}-{...}`, in index order.
pub fn read_rows(form: &FormData, prefix: &str) -> Vec<BehaviorRow> {
    form.rows(
        prefix,
        |row: &mut BehaviorRow, column, value| match column {
            "event" => row.event = value.into(),
            "measure" => row.measure = value.into(),
            "op" => row.op = value.into(),
            "value" => row.value = value.into(),
            "window" => row.window = value.into(),
            // A ticked box sends its value, an unticked one nothing at all.
            "or_never" => row.or_never = value != "false",
            _ => {}
        },
    )
    .into_values()
    .collect()
}

/// The rows (blank ones removed) as rules (JSON values), one per row; errors at
/// `{prefix}-{i}-{measure,op,value}`. Events and windows are left to the domain.
pub fn rule_values(rows: &[BehaviorRow], prefix: &str, errors: &mut FieldErrors) -> Vec<Value> {
    let mut rules = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let at = |column: &str| format!("{prefix}-{i}-{column}");
        let Some(measure) = Measure::parse(row.measure.trim()) else {
            errors.add(at("measure"), "choose what to measure");
            continue;
        };
        let (event, window) = (row.event.trim(), row.window.trim());
        let mut compared = || {
            let op = NumericOp::parse(row.op.trim());
            let Some(op) = op else {
                errors.add(at("op"), "choose a comparison");
                return None;
            };
            number(&row.value)
                .map_err(|message| errors.add(at("value"), message))
                .ok()
                .map(|x| (op, x))
        };
        let rule = match measure {
            Measure::Count | Measure::ValueSum => {
                let Some((op, x)) = compared() else { continue };
                let name = if measure == Measure::Count {
                    "count"
                } else {
                    "value_sum"
                };
                json!({"event": event, name: {op.as_str(): x}, "within": window})
            }
            Measure::LastSeen(Recency::Before) => {
                let mut rule = json!({"event": event, "last_seen": {"before": window}});
                if row.or_never {
                    rule["or_never"] = Value::Bool(true);
                }
                rule
            }
            // "Or never" cannot change an `after` (a user who never sent the event is never
            // within the window), so the box is not sent with it.
            Measure::LastSeen(Recency::After) => {
                json!({"event": event, "last_seen": {"after": window}})
            }
            Measure::Profile(field) => {
                let Some((op, x)) = compared() else { continue };
                json!({"profile": field.as_str(), "op": op.as_str(), "value": x})
            }
        };
        rules.push(rule);
    }
    rules
}

/// A number as typed in a row.
fn number(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("type a number".into());
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("{t:?} is not a number")),
    }
}

/// The row showing `rule`, when it is a behavioral condition a row can show (a single bound,
/// no `or_never` on an `after`); others stay JSON.
pub fn row_of(rule: &Rule) -> Option<BehaviorRow> {
    let Rule::Behavior(behavior) = rule else {
        return None;
    };
    let single = |bounds: &Bounds| match bounds.as_slice() {
        [(op, x)] => Some((op.as_str().to_string(), x.to_string())),
        _ => None,
    };
    Some(match behavior {
        Behavior::Count {
            event,
            bounds,
            within,
        }
        | Behavior::ValueSum {
            event,
            bounds,
            within,
        } => {
            let (op, value) = single(bounds)?;
            BehaviorRow {
                event: event.to_string(),
                measure: if matches!(behavior, Behavior::Count { .. }) {
                    "count"
                } else {
                    "value_sum"
                }
                .into(),
                op,
                value,
                window: within.as_duration().to_string(),
                or_never: false,
            }
        }
        Behavior::LastSeen {
            event,
            recency,
            window,
            or_never,
        } => {
            let measure = match recency {
                Recency::Before => "last_seen_before",
                Recency::After if *or_never => return None,
                Recency::After => "last_seen_after",
            };
            BehaviorRow {
                event: event.to_string(),
                measure: measure.into(),
                window: window.as_duration().to_string(),
                or_never: *or_never,
                ..BehaviorRow::default()
            }
        }
        Behavior::Profile { field, op, value } => BehaviorRow {
            measure: field.as_str().into(),
            op: op.as_str().into(),
            value: value.to_string(),
            ..BehaviorRow::default()
        },
    })
}

/// The input of row `i` a domain error belongs to, from what its field path says after the
/// rule (`.within`, `.last_seen.before`, `.count.gte`, ...); the whole row when it names none.
pub fn field_of_error(prefix: &str, i: usize, path_in_rule: &str) -> String {
    let first = path_in_rule
        .strip_prefix('.')
        .and_then(|p| p.split('.').next())
        .unwrap_or("");
    let column = match first {
        "event" => "event",
        "within" | "last_seen" => "window",
        "count" | "value_sum" | "value" => "value",
        "op" => "op",
        "profile" => "measure",
        "or_never" => "or_never",
        _ => return format!("{prefix}-{i}"),
    };
    format!("{prefix}-{i}-{column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(measure: &str, op: &str, value: &str, window: &str, or_never: bool) -> BehaviorRow {
        BehaviorRow {
            event: "open".into(),
            measure: measure.into(),
            op: op.into(),
            value: value.into(),
            window: window.into(),
            or_never,
        }
    }

    /// Each measure's row reads into the JSON the API documents, and that rule reads back
    /// into the same row.
    #[test]
    fn rows_round_trip_through_rules() {
        let rows = [
            row("count", "gte", "1", "7d", false),
            row("value_sum", "gt", "99.5", "90d", false),
            row("last_seen_before", "", "", "7d", true),
            row("last_seen_after", "", "", "30m", false),
            BehaviorRow {
                measure: "days_since_first_seen".into(),
                op: "lt".into(),
                value: "1".into(),
                ..BehaviorRow::default()
            },
        ];
        let mut errors = FieldErrors::default();
        let rules = rule_values(&rows, "beh", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rules,
            vec![
                json!({"event": "open", "count": {"gte": 1.0}, "within": "7d"}),
                json!({"event": "open", "value_sum": {"gt": 99.5}, "within": "90d"}),
                json!({"event": "open", "last_seen": {"before": "7d"}, "or_never": true}),
                json!({"event": "open", "last_seen": {"after": "30m"}}),
                json!({"profile": "days_since_first_seen", "op": "lt", "value": 1.0}),
            ]
        );
        for (rule, typed) in rules.iter().zip(&rows) {
            let parsed = Rule::from_json(rule, "rule").expect("a valid rule");
            assert_eq!(row_of(&parsed).as_ref(), Some(typed), "{rule}");
        }
    }

    #[test]
    fn what_json_cannot_say_is_refused_at_the_row() {
        let rows = [
            row("often", "gte", "1", "7d", false),
            row("count", "in", "1", "7d", false),
            row("count", "gte", "", "7d", false),
            row("days_since_last_seen", "lt", "soon", "", false),
        ];
        let mut errors = FieldErrors::default();
        assert!(rule_values(&rows, "beh", &mut errors).is_empty());
        for field in ["beh-0-measure", "beh-1-op", "beh-2-value", "beh-3-value"] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
    }

    #[test]
    fn rules_a_row_cannot_show_stay_json() {
        for rule in [
            json!({"event": "open", "count": {"gte": 2, "lt": 5}, "within": "7d"}),
            json!({"event": "open", "last_seen": {"after": "7d"}, "or_never": true}),
            json!({"attribute": "plan", "op": "eq", "value": "pro"}),
        ] {
            let parsed = Rule::from_json(&rule, "rule").expect("a valid rule");
            assert_eq!(row_of(&parsed), None, "{rule}");
        }
    }

    #[test]
    fn domain_errors_land_on_the_row_input() {
        for (path, field) in [
            (".within", "beh-2-window"),
            (".last_seen.before", "beh-2-window"),
            (".count.gte", "beh-2-value"),
            (".event", "beh-2-event"),
            (".profile", "beh-2-measure"),
            ("", "beh-2"),
        ] {
            assert_eq!(field_of_error("beh", 2, path), field, "{path}");
        }
    }
}
