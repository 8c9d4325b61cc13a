//! Picking an experiment's metrics from the library, in the create and edit forms and on the
//! "edit metrics" page of a stopped experiment: the goal (typed inline, or a library metric),
//! the secondary metrics (boxes to tick) and the guardrails (rows of metric and threshold;
//! "add a guardrail" works without JavaScript).

use super::components::{
    InputOptions, Tone, csrf_input, error_summary, field as f, field_error, notice, radio_field,
    select_field, text_field,
};
use super::form_values::{ExperimentForm, FieldErrors};
use super::layout::{Nav, Page, breadcrumb, layout};
use super::metric_pages::{metric_path, type_words};
use crate::domain::{Experiment, GoalMetric, MAX_GUARDRAILS, MAX_SECONDARY_METRICS, Metric};
use maud::{Markup, html};

/// A metric as a choice: its key, and "Name (key) — type".
fn choices<'a>(library: &'a [Metric], first: &'a str) -> Vec<(&'a str, String)> {
    let mut out = vec![("", first.to_string())];
    out.extend(library.iter().map(|m| {
        (
            m.spec.key.as_str(),
            format!(
                "{} ({}) — {}",
                m.spec.name,
                m.spec.key,
                type_words(&m.spec.definition)
            ),
        )
    }));
    out
}

fn as_options<'a>(choices: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    choices.iter().map(|(k, l)| (*k, l.as_str())).collect()
}

fn empty_library() -> Markup {
    html! {
        p.muted { "The library has no metrics yet: define them on the " a href="/dashboard/metrics" { "Metrics" } " page." }
    }
}

const GOAL_SOURCES: &[(&str, &str, &str)] = &[
    (
        "inline",
        "An event",
        "conversion or revenue of an event you name here",
    ),
    (
        "library",
        "A metric of the library",
        "any type, with its window, cap and direction (a bandit's goal must be a conversion or mean metric)",
    ),
];

const GOAL_METRICS: &[(&str, &str)] = &[
    (
        "conversion",
        "Conversion: did the user send the event (once per user)",
    ),
    ("revenue", "Revenue: the sum of the event's values per user"),
];

/// The create form's goal: typed inline, or chosen from the library. Without JavaScript both
/// show; the script shows the chosen one's.
pub fn goal_fields(form: &ExperimentForm, errors: &FieldErrors, library: &[Metric]) -> Markup {
    let goals = choices(library, "— choose a metric —");
    html! {
        fieldset.group #goal {
            legend { "Goal" }
            p.hint { "What the verdict is about, and what a bandit optimizes." }
            (radio_field(&f(errors, "goal_source", "The goal is", None), &form.goal_source, GOAL_SOURCES))
            div data-when="goal_source:inline" {
                (text_field(&f(errors, "goal_event", "Goal event (for a goal named here)",
                    Some("The event name the apps track when the user does what you want.")),
                    &form.goal_event, InputOptions { placeholder: Some("purchase"), ..InputOptions::default() }))
                (select_field(&f(errors, "goal_metric", "Goal metric (for a goal named here)", None), &form.goal_metric, GOAL_METRICS))
            }
            div data-when="goal_source:library" {
                @if library.is_empty() { (empty_library()) } @else {
                    (select_field(&f(errors, "goal_key", "Goal metric from the library", None), &form.goal_key, &as_options(&goals)))
                }
            }
        }
    }
}

/// A draft's goal in the edit form: a library metric, or (the choice left empty) the goal
/// typed when it was created, if that is its goal.
pub fn draft_goal_select(
    experiment: &Experiment,
    form: &ExperimentForm,
    errors: &FieldErrors,
    library: &[Metric],
) -> Markup {
    let spec = &experiment.spec;
    let inline = spec.metrics.goal.is_none().then(|| {
        let metric = match spec.goal.metric {
            GoalMetric::Conversion => "conversion",
            GoalMetric::Revenue => "revenue",
        };
        format!("The goal named at creation: {} ({metric})", spec.goal.event)
    });
    let mut goals = choices(library, inline.as_deref().unwrap_or(""));
    if inline.is_none() {
        goals.remove(0);
    }
    html! {
        (select_field(&f(errors, "goal_key", "Goal",
            Some("It may change until the experiment starts. A bandit's goal must be a conversion or mean metric.")),
            &form.goal_key, &as_options(&goals)))
    }
}

/// The goal as the edit forms show it once fixed: the library metric (linked), or the event.
pub fn goal_words(experiment: &Experiment, library: &[Metric]) -> Markup {
    let spec = &experiment.spec;
    html! {
        @match &spec.metrics.goal {
            Some(key) => {
                @let name = library.iter().find(|m| &m.spec.key == key).map(|m| m.spec.name.as_str());
                a href=(metric_path(key.as_str())) { (name.unwrap_or(key.as_str())) } " " code.muted { (key) }
            }
            None => { code { (spec.goal.event) } " (" (spec.goal.metric.as_str()) ")" }
        }
    }
}

