//! Segments (named targeting rules) and the holdout: the list with the holdout setting, and
//! the create/edit form, which works without JavaScript (one group type, rows of conditions
//! and of behavioral conditions, nested groups as JSON; "add a condition" sends the form back
//! with a blank row in each list).

use super::behavior_row::behavior_row;
use super::components::{
    Field, InputOptions, Tone, condition_row, csrf_input, error_summary, field as f, field_error,
    notice, select_field, text_field, textarea_field,
};
use super::form_values::{FieldErrors, SegmentForm};
use super::format;
use super::layout::{Nav, Page, breadcrumb, layout};
use crate::domain::{Rule, Segment};
use crate::engine::{HoldoutGroup, HoldoutResults};
use maud::{Markup, html};

pub struct SegmentListView<'a> {
    pub csrf: &'a str,
    pub segments: &'a [Segment],
    /// Keys of the experiments (not stopped) using each segment.
    pub used_by: &'a [Vec<String>],
    /// The holdout fraction as typed (percent) and its error.
    pub holdout: &'a str,
    pub holdout_error: Option<&'a str>,
    pub done: Option<&'a str>,
    /// The goal event typed for the holdout comparison, and its results (or why not).
    pub event: &'a str,
    pub results: Option<Result<&'a HoldoutResults, &'a str>>,
}

pub struct SegmentFormView<'a> {
    pub csrf: &'a str,
    /// `None` when creating.
    pub segment: Option<&'a Segment>,
    pub form: &'a SegmentForm,
    pub errors: &'a FieldErrors,
}

const GROUPS: &[(&str, &str)] = &[
    ("all", "every condition holds (AND)"),
    ("any", "at least one condition holds (OR)"),
];

fn count_conditions(rule: &Rule) -> usize {
    match rule {
        Rule::Condition(_) | Rule::Behavior(_) | Rule::Segment(_) => 1,
        Rule::All(r) | Rule::Any(r) => r.iter().map(count_conditions).sum(),
    }
}

