//! One behavioral condition row (`{prefix}-{i}-{event,measure,op,value,window,or_never}`):
//! what a user did, as the segment form edits it. The measure decides which fields count; the
//! script shows only those, and without it every field shows, its label saying whose it is.

use super::components::{InputOptions, field, field_error, op_words, select_field, text_field};
use super::form_values::{BehaviorRow, FieldErrors};
use crate::domain::Op;
use crate::domain::behavior::NumericOp;
use maud::{Markup, html};

/// What a row can measure: (name in the form, words).
const MEASURES: &[(&str, &str)] = &[
    ("count", "Number of events"),
    ("value_sum", "Sum of the events' values"),
    ("last_seen_before", "Last event more than a window ago"),
    ("last_seen_after", "Last event within a window"),
    ("days_since_first_seen", "Days since first seen"),
    ("days_since_last_seen", "Days since last seen"),
];

/// The measures of each field, as `data-when` lists them.
const WITH_EVENT: &str = "count value_sum last_seen_before last_seen_after";
const WITH_NUMBER: &str = "count value_sum days_since_first_seen days_since_last_seen";
const WITH_WINDOW: &str = "count value_sum last_seen_before last_seen_after";
const WITH_OR_NEVER: &str = "last_seen_before";

/// The comparisons of a count, a sum or a day figure, "at least" first (the usual one).
const OPS: [NumericOp; 6] = [
    NumericOp::Gte,
    NumericOp::Gt,
    NumericOp::Lte,
    NumericOp::Lt,
    NumericOp::Eq,
    NumericOp::Neq,
];

/// Shown while the row's measure (the select `measure_field`) is one of `measures`.
fn only_for(measure_field: &str, measures: &str, content: Markup) -> Markup {
    html! { div data-when={ (measure_field) ":" (measures) } { (content) } }
}

/// One behavioral condition row; `legend` names it for screen readers ("Behavioral condition
/// 1"). Errors are at `{prefix}-{i}-{column}` and, for the whole row, `{prefix}-{i}`. Not a
/// `rule-row`: the experiment form's script copies the last of those to add a targeting rule.
pub fn behavior_row(
    prefix: &str,
    legend: &str,
    i: usize,
    row: &BehaviorRow,
    errors: &FieldErrors,
) -> Markup {
    let name = |c: &str| format!("{prefix}-{i}-{c}");
    let (event, measure, op, value, window, or_never) = (
        name("event"),
        name("measure"),
        name("op"),
        name("value"),
        name("window"),
        name("or_never"),
    );
    let row_error = format!("{prefix}-{i}");
    let ops: Vec<(&str, &str)> = OPS
        .iter()
        // The same words as attribute conditions' operators of the same name.
        .map(|&c| {
            (
                c.as_str(),
                Op::parse(c.as_str()).map_or(c.as_str(), op_words),
            )
        })
        .collect();
    let or_never_error = errors.get(&or_never);
    html! {
        fieldset.behavior-row .has-error[errors.get(&row_error).is_some()] {
            legend.visually-hidden { (legend) " " (i + 1) }
            (select_field(&field(errors, &measure, "Measure", None), &row.measure, MEASURES))
            (only_for(&measure, WITH_EVENT, text_field(&field(errors, &event, "Event (not for days since)", None),
                &row.event, InputOptions { placeholder: Some("open"), ..InputOptions::default() })))
            (only_for(&measure, WITH_NUMBER, html! {
                (select_field(&field(errors, &op, "NumericOp (counts, sums, days)", None), &row.op, &ops))
                (text_field(&field(errors, &value, "Number (counts, sums, days)", None), &row.value,
                    InputOptions { inputmode: Some("decimal"), placeholder: Some("1"), ..InputOptions::default() }))
            }))
            (only_for(&measure, WITH_WINDOW, text_field(&field(errors, &window, "Window (not for days since)", None),
                &row.window, InputOptions { placeholder: Some("7d"), ..InputOptions::default() })))
            (only_for(&measure, WITH_OR_NEVER, html! {
                div.checkbox.has-error[or_never_error.is_some()] {
                    input type="checkbox" id=(or_never) name=(or_never) value="true" checked[row.or_never]
                        aria-invalid=[or_never_error.map(|_| "true")]
                        aria-describedby=[or_never_error.map(|_| format!("{or_never}-error"))];
                    label for=(or_never) { "Or never sent it (last event more than a window ago only)" }
                }
                (field_error(&or_never, or_never_error))
            }))
            (field_error(&row_error, errors.get(&row_error)))
        }
    }
}
