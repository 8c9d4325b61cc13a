//! The segment form: one group (`all` or `any`) over condition rows and behavioral
//! condition rows, nested groups and segment references as JSON.

use super::behavior_rows;
use super::rows::FormData;
use super::rules::{condition_rows, condition_rules, json_of_others, json_rules, read_rows};
use crate::domain::{Rule, Segment, SegmentDraft, SegmentKey, ValidationError};
use crate::templates::form_values::{FieldErrors, SegmentForm};

pub fn read(form: &FormData) -> SegmentForm {
    SegmentForm {
        key: form.get("key").into(),
        name: form.get("name").into(),
        description: form.get("description").into(),
        group: form.get("group").into(),
        conditions: read_rows(form, "cond"),
        behaviors: behavior_rows::read_rows(form, "beh"),
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
    let (behaviors, others): (Vec<&Rule>, Vec<&Rule>) = children
        .into_iter()
        .partition(|r| behavior_rows::row_of(r).is_some());
    SegmentForm {
        key: spec.key.to_string(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        group: group.into(),
        conditions: condition_rows(others.iter().copied()),
        behaviors: behaviors
            .into_iter()
            .filter_map(behavior_rows::row_of)
            .collect(),
        rule_json: json_of_others(others.iter().copied()),
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
    // Condition rows, then behavior rows, then the JSON: `field_of` counts on this order.
    let mut children = condition_rules(&form.conditions, "cond", &mut errors);
    children.extend(behavior_rows::rule_values(
        &form.behaviors,
        "beh",
        &mut errors,
    ));
    children.extend(json_rules(&form.rule_json, "rule_json", &mut errors));
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
        // `rule.all[3]...`: the condition rows come first, then the behavior rows, then the
        // rules typed as JSON (every row made one rule, or the form was refused before).
        let (conditions, behaviors) = (form.conditions.len(), form.behaviors.len());
        let indexed = rest
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .and_then(|(i, after)| Some((i.parse::<usize>().ok()?, after)));
        return match indexed {
            Some((i, "")) if i < conditions => format!("cond-{i}"),
            Some((i, after)) if (conditions..conditions + behaviors).contains(&i) => {
                behavior_rows::field_of_error("beh", i - conditions, after)
            }
            _ => "rule_json".into(),
        };
    }
    match field {
        "rule" => "conditions".into(),
        other => other.into(),
    }
}
