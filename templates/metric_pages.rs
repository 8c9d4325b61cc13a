//! The metric library: the list (what each metric counts and who uses it), the create/edit
//! form (one form for every type: without JavaScript every field shows, each saying which
//! type uses it; the script hides the others) and the delete confirmation.

use super::components::{
    InputOptions, Tone, csrf_input, error_summary, field as f, notice, select_field, text_field,
    textarea_field,
};
use super::form_values::{FieldErrors, MetricForm};
use super::format;
use super::layout::{Nav, Page, breadcrumb, layout};
use crate::domain::{
    Cap, Conflict, Direction, MeanOf, Metric, MetricDefinition, MetricRole, MetricType, Status,
};
use crate::engine::MetricUse;
use maud::{Markup, html};
use std::collections::HashMap;

pub struct MetricListView<'a> {
    pub csrf: &'a str,
    pub metrics: &'a [Metric],
    /// The experiments declaring each metric, by metric key.
    pub uses: &'a HashMap<String, Vec<MetricUse>>,
    /// What the last action did (`created`, `saved`, `deleted`).
    pub done: Option<&'a str>,
}

pub struct MetricFormView<'a> {
    pub csrf: &'a str,
    /// `None` when creating.
    pub metric: Option<&'a Metric>,
    pub form: &'a MetricForm,
    pub errors: &'a FieldErrors,
    /// The library, for a ratio's parts.
    pub library: &'a [Metric],
    /// The experiments using the metric being edited.
    pub uses: &'a [MetricUse],
}

pub struct MetricDeleteView<'a> {
    pub csrf: &'a str,
    pub metric: &'a Metric,
    pub uses: &'a [MetricUse],
    /// The ratio metrics it is a part of.
    pub ratios: &'a [String],
    pub refusal: Option<DeleteRefusal<'a>>,
}

/// Why a deletion did not happen.
pub enum DeleteRefusal<'a> {
    /// The confirmation box was not ticked.
    Unticked,
    /// The library refused it (in use, a ratio's part).
    Conflict(&'a Conflict),
}

pub fn metric_path(key: &str) -> String {
    format!("/dashboard/metrics/{key}")
}

/// What the metric measures per user, in a few words.
pub fn type_words(d: &MetricDefinition) -> &'static str {
    match d {
        MetricDefinition::Conversion { .. } => "conversion",
        MetricDefinition::Mean {
            of: MeanOf::Value, ..
        } => "mean of values",
        MetricDefinition::Mean {
            of: MeanOf::Count, ..
        } => "mean of count",
        MetricDefinition::Ratio { .. } => "ratio",
        MetricDefinition::Retention { .. } => "retention",
    }
}

fn direction_words(d: Direction) -> &'static str {
    match d {
        Direction::Increase => "higher is better",
        Direction::Decrease => "lower is better",
    }
}

fn cap_words(d: &MetricDefinition) -> String {
    match d {
        MetricDefinition::Mean {
            cap: Some(Cap::Value(v)),
            ..
        } => format!("at {} per user", format::amount(*v)),
        MetricDefinition::Mean {
            cap: Some(Cap::Percentile(q)),
            ..
        } => format!(
            "at the {}th percentile",
            format::short_percent(*q).trim_end_matches('%')
        ),
        _ => String::new(),
    }
}

fn role_words(role: MetricRole) -> &'static str {
    match role {
        MetricRole::Goal => "goal",
        MetricRole::Secondary => "secondary",
        MetricRole::Guardrail => "guardrail",
    }
}

/// The ratio metrics of `library` that have `key` as a part.
pub fn ratios_using(library: &[Metric], key: &str) -> Vec<String> {
    library
        .iter()
        .filter(|m| match &m.spec.definition {
            MetricDefinition::Ratio {
                numerator,
                denominator,
            } => numerator.as_str() == key || denominator.as_str() == key,
            _ => false,
        })
        .map(|m| m.spec.key.to_string())
        .collect()
}

fn metric_link(key: &str) -> Markup {
    html! { a href=(metric_path(key)) { code { (key) } } }
}

fn experiment_link(key: &str) -> Markup {
    html! { a href={ "/dashboard/experiments/" (key) } { (key) } }
}

