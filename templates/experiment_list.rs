//! The experiments list: what runs, how big it is, who leads.

use super::components::{kind_words, status_badge};
use super::format;
use super::layout::{Nav, Page, layout};
use crate::domain::{Experiment, GoalMetric, Status};
use crate::engine::summaries::{ExperimentSummary, Leader};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use std::collections::HashMap;

pub struct ListView<'a> {
    pub csrf: &'a str,
    /// The experiments shown (those of the filter).
    pub rows: &'a [&'a ExperimentSummary],
    pub filter: Option<Status>,
    pub counts: &'a [(Status, usize)],
    pub total: usize,
    pub now: DateTime<Utc>,
    /// The names of the guardrails each experiment fails, by experiment key (only running and
    /// paused experiments with guardrails are looked at).
    pub failing_guardrails: &'a HashMap<String, Vec<String>>,
}

/// How long the experiment has run (until it stopped, or until now).
pub fn running_time(e: &Experiment, now: DateTime<Utc>) -> Option<String> {
    let started = e.started_at?;
    let until = e.stopped_at.unwrap_or(now);
    Some(format::duration((until - started).num_seconds()))
}

fn filter_link(
    label: &str,
    status: Option<Status>,
    count: usize,
    current: Option<Status>,
) -> Markup {
    let href = match status {
        Some(s) => format!("/dashboard/experiments?status={s}"),
        None => "/dashboard/experiments".into(),
    };
    html! {
        a href=(href) aria-current=[(status == current).then_some("page")] {
            (label) " " span.count { "(" (count) ")" }
        }
    }
}

/// The variant ahead so far, with its mean of the goal metric.
fn leader(v: &Leader, metric: GoalMetric) -> Markup {
    html! {
        (v.name) @if v.name != v.key { " " span.muted { "(" (v.key) ")" } }
        br;
        span.muted {
            @match metric {
                GoalMetric::Conversion => { (format::percent(v.mean, 1)) " converted" }
                GoalMetric::Revenue => { (format::amount(v.mean)) " per user" }
            }
        }
    }
}

pub fn page(view: &ListView) -> Markup {
    let title = match view.filter {
        Some(s) => format!("Experiments: {s}"),
        None => "Experiments".to_string(),
    };
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Experiments),
        html! {
            div.page-head {
                h1 { "Experiments" }
                a.button.primary href="/dashboard/new" { "New experiment" }
            }
            nav.filters aria-label="Filter by status" {
                (filter_link("All", None, view.total, view.filter))
                @for (status, count) in view.counts {
                    (filter_link(status.as_str(), Some(*status), *count, view.filter))
                }
            }
            @if view.rows.is_empty() {
                p.empty {
                    @if view.total == 0 {
                        "No experiments yet. " a href="/dashboard/new" { "Create the first one" } "."
                    } @else {
                        "No experiment has this status."
                    }
                }
            } @else {
                div.table-scroll {
                    table.list {
                        caption.visually-hidden { (title) }
                        thead {
                            tr {
                                th scope="col" { "Experiment" }
                                th scope="col" { "Dimension" }
                                th scope="col" { "Kind" }
                                th scope="col" { "Status" }
                                th scope="col" class="num" { "Users" }
                                th scope="col" { "Leading variant" }
                                th scope="col" { "Running for" }
                            }
                        }
                        tbody {
                            @for row in view.rows {
                                @let e = &row.experiment;
                                @let key = e.spec.key.as_str();
                                tr id={ "experiment-" (key) } {
                                    th scope="row" {
                                        a href={ "/dashboard/experiments/" (key) } { (e.spec.name) }
                                        br;
                                        code.muted { (key) }
                                        // Words, not colour: what else decides who gets what.
                                        @if !e.spec.pinned_rules.is_empty() {
                                            " " span.tag title="Users of some segments always get a fixed variant" { "pinned" }
                                        }
                                        @if let Some(layer) = &e.spec.layer {
                                            " " span.tag title="Shares its users with no other experiment of this layer" { "layer " (layer.key) }
                                        }
                                        @if let Some(failing) = view.failing_guardrails.get(key) {
                                            " " span.badge.guardrail-failing.guardrail-flag title={ "Failing: " (failing.join(", ")) } {
                                                span aria-hidden="true" { "✕ " } "guardrail failing"
                                                span.visually-hidden { ": " (failing.join(", ")) }
                                            }
                                        }
                                    }
                                    td { (e.spec.dimension.as_str()) }
                                    td { (kind_words(&e.spec)) }
                                    td { (status_badge(e.status)) }
                                    td.num data-users=[row.users] {
                                        @match row.users {
                                            Some(users) => (format::thousands(users)),
                                            None => (format::NONE),
                                        }
                                    }
                                    td {
                                        @match &row.leader {
                                            Some(v) => (leader(v, e.spec.goal.metric)),
                                            None => (format::NONE),
                                        }
                                    }
                                    td { (running_time(e, view.now).unwrap_or_else(|| format::NONE.into())) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
