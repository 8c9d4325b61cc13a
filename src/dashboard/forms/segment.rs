//! The segment form: one group (`all` or `any`) over condition rows, nested groups as JSON.

use super::rows::FormData;
use super::rules::{condition_rows, json_of_others, read_rows, rows_and_json_rules};
use crate::domain::{Rule, Segment, SegmentDraft, SegmentKey, ValidationError};
use crate::templates::form_values::{FieldErrors, SegmentForm};

pub fn read(form: &FormData) -> SegmentForm {
    SegmentForm {
        key: form.get("key").into(),
        name: form.get("name").into(),
        description: form.get("description").into(),
        group: form.get("group").into(),
        conditions: read_rows(form, "cond"),
        rule_json: form.get("rule_json").into(),
    }
}

/// The form of an existing segment, for editing.
pub fn of_segment(segment: &Segment) -> SegmentForm {
    let spec = &segment.spec;
    let (group, children): (&str, Vec<&Rule>) = match &spec.rule {
        Rule::All(rules) => ("all", rules.iter().collect()),
        Rule::Any(rules) => ("any", rules.iter().collect()),
        other => ("all", vec![other]),
    };
    SegmentForm {
        key: spec.key.to_string(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        group: group.into(),
        conditions: condition_rows(children.iter().copied()),
        rule_json: json_of_others(children.iter().copied()),
    }
}

/// The draft to submit (blank rows must have been removed), or the errors by field. The key
/// is read only when `creating`.
pub fn to_draft(form: &SegmentForm, creating: bool) -> Result<SegmentDraft, FieldErrors> {
    let mut errors = FieldErrors::default();
    let key = if creating {
        SegmentKey::parse(form.key.trim())
            .map_err(|e| errors.add("key", e.violation.to_string()))
            .ok()
    } else {
        None
    };
    let group = match form.group.trim() {
        g @ ("all" | "any") => g,
        _ => {
            errors.add("group", "choose all or any");
            "all"
        }
    };
    let children = rows_and_json_rules(
        &form.conditions,
        "cond",
        &form.rule_json,
        "rule_json",
        &mut errors,
    );
    if children.is_empty() && errors.is_empty() {
        errors.add(
            "conditions",
            "give at least one condition (or a rule as JSON)",
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(SegmentDraft {
        key,
        name: form.name.trim().to_string(),
        description: form.description.trim().to_string(),
        rule: serde_json::json!({ group: children }),
    })
}

/// A domain refusal as the form shows it, at the field it belongs to.
pub fn refusal(form: &SegmentForm, e: &ValidationError) -> FieldErrors {
    FieldErrors::one(field_of(form, e), e.violation.to_string())
}

/// The form field a domain error belongs to.
fn field_of(form: &SegmentForm, e: &ValidationError) -> String {
    let field = e.field.as_str();
    if let Some(rest) = field.strip_prefix("rule.") {
        // `rule.all[3]...`: rows come first, then the rules typed as JSON.
        let index = rest
            .split_once('[')
            .and_then(|(_, r)| r.split(']').next())
            .and_then(|i| i.parse::<usize>().ok());
        let whole_row = rest.ends_with(']') && rest.matches('[').count() == 1;
        return match index {
            Some(i) if i < form.conditions.len() && whole_row => format!("cond-{i}"),
            _ => "rule_json".into(),
        };
    }
    match field {
        "rule" => "conditions".into(),
        other => other.into(),
    }
}