/// The experiments using a metric: each linked, with its role (and its status, once not
/// running), then the ratios it is a part of.
fn uses_cell(uses: &[MetricUse], ratios: &[String]) -> Markup {
    html! {
        @if uses.is_empty() && ratios.is_empty() { span.muted { "no experiment" } }
        @for (i, u) in uses.iter().enumerate() {
            @if i > 0 { ", " }
            (experiment_link(&u.experiment)) " "
            span.muted { "(" (role_words(u.role)) @if u.status != Status::Running { ", " (u.status.as_str()) } ")" }
        }
        @if !ratios.is_empty() {
            @if !uses.is_empty() { "; " }
            "part of "
            @for (i, r) in ratios.iter().enumerate() {
                @if i > 0 { ", " }
                (metric_link(r))
            }
        }
    }
}

pub fn list_page(view: &MetricListView) -> Markup {
    let none = Vec::new();
    layout(
        &Page::signed_in("Metrics", view.csrf, Nav::Metrics),
        html! {
            h1 { "Metrics" }
            @match view.done {
                Some("created") => (notice(Tone::Good, html! { "The metric was created." })),
                Some("saved") => (notice(Tone::Good, html! { "The metric was saved. Every experiment using it recomputes it from the raw events, in the background." })),
                Some("deleted") => (notice(Tone::Good, html! { "The metric was deleted." })),
                _ => {}
            }
            p { "What experiments measure, defined once and used by key as an experiment’s goal, secondary metrics and guardrails." }
            p { a.button href="/dashboard/metrics/new" { "New metric" } }
            @if view.metrics.is_empty() {
                p.muted { "No metrics yet." }
            } @else {
                div.table-scroll {
                    table.list #metrics-table {
                        thead { tr {
                            th scope="col" { "Metric" }
                            th scope="col" { "Type" }
                            th scope="col" { "Counts" }
                            th scope="col" { "Window" }
                            th scope="col" { "Direction" }
                            th scope="col" { "Cap" }
                            th scope="col" { "Retention window" }
                            th scope="col" class="num" { "Version" }
                            th scope="col" { "Used by" }
                        } }
                        tbody {
                            @for m in view.metrics {
                                @let s = &m.spec;
                                @let d = &s.definition;
                                tr id={ "metric-" (s.key) } {
                                    th scope="row" {
                                        a href=(metric_path(s.key.as_str())) { (s.name) }
                                        " " code.muted { (s.key) }
                                    }
                                    td data-field="type" { (type_words(d)) }
                                    td data-field="counts" {
                                        @match d {
                                            MetricDefinition::Ratio { numerator, denominator } => {
                                                (metric_link(numerator.as_str())) " ÷ " (metric_link(denominator.as_str()))
                                            }
                                            _ => { @if let Some(e) = d.event() { "event " code { (e) } } }
                                        }
                                    }
                                    td data-field="window" { @match s.window { Some(w) => { (w) } None => span.muted { "until stopped" } } }
                                    td data-field="direction" { (direction_words(s.direction)) }
                                    td data-field="cap" {
                                        @match cap_words(d) { c if c.is_empty() => span.muted { "—" }, c => { (c) } }
                                    }
                                    td data-field="retention" {
                                        @match d {
                                            MetricDefinition::Retention { from, to, .. } => { (from) " to " (to) " after assignment" }
                                            _ => span.muted { "—" },
                                        }
                                    }
                                    td.num data-field="version" { (m.version) }
                                    td data-field="used-by" {
                                        (uses_cell(view.uses.get(s.key.as_str()).unwrap_or(&none), &ratios_using(view.metrics, s.key.as_str())))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

const TYPES: &[(&str, &str)] = &[
    (
        "conversion",
        "Conversion: the share of users who sent the event",
    ),
    (
        "mean",
        "Mean: per user, the sum of the event's values or their number",
    ),
    (
        "ratio",
        "Ratio: one metric's total over another's (average order value)",
    ),
    (
        "retention",
        "Retention: the share of users who sent the event in a time after assignment",
    ),
];

const DIRECTIONS: &[(&str, &str)] = &[
    ("increase", "Higher is better (increase)"),
    ("decrease", "Lower is better (decrease): uninstalls, errors"),
];

const MEAN_OF: &[(&str, &str)] = &[
    ("value", "The sum of the events' values (revenue)"),
    ("count", "The number of events (orders)"),
];

const CAP_KINDS: &[(&str, &str)] = &[
    ("", "No cap"),
    ("value", "A value: each user's total counts at most this"),
    (
        "percentile",
        "A percentile of all users' totals (winsorized)",
    ),
];

/// Readable names for the error summary.
fn field_label(field: &str) -> String {
    match field {
        "key" => "Key",
        "name" => "Name",
        "description" => "Description",
        "type" => "Type",
        "event" => "Event",
        "of" => "What is added up",
        "cap_kind" => "Cap",
        "cap" => "Cap",
        "numerator" => "Numerator",
        "denominator" => "Denominator",
        "from" => "Retention from",
        "to" => "Retention to",
        "window" => "Window",
        "direction" => "Direction",
        "form" => "Form",
        other => other,
    }
    .to_string()
}

/// Fields that belong to some types only: shown while one of `types` is chosen (the script
/// hides them otherwise; without it they show, their label saying whose they are).
fn only_for(types: &str, content: Markup) -> Markup {
    html! { div data-when={ "type:" (types) } { (content) } }
}

pub fn form_page(view: &MetricFormView) -> Markup {
    let (form, errors) = (view.form, view.errors);
    let title = match view.metric {
        Some(m) => format!("Metric {}", m.spec.name),
        None => "New metric".to_string(),
    };
    let action = match view.metric {
        Some(m) => metric_path(m.spec.key.as_str()),
        None => "/dashboard/metrics".to_string(),
    };
    let mut parts: Vec<(&str, String)> = vec![("", "— choose a metric —".into())];
    parts.extend(
        view.library
            .iter()
            .filter(|m| m.spec.definition.metric_type() != MetricType::Ratio)
            .filter(|m| view.metric.is_none_or(|own| own.id != m.id))
            .map(|m| {
                (
                    m.spec.key.as_str(),
                    format!("{} ({})", m.spec.name, m.spec.key),
                )
            }),
    );
    let parts: Vec<(&str, &str)> = parts.iter().map(|(k, l)| (*k, l.as_str())).collect();
    // No `pattern`: the server's refusal says what a duration looks like, beside the field.
    let duration = |placeholder| InputOptions {
        placeholder: Some(placeholder),
        ..InputOptions::default()
    };
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Metrics),
        html! {
            (breadcrumb(&[("/dashboard/metrics", "Metrics")]))
            h1 { (title) }
            (error_summary(errors, "The metric was not saved", field_label, str::to_string))
            @if let Some(m) = errors.get("form") { (notice(Tone::Bad, html! { (m) })) }
            @if view.metric.is_some() && !view.uses.is_empty() {
                (notice(Tone::Info, html! {
                    "Used by " (uses_cell(view.uses, &[])) ". Saving a change recomputes it in each of them from the raw events."
                }))
            }
            form.metric-form method="post" action=(action) {
                (csrf_input(view.csrf))
                fieldset.group {
                    legend { "About" }
                    @if let Some(m) = view.metric {
                        p { "Key: " code { (m.spec.key) } " (fixed) · version " (m.version) }
                    } @else {
                        (text_field(&f(errors, "key", "Key", Some("How experiments refer to it: 1 to 64 lowercase letters, digits, - _ or .")),
                            &form.key, InputOptions { required: true, placeholder: Some("purchase-rate"), ..InputOptions::default() }))
                    }
                    (text_field(&f(errors, "name", "Name", None), &form.name,
                        InputOptions { required: true, placeholder: Some("Purchase rate"), ..InputOptions::default() }))
                    (textarea_field(&f(errors, "description", "Description (optional)", None), &form.description, 2, false))
                }
                fieldset.group {
                    legend { "What it measures" }
                    (select_field(&f(errors, "type", "Type", Some("Each type has fields of its own below.")), &form.metric_type, TYPES))
                    (only_for("conversion mean retention", text_field(&f(errors, "event", "Event (conversion, mean and retention)",
                        Some("The event name the apps track.")), &form.event, InputOptions { placeholder: Some("purchase"), ..InputOptions::default() })))
                    (only_for("mean", html! {
                        (select_field(&f(errors, "of", "What is added up per user (mean only)", None), &form.of, MEAN_OF))
                        (select_field(&f(errors, "cap_kind", "Cap (mean only, optional)", Some("So that one very large user cannot decide a test.")), &form.cap_kind, CAP_KINDS))
                        (text_field(&f(errors, "cap", "Cap value, or percentile in percent (mean only)", Some("For a percentile, type 99 for the 99th.")),
                            &form.cap, InputOptions { inputmode: Some("decimal"), placeholder: Some("99"), ..InputOptions::default() }))
                    }))
                    (only_for("ratio", html! {
                        (select_field(&f(errors, "numerator", "Numerator (ratio only)", Some("A conversion, mean or retention metric: revenue for average order value.")), &form.numerator, &parts))
                        (select_field(&f(errors, "denominator", "Denominator (ratio only)", Some("Orders, for average order value.")), &form.denominator, &parts))
                    }))
                    (only_for("retention", html! {
                        (text_field(&f(errors, "from", "From (retention only)", Some("How long after assignment the time to come back starts: 1d; 0s for right away.")), &form.from, duration("1d")))
                        (text_field(&f(errors, "to", "To (retention only)", Some("When it ends: 8d. A user counts only once this has passed since their assignment.")), &form.to, duration("8d")))
                    }))
                    (text_field(&f(errors, "window", "Window (optional)", Some("Only events within this long after the user's assignment count, written like 90s, 30m, 72h or 7d. Empty: until the experiment stops.")),
                        &form.window, duration("7d")))
                    (select_field(&f(errors, "direction", "Direction", None), &form.direction, DIRECTIONS))
                }
                div.form-actions {
                    button.primary type="submit" { (if view.metric.is_some() { "Save metric" } else { "Create metric" }) }
                    a href="/dashboard/metrics" { "Cancel" }
                }
            }
            @if let Some(m) = view.metric {
                p { a.button.danger href={ (metric_path(m.spec.key.as_str())) "/delete" } { "Delete this metric…" } }
            }
        },
    )
}

fn conflict_words(conflict: &Conflict) -> Markup {
    let links = |keys: &[String], link: fn(&str) -> Markup| {
        html! { @for (i, k) in keys.iter().enumerate() { @if i > 0 { ", " } (link(k)) } }
    };
    html! {
        @match conflict {
            Conflict::MetricInUse { experiments, .. } => {
                "It cannot be deleted: experiments that are not stopped use it ("
                (links(experiments, experiment_link)) "). Take it out of them, or stop them, first."
            }
            Conflict::MetricIsPart { ratios, .. } => {
                "It cannot be deleted: it is a part of the ratio metrics "
                (links(ratios, metric_link)) ". Change or delete them first."
            }
            other => { (other.to_string()) }
        }
    }
}

pub fn delete_page(view: &MetricDeleteView) -> Markup {
    let m = view.metric;
    let title = format!("Delete metric {}", m.spec.name);
    let base = metric_path(m.spec.key.as_str());
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Metrics),
        html! {
            (breadcrumb(&[("/dashboard/metrics", "Metrics"), (&base, &m.spec.name)]))
            h1 { (title) }
            @match &view.refusal {
                Some(DeleteRefusal::Conflict(c)) => (notice(Tone::Bad, conflict_words(c))),
                Some(DeleteRefusal::Unticked) => (notice(Tone::Bad, html! { "Tick the box to confirm: deleting cannot be undone." })),
                None => {}
            }
            (notice(Tone::Warning, html! {
                strong { "This cannot be undone." } " The metric " code { (m.spec.key) }
                " leaves the library; stopped experiments that used it lose its values. "
                "It cannot be deleted while an experiment that is not stopped uses it, or while it is a part of a ratio metric."
            }))
            dl.facts {
                dt { "Used by" } dd { (uses_cell(view.uses, view.ratios)) }
            }
            form.stack method="post" action={ (base) "/delete" } {
                (csrf_input(view.csrf))
                div.field {
                    div.checkbox {
                        input type="checkbox" id="confirm" name="confirm" value="yes" required;
                        label for="confirm" { "I understand that deleting the metric " (m.spec.key) " is final." }
                    }
                }
                div.form-actions {
                    button.danger type="submit" { "Delete the metric" }
                    a href=(base) { "Cancel" }
                }
            }
        },
    )
}