/// Secondary metrics (a box per library metric) and guardrail rows, with the hidden field
/// that says the form carried them.
pub fn secondary_and_guardrails(
    form: &ExperimentForm,
    errors: &FieldErrors,
    library: &[Metric],
) -> Markup {
    let guard_choices = choices(library, "— choose a metric —");
    let guard_options = as_options(&guard_choices);
    html! {
        input type="hidden" name="metrics_form" value="1";
        @if let Some(e) = errors.get("metrics") { (notice(Tone::Bad, html! { (e) })) }
        fieldset.group #secondary .has-error[errors.get("secondary").is_some()] {
            legend { "Secondary metrics (optional)" }
            p.hint { "Up to " (MAX_SECONDARY_METRICS) " metrics reported beside the goal, to learn more (their p-values are adjusted for their number). "
                "Added to an experiment that has data, a metric is computed over all of it, in the background." }
            (field_error("secondary", errors.get("secondary")))
            @if library.is_empty() { (empty_library()) }
            div.checkbox-grid {
                @for m in library {
                    @let key = m.spec.key.as_str();
                    @let id = format!("secondary-{key}");
                    @let error = errors.get(&id);
                    div.checkbox.has-error[error.is_some()] {
                        input type="checkbox" id=(id) name="secondary" value=(key)
                            checked[form.secondary.iter().any(|s| s == key)]
                            aria-invalid=[error.map(|_| "true")]
                            aria-describedby=[error.map(|_| format!("{id}-error"))];
                        label for=(id) { (m.spec.name) " " code.muted { (key) } " " span.muted { (type_words(&m.spec.definition)) } }
                    }
                    (field_error(&id, error))
                }
            }
            // Keys sent that the library does not have (deleted meanwhile): their errors here.
            @for key in form.secondary.iter().filter(|k| !library.iter().any(|m| m.spec.key.as_str() == k.as_str())) {
                @let id = format!("secondary-{key}");
                (field_error(&id, errors.get(&id)))
            }
        }
        fieldset.group #guardrails .has-error[errors.get("guardrails").is_some()] {
            legend { "Guardrails (optional)" }
            p.hint { "Up to " (MAX_GUARDRAILS) " metrics that must not get worse. The threshold is the harm that matters, relative to the control: 2 means 2% worse in the metric's bad direction; empty means any harm. A guardrail fires when the sequential test shows that harm at 95% (never on a peek at a p-value); it then alerts, pauses the experiment, or (bandits only) drops the harmed arm: it takes no new users, its enrolled users keep it. Empty rows are ignored." }
            (field_error("guardrails", errors.get("guardrails")))
            @for (i, row) in form.guardrails.iter().enumerate() {
                @let metric = format!("guard-{i}-metric");
                @let threshold = format!("guard-{i}-threshold");
                fieldset.guard-row {
                    legend.visually-hidden { "Guardrail " (i + 1) }
                    (select_field(&f(errors, &metric, "Metric", None), &row.metric, &guard_options))
                    (text_field(&f(errors, &threshold, "Threshold", None), &row.threshold,
                        InputOptions { inputmode: Some("decimal"), suffix: Some("%"), placeholder: Some("2"), ..InputOptions::default() }))
                    @let action = format!("guard-{i}-action");
                    (select_field(&f(errors, &action, "When it fires", None),
                        if row.action.is_empty() { "alert" } else { &row.action },
                        &[("alert", "Alert: record and show it"), ("pause", "Pause the experiment"), ("drop", "Bandits: drop the harmed arm")]))
                }
            }
        }
    }
}

/// The "add a guardrail" button of a form.
pub fn add_guardrail_button() -> Markup {
    html! {
        button type="submit" name="action" value="add_guardrail" formnovalidate data-add-row="guard" { "Add a guardrail" }
    }
}

/// Readable names of the metric fields, for the error summaries.
pub fn metric_field_label(field: &str) -> Option<String> {
    let named = match field {
        "goal_source" => "Goal",
        "goal_key" => "Goal metric",
        "metrics" => "Metrics",
        "secondary" => "Secondary metrics",
        "guardrails" => "Guardrails",
        _ => "",
    };
    if !named.is_empty() {
        return Some(named.into());
    }
    if let Some(key) = field.strip_prefix("secondary-") {
        return Some(format!("Secondary metric {key}"));
    }
    let parts: Vec<&str> = field.split('-').collect();
    match parts.as_slice() {
        ["guard", i, column] => Some(format!(
            "Guardrail {}: {column}",
            i.parse::<usize>().map_or(0, |i| i + 1)
        )),
        _ => None,
    }
}

pub struct MetricsEditView<'a> {
    pub csrf: &'a str,
    pub experiment: &'a Experiment,
    pub form: &'a ExperimentForm,
    pub errors: &'a FieldErrors,
    pub library: &'a [Metric],
}

/// The metrics of an experiment alone (a stopped one's: its results are read for long, and
/// a metric may be added to them).
pub fn metrics_page(view: &MetricsEditView) -> Markup {
    let (e, form, errors) = (view.experiment, view.form, view.errors);
    let spec = &e.spec;
    let base = format!("/dashboard/experiments/{}", spec.key);
    let title = format!("Metrics of {}", spec.name);
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Experiments),
        html! {
            (breadcrumb(&[("/dashboard/experiments", "Experiments"), (&base, &spec.name)]))
            h1 { (title) }
            (error_summary(errors, "The metrics were not saved",
                |field| metric_field_label(field).unwrap_or_else(|| field.to_string()), str::to_string))
            @if let Some(m) = errors.get("form") { (notice(Tone::Bad, html! { (m) })) }
            p { "The experiment is " (e.status.as_str()) "; only its secondary metrics and guardrails may change. Their results are computed from the raw events." }
            form.experiment-form method="post" action={ (base) "/metrics" } {
                (csrf_input(view.csrf))
                dl.facts { dt { "Goal" } dd { (goal_words(e, view.library)) } }
                (secondary_and_guardrails(form, errors, view.library))
                div.form-actions {
                    button.primary type="submit" name="action" value="save" { "Save metrics" }
                    (add_guardrail_button())
                    a href=(base) { "Cancel" }
                }
            }
        },
    )
}