pub fn list_page(view: &SegmentListView) -> Markup {
    layout(
        &Page::signed_in("Segments", view.csrf, Nav::Segments),
        html! {
            h1 { "Segments" }
            @match view.done {
                Some("created") => (notice(Tone::Good, html! { "The segment was created." })),
                Some("saved") => (notice(Tone::Good, html! { "The segment was saved; every experiment using it follows within a second." })),
                Some("deleted") => (notice(Tone::Good, html! { "The segment was deleted." })),
                Some("holdout") => (notice(Tone::Good, html! { "The holdout was saved." })),
                _ => {}
            }
            p { "Named rules on user attributes and on what users did (“first-time iOS users”, “opened the app in the last 7 days”). Experiments use them in their targeting and in pinned rules, by key." }
            p { a.button href="/dashboard/segments/new" { "New segment" } }
            @if view.segments.is_empty() {
                p.muted { "No segments yet." }
            } @else {
                div.table-scroll {
                    table.list {
                        thead { tr {
                            th scope="col" { "Segment" }
                            th scope="col" class="num" { "Conditions" }
                            th scope="col" { "Used by" }
                        } }
                        tbody {
                            @for (s, used) in view.segments.iter().zip(view.used_by) {
                                tr {
                                    th scope="row" {
                                        a href={ "/dashboard/segments/" (s.spec.key) } { (s.spec.name) }
                                        " " code.muted { (s.spec.key) }
                                    }
                                    td.num { (count_conditions(&s.spec.rule)) }
                                    td {
                                        @if used.is_empty() { span.muted { "no live experiment" } }
                                        @for (i, k) in used.iter().enumerate() {
                                            @if i > 0 { ", " }
                                            a href={ "/dashboard/experiments/" (k) } { (k) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="holdout-heading" {
                h2 #holdout-heading { "Holdout" }
                p { "A share of all users who get no experiment at all (no assignment, no pinned rule), so that the total effect of personalization can be measured: "
                    code { "GET /api/v1/holdout/results?event=…" } " compares their conversion with that of exposed users." }
                form method="post" action="/dashboard/holdout" {
                    (csrf_input(view.csrf))
                    (text_field(&Field { name: "fraction", label: "Held-out share of users", hint: Some("0 to 50%. Changing it moves users in or out of the holdout; set it before experiments start."), error: view.holdout_error },
                        view.holdout, InputOptions { inputmode: Some("decimal"), suffix: Some("%"), ..InputOptions::default() }))
                    div.form-actions { button.primary type="submit" { "Save holdout" } }
                }
                h3 #holdout-results { "Held out against exposed" }
                form method="get" action="/dashboard/segments#holdout-results" {
                    (text_field(&Field { name: "event", label: "Goal event", hint: Some("Users who sent it after they were held out, or after their first experimental assignment."),
                        error: match view.results { Some(Err(e)) => Some(e), _ => None } },
                        view.event, InputOptions { placeholder: Some("purchase"), ..InputOptions::default() }))
                    div.form-actions { button type="submit" { "Compare" } }
                }
                @if let Some(Ok(r)) = view.results { (holdout_table(r)) }
            }
        },
    )
}

fn group_row(label: &str, g: &HoldoutGroup) -> Markup {
    html! {
        tr {
            th scope="row" { (label) }
            td.num { (format::thousands(g.users)) }
            td.num { (format::thousands(g.conversions)) }
            td.num { (format::percent(g.rate.mean, 2)) " " span.muted { "(" (format::percent(g.rate.low, 2)) " to " (format::percent(g.rate.high, 2)) ")" } }
        }
    }
}

fn holdout_table(r: &HoldoutResults) -> Markup {
    html! {
        div.table-scroll {
            table.list #holdout-table {
                caption { "Conversion to " code { (r.event) } ", rate with its 95% credible interval" }
                thead { tr {
                    th scope="col" { "Group" }
                    th scope="col" class="num" { "Users" }
                    th scope="col" class="num" { "Converted" }
                    th scope="col" class="num" { "Rate" }
                } }
                tbody {
                    (group_row("Held out", &r.holdout))
                    (group_row("Exposed", &r.exposed))
                }
            }
        }
        @match (r.lift, r.chance_to_beat_holdout) {
            (Some(lift), Some(chance)) => {
                p { "Exposed users convert " strong { (format::signed_percent(lift.mean)) } " relative to held-out users (95%: "
                    (format::signed_percent(lift.low)) " to " (format::signed_percent(lift.high)) "); chance that personalization beats the holdout: "
                    strong { (format::probability(chance)) } "." }
            }
            _ => { p.muted { "Both groups need users before they can be compared." } }
        }
    }
}

pub fn form_page(view: &SegmentFormView) -> Markup {
    let (form, errors) = (view.form, view.errors);
    let title = match view.segment {
        Some(s) => format!("Segment {}", s.spec.name),
        None => "New segment".to_string(),
    };
    let action = match view.segment {
        Some(s) => format!("/dashboard/segments/{}", s.spec.key),
        None => "/dashboard/segments".to_string(),
    };
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Segments),
        html! {
            (breadcrumb(&[("/dashboard/segments", "Segments")]))
            h1 { (title) }
            (error_summary(errors, "The segment was not saved", str::to_string, str::to_string))
            @if let Some(m) = errors.get("form") { (notice(Tone::Bad, html! { (m) })) }
            form.segment-form method="post" action=(action) {
                (csrf_input(view.csrf))
                fieldset.group {
                    legend { "About" }
                    @if let Some(s) = view.segment {
                        p { "Key: " code { (s.spec.key) } " (fixed)" }
                    } @else {
                        (text_field(&f(errors, "key", "Key", Some("How experiments refer to it: 1 to 64 lowercase letters, digits, - _ or .")),
                            &form.key, InputOptions { required: true, placeholder: Some("first-time-ios"), ..InputOptions::default() }))
                    }
                    (text_field(&f(errors, "name", "Name", None), &form.name,
                        InputOptions { required: true, placeholder: Some("First-time iOS users"), ..InputOptions::default() }))
                    (textarea_field(&f(errors, "description", "Description (optional)", None), &form.description, 2, false))
                }
                fieldset.group #conditions .has-error[errors.get("conditions").is_some()] {
                    legend { "Who is in the segment" }
                    (select_field(&f(errors, "group", "Users match when", None), &form.group, GROUPS))
                    (field_error("conditions", errors.get("conditions")))
                    p.hint { "Empty rows are ignored. For “is one of”, separate values with commas; put a value in double quotes to keep it text (\"42\")." }
                    @for (i, row) in form.conditions.iter().enumerate() {
                        (condition_row("cond", "Condition", i, row, errors, "ios"))
                    }
                    p.hint { strong { "What they did: " } "read from the events the apps track, when profiles are switched on. Windows are durations up to 90 days: 30m, 72h, 7d (a day or more in whole days). "
                        "Examples: number of " code { "open" } " events at least 1 within 7d; sum of " code { "purchase" } " values at least 100 within 90d; last " code { "open" } " more than 7d ago, or never; days since first seen less than 1." }
                    @for (i, row) in form.behaviors.iter().enumerate() {
                        (behavior_row("beh", "Behavioral condition", i, row, errors))
                    }
                    (textarea_field(&f(errors, "rule_json", "Nested groups as JSON (optional)",
                        Some("More rules in the same group, e.g. [{\"any\": [{\"attribute\": \"visits\", \"op\": \"eq\", \"value\": 1}, {\"attribute\": \"plan\", \"op\": \"eq\", \"value\": \"trial\"}]}]")),
                        &form.rule_json, 4, true))
                }
                div.form-actions {
                    button.primary type="submit" name="action" value="save" { (if view.segment.is_some() { "Save segment" } else { "Create segment" }) }
                    button type="submit" name="action" value="add_condition" formnovalidate { "Add a condition" }
                    a href="/dashboard/segments" { "Cancel" }
                }
            }
            @if let Some(s) = view.segment {
                form method="post" action={ "/dashboard/segments/" (s.spec.key) "/delete" } {
                    (csrf_input(view.csrf))
                    button.danger type="submit" { "Delete this segment" }
                    p.hint { "Refused while an experiment that is not stopped uses it." }
                }
            }
        },
    )
}
