//! Targeting conditions as the forms show them: one row per condition (attribute, operator,
//! value as typed), and everything else (groups, segment references, behavioral conditions
//! where the form has no rows for them: `behavior_rows`) as JSON beside the rows.

use super::rows::FormData;
use crate::domain::{Condition, Op, Rule};
use crate::templates::form_values::{FieldErrors, RuleRow};
use serde_json::Value;

/// The condition rows named `{prefix}-{i}-{attribute,op,value}`, in index order.
pub fn read_rows(form: &FormData, prefix: &str) -> Vec<RuleRow> {
    form.rows(prefix, |row: &mut RuleRow, column, value| match column {
        "attribute" => row.attribute = value.into(),
        "op" => row.op = value.into(),
        "value" => row.value = value.into(),
        _ => {}
    })
    .into_values()
    .collect()
}

/// The condition rows as rules (JSON values), then the rules typed as JSON in `json_field`
/// (a list, or one rule); errors at `{prefix}-{i}-op`, `{prefix}-{i}-value` and `json_field`.
pub fn rows_and_json_rules(
    rows: &[RuleRow],
    prefix: &str,
    json: &str,
    json_field: &str,
    errors: &mut FieldErrors,
) -> Vec<Value> {
    let mut rules = condition_rules(rows, prefix, errors);
    rules.extend(json_rules(json, json_field, errors));
    rules
}

/// The condition rows as rules (JSON values); errors at `{prefix}-{i}-op` and
/// `{prefix}-{i}-value`.
pub fn condition_rules(rows: &[RuleRow], prefix: &str, errors: &mut FieldErrors) -> Vec<Value> {
    let mut rules: Vec<Value> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Some(op) = Op::parse(row.op.trim()) else {
            errors.add(format!("{prefix}-{i}-op"), "choose a comparison");
            continue;
        };
        match rule_value(op, &row.value) {
            Ok(value) => rules.push(
                serde_json::to_value(Condition {
                    attribute: row.attribute.trim().to_string(),
                    op,
                    value,
                })
                .expect("a condition serializes"),
            ),
            Err(message) => errors.add(format!("{prefix}-{i}-value"), message),
        }
    }
    rules
}

/// The rules typed as JSON in `json_field` (a list, or one rule; none when blank); an error at
/// `json_field` when it is not JSON.
pub fn json_rules(json: &str, json_field: &str, errors: &mut FieldErrors) -> Vec<Value> {
    if json.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items,
        Ok(other) => vec![other],
        Err(e) => {
            errors.add(json_field, format!("not valid JSON: {e}"));
            Vec::new()
        }
    }
}

/// The plain conditions among `rules`, as rows.
pub fn condition_rows<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<RuleRow> {
    rules
        .into_iter()
        .filter_map(|r| match r {
            Rule::Condition(c) => Some(RuleRow {
                attribute: c.attribute.clone(),
                op: c.op.as_str().into(),
                value: rule_value_text(c.op, c.value.as_ref()),
            }),
            _ => None,
        })
        .collect()
}

/// Rules that are not plain conditions, as the pretty JSON of their list ("" when none).
pub fn json_of_others<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> String {
    let others: Vec<&Rule> = rules
        .into_iter()
        .filter(|r| !matches!(r, Rule::Condition(_)))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        serde_json::to_string_pretty(&others).unwrap_or_default()
    }
}

/// A typed scalar: JSON when it reads as a JSON scalar (`42`, `true`, `"42"`), else the text.
fn scalar_from_text(text: &str) -> Value {
    let t = text.trim();
    match serde_json::from_str::<Value>(t) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::String(t.to_string()),
    }
}

/// The text that `scalar_from_text` reads back as `v`.
fn scalar_to_text(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.trim() == s
                && !s.contains(',')
                && matches!(scalar_from_text(s), Value::String(ref back) if back == s);
            if plain { s.clone() } else { v.to_string() }
        }
        other => other.to_string(),
    }
}

/// A rule's value as typed: lists for `in`/`not_in` are comma-separated (or a JSON array).
fn rule_value(op: Op, text: &str) -> Result<Option<Value>, String> {
    let t = text.trim();
    match op {
        Op::Exists => match t.to_ascii_lowercase().as_str() {
            "" | "true" | "yes" => Ok(None),
            "false" | "no" => Ok(Some(Value::Bool(false))),
            _ => Err("leave empty (must exist) or type false (must be missing)".into()),
        },
        _ if t.is_empty() => Ok(None),
        Op::In | Op::NotIn if t.starts_with('[') => serde_json::from_str(t)
            .map(Some)
            .map_err(|e| format!("not a valid JSON list: {e}")),
        Op::In | Op::NotIn => Ok(Some(Value::Array(
            t.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(scalar_from_text)
                .collect(),
        ))),
        _ => Ok(Some(scalar_from_text(t))),
    }
}

/// The text `rule_value` reads back as `value`.
fn rule_value_text(op: Op, value: Option<&Value>) -> String {
    match (op, value) {
        (_, None) => String::new(),
        // A comma inside an item would split it when read back: write such lists as JSON.
        (Op::In | Op::NotIn, Some(v @ Value::Array(items)))
            if items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.contains(','))) =>
        {
            v.to_string()
        }
        (Op::In | Op::NotIn, Some(Value::Array(items))) => items
            .iter()
            .map(scalar_to_text)
            .collect::<Vec<_>>()
            .join(", "),
        (_, Some(v)) => scalar_to_text(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_round_trip() {
        for v in [
            json!("ios"),
            json!("42"),
            json!(42),
            json!(true),
            json!("a, b"),
            json!(" x"),
        ] {
            assert_eq!(scalar_from_text(&scalar_to_text(&v)), v, "{v}");
        }
    }

    #[test]
    fn lists_round_trip_through_their_text() {
        for v in [
            json!(["ios", "android"]),
            json!(["a, b", "c"]),
            json!([1, "1"]),
        ] {
            let text = rule_value_text(Op::In, Some(&v));
            assert_eq!(rule_value(Op::In, &text), Ok(Some(v.clone())), "{text}");
        }
    }
}
