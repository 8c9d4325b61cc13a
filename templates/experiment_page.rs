//! One experiment: the verdict in words, the numbers per variant, charts, warnings, the
//! definition (payloads, targeting, goal), the lifecycle buttons and the export links.

use super::charts::{self, Column, Density, DensityCurve};
use super::components::{
    Tone, csrf_input, kind_words, marked, notice, op_words, status_badge, swatch,
};
use super::experiment_list::running_time;
use super::format;
use super::layout::{Nav, Page, breadcrumb, layout};
use crate::domain::{
    Analysis, Condition, Experiment, GoalMetric, Kind, Op, PolicyKind, Rule, Status,
};
use crate::engine::guardrails::Firing;
use crate::engine::results::{ExperimentResults, Outcome, SeriesPoint, VariantResults};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use std::collections::HashMap;

/// How often the page may be asked to reload itself, in seconds.
pub const REFRESH_CHOICES: &[u32] = &[10, 30, 60, 300];

pub struct ExperimentView<'a> {
    pub csrf: &'a str,
    pub experiment: &'a Experiment,
    pub results: &'a ExperimentResults,
    pub series: &'a [SeriesPoint],
    /// Reload every so many seconds (only when the user asked).
    pub refresh: Option<u32>,
    /// What the last action did (`created`, `saved`, `started`, `paused`, `stopped`).
    pub done: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// Segment names by key, to show the segments targeting and pinned rules use.
    pub segment_names: &'a HashMap<String, String>,
    /// Off-policy estimates, when computed (they scan raw rows).
    pub ope: Option<&'a crate::engine::ope::OpeReport>,
    /// Metric names by key, to name the metrics the experiment declares.
    pub metric_names: &'a HashMap<String, String>,
    /// The guardrails that fired, oldest first.
    pub firings: &'a [Firing],
}

fn path(e: &Experiment) -> String {
    format!("/dashboard/experiments/{}", e.spec.key)
}

fn is_revenue(r: &ExperimentResults) -> bool {
    r.metric == GoalMetric::Revenue
}

/// The goal metric's mean for a variant: conversion rate, or value per user.
fn metric_mean(r: &ExperimentResults, v: &VariantResults) -> Option<f64> {
    if is_revenue(r) {
        v.value_per_user
            .map(|i| i.mean)
            .or_else(|| (v.users > 0).then(|| v.value_sum / v.users as f64))
    } else {
        Some(v.rate.mean)
    }
}

fn control_of(r: &ExperimentResults) -> Option<&VariantResults> {
    r.variants.iter().find(|v| v.key == r.control)
}

/// Expected loss in the metric's units: percentage points of rate, or value per user.
fn loss_text(r: &ExperimentResults, loss: Option<f64>) -> String {
    let Some(loss) = loss else {
        return "—".to_string();
    };
    if is_revenue(r) {
        format!("{} per user", format::amount(loss))
    } else {
        format::points(loss)
    }
}

/// The loss below which shipping a variant is considered cheap (the stated threshold).
fn loss_threshold(r: &ExperimentResults) -> Option<f64> {
    control_of(r)
        .and_then(|c| metric_mean(r, c))
        .map(|m| m * r.thresholds.expected_loss_relative)
}

fn display_name(v: &VariantResults) -> String {
    v.name.clone()
}

/// The verdict as a person would say it.
pub fn verdict(e: &Experiment, r: &ExperimentResults) -> (Tone, Markup) {
    let name_of = |key: &str| {
        r.variants
            .iter()
            .find(|v| v.key == key)
            .map_or_else(|| key.to_string(), display_name)
    };
    if e.status == Status::Stopped {
        let when = e.stopped_at.map(format::utc).unwrap_or_default();
        return match &e.winner {
            Some(w) => (
                Tone::Good,
                html! { "Stopped " (when) ". Winner: " strong { (name_of(w.as_str())) } " — every user now gets it." },
            ),
            None => (
                Tone::Info,
                html! { "Stopped " (when) " without a winner: nobody gets a variant of it any more." },
            ),
        };
    }
    if e.status == Status::Draft {
        return (
            Tone::Info,
            html! { "Draft: not started yet. Start it to enrol users." },
        );
    }
    let leader = r.variants.iter().find(|v| v.key == r.decision.leader);
    match (r.decision.outcome, leader) {
        (Outcome::NotEnoughData, _) | (_, None) => (
            Tone::Info,
            html! {
                "Not enough data yet: " strong { (format::thousands(r.decision.users_needed_per_arm as i64)) " more users per arm" }
                " (every variant needs " (format::thousands(r.thresholds.min_users_per_arm as i64)) " before a verdict)."
            },
        ),
        (Outcome::Winner, Some(l)) if l.key == r.control => (
            Tone::Good,
            html! {
                strong { (display_name(l)) } " (the control) is best with "
                strong { (format::probability(l.probability_best)) } " probability; expected loss of keeping it "
                (loss_text(r, l.expected_loss)) ". None of the variants beats it."
            },
        ),
        (Outcome::Winner, Some(l)) => (
            Tone::Good,
            html! {
                strong { (display_name(l)) } " beats control with "
                strong { (format::optional_probability(l.chance_to_beat_control)) } " probability; expected loss of shipping it "
                (loss_text(r, l.expected_loss)) "."
                @if r.variants.len() > 2 {
                    " It is the best of all variants with " (format::probability(l.probability_best)) " probability."
                }
            },
        ),
        (Outcome::KeepRunning, Some(l)) => (
            Tone::Info,
            html! {
                "No winner yet: " strong { (display_name(l)) } " leads with "
                (format::probability(l.probability_best)) " probability of being best (a winner needs "
                (format::probability(r.thresholds.probability_best)) " and a small expected loss). Keep it running."
            },
        ),
    }
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "Experiment created. Check the definition below, then start it.",
        "saved" => "Changes saved.",
        "started" => "Experiment running: new users are being enrolled.",
        "paused" => "Experiment paused: enrolled users keep their variant, nobody new is enrolled.",
        "stopped" => "Experiment stopped.",
        _ => return None,
    })
}

fn warnings(e: &Experiment, r: &ExperimentResults) -> Markup {
    let users: i64 = r.variants.iter().map(|v| v.users).sum();
    html! {
        @if r.sample_ratio_mismatch {
            (notice(Tone::Bad, html! {
                strong { "Sample ratio mismatch" }
                @if let Some(p) = r.srm_p_value { " (p " (if p < 0.001 { "< 0.001".to_string() } else { format!("= {p:.3}") }) ")" }
                ": the variants did not get the share of users the allocation intended. Something may be wrong with \
                 assignment or tracking; don't trust these results until it is explained."
            }))
        }
        @if matches!(e.status, Status::Running | Status::Paused) && r.decision.outcome == Outcome::NotEnoughData {
            (notice(Tone::Warning, html! {
                strong { "Too little data" } ": " (format::thousands(users)) " users so far. Probabilities this early move a lot; "
                "no verdict before every variant has " (format::thousands(r.thresholds.min_users_per_arm as i64)) " users."
            }))
        }
        @if e.status == Status::Stopped {
            @match &r.winner {
                Some(w) => (notice(Tone::Info, html! {
                    "This experiment is stopped and its winner, "
                    strong { (r.variants.iter().find(|v| &v.key == w).map_or(w.as_str(), |v| v.name.as_str())) }
                    ", is served to every user. "
                    "The numbers below are final."
                })),
                None => (notice(Tone::Info, html! { "This experiment is stopped without a winner. The numbers below are final." })),
            }
        }
        @for note in &r.notes {
            (notice(Tone::Info, html! { (note) }))
        }
    }
}

fn actions(view: &ExperimentView) -> Markup {
    let e = view.experiment;
    let base = path(e);
    html! {
        div.actions {
            @if e.status != Status::Stopped {
                a.button href={ (base) "/edit" } { "Edit" }
            }
            @match e.status {
                Status::Draft => {
                    form.inline method="post" action={ (base) "/start" } {
                        (csrf_input(view.csrf))
                        button.primary type="submit" { "Start" }
                    }
                }
                Status::Running => {
                    form.inline method="post" action={ (base) "/pause" } {
                        (csrf_input(view.csrf))
                        button type="submit" { "Pause" }
                    }
                    a.button.danger href={ (base) "/stop" } { "Stop…" }
                }
                Status::Paused => {
                    form.inline method="post" action={ (base) "/start" } {
                        (csrf_input(view.csrf))
                        button.primary type="submit" { "Resume" }
                    }
                    a.button.danger href={ (base) "/stop" } { "Stop…" }
                }
                Status::Stopped => {
                    a.button href={ (base) "/metrics" } { "Edit metrics" }
                }
            }
        }
    }
}

fn refresh_control(view: &ExperimentView) -> Markup {
    let base = path(view.experiment);
    html! {
        p.refresh {
            @match view.refresh {
                Some(s) => {
                    "This page reloads every " (s) " s. "
                    a href=(base) { "Stop reloading" }
                }
                None => {
                    "Reload automatically: "
                    @for (i, s) in REFRESH_CHOICES.iter().enumerate() {
                        @if i > 0 { " · " }
                        a href={ (base) "?refresh=" (s) } { "every " (if *s >= 60 { format!("{} min", s / 60) } else { format!("{s} s") }) }
                    }
                }
            }
        }
    }
}

fn interval_text(low: f64, high: f64, revenue: bool) -> String {
    if revenue {
        format!("{} – {}", format::amount(low), format::amount(high))
    } else {
        format!("{} – {}", format::percent(low, 2), format::percent(high, 2))
    }
}

fn results_table(view: &ExperimentView) -> Markup {
    let (e, r) = (view.experiment, view.results);
    let t = &r.thresholds;
    let revenue = is_revenue(r);
    let extent = r
        .variants
        .iter()
        .filter_map(|v| v.lift)
        .flat_map(|l| [l.low.abs(), l.high.abs()])
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let loss_limit = loss_threshold(r);
    let can_declare = matches!(e.status, Status::Running | Status::Paused);
    let live = e.status != Status::Stopped;
    html! {
        div.table-scroll {
            table.results {
                caption { "Results per variant (" (if revenue { "revenue" } else { "conversion" }) " goal: "
                    code { (e.spec.goal.event) } ")" }
                thead {
                    tr {
                        th scope="col" { "Variant" }
                        th scope="col" class="num" { "Traffic share" }
                        th scope="col" class="num" { "Users" }
                        th scope="col" class="num" { "Conversions" }
                        th scope="col" class="num" { "Conversion rate" br; span.muted { "95% interval" } }
                        @if revenue { th scope="col" class="num" { "Value per user" br; span.muted { "95% interval" } } }
                        th scope="col" { "Lift over control" br; span.muted { "95% interval" } }
                        th scope="col" class="num" { "Chance to beat control" }
                        th scope="col" class="num" { "Probability best" }
                        th scope="col" class="num" { "Expected loss" }
                        th scope="col" class="num" { "p-value" }
                        @if can_declare { th scope="col" { span.visually-hidden { "Action" } } }
                    }
                }
                tbody {
                    @for (i, v) in r.variants.iter().enumerate() {
                        @let is_control = v.key == r.control;
                        @let is_winner = r.winner.as_deref() == Some(v.key.as_str());
                        tr id={ "variant-" (v.key) } .control[is_control] .winner[is_winner] .dropped[v.dropped_at.is_some()] {
                            th scope="row" {
                                (swatch(i)) " " (v.name)
                                // The key and the tags on a line of their own keep the column narrow.
                                @if v.name != v.key || is_control || is_winner || v.dropped_at.is_some() {
                                    br;
                                    @if v.name != v.key { code.muted { (v.key) } " " }
                                    @if is_control { span.tag { "control" } " " }
                                    @if is_winner { span.tag.tag-winner { "winner" } " " }
                                    // Why, with the numbers, is in the list of guardrails that fired.
                                    @if let Some(at) = v.dropped_at {
                                        a.tag.tag-dropped href="#guardrail-firings" title={ "Dropped by a guardrail on " (format::utc(at)) ": no new users; enrolled users keep it" } { "dropped" }
                                    }
                                }
                            }
                            td.num data-field="weight" { (if live { format::percent(v.weight, 1) } else { format::NONE.into() }) }
                            td.num data-field="users" { (format::thousands(v.users)) }
                            td.num data-field="conversions" { (format::thousands(v.conversions)) }
                            td.num data-field="rate" {
                                (format::percent(v.rate.mean, 2)) br;
                                span.muted { (interval_text(v.rate.low, v.rate.high, false)) }
                            }
                            @if revenue {
                                td.num data-field="value_per_user" {
                                    @match v.value_per_user {
                                        Some(iv) => { (format::amount(iv.mean)) br; span.muted { (interval_text(iv.low, iv.high, true)) } }
                                        None => (format::NONE),
                                    }
                                }
                            }
                            td data-field="lift" {
                                @match v.lift {
                                    Some(l) => {
                                        @let label = format!("Lift {} (95% interval {} to {})", format::signed_percent(l.mean), format::signed_percent(l.low), format::signed_percent(l.high));
                                        div.lift {
                                            (charts::lift_bar(l.low, l.mean, l.high, extent, &label))
                                            span {
                                                (marked(format::signed_percent(l.mean),
                                                    if l.low > 0.0 { Some(true) } else if l.high < 0.0 { Some(false) } else { None },
                                                    "interval above zero", "interval below zero"))
                                                br;
                                                span.muted { (format::signed_percent(l.low)) " to " (format::signed_percent(l.high)) }
                                            }
                                        }
                                    }
                                    None => span.muted { @if is_control { "baseline" } @else { (format::NONE) } },
                                }
                            }
                            td.num data-field="chance_to_beat_control" {
                                (marked(format::optional_probability(v.chance_to_beat_control),
                                    v.chance_to_beat_control.and_then(|p| {
                                        if p >= t.probability_best { Some(true) } else if p <= 1.0 - t.probability_best { Some(false) } else { None }
                                    }),
                                    "above the threshold", "below the threshold"))
                            }
                            td.num data-field="probability_best" {
                                (marked(format::probability(v.probability_best),
                                    (v.probability_best >= t.probability_best).then_some(true),
                                    "above the threshold", ""))
                            }
                            td.num data-field="expected_loss" {
                                (marked(loss_text(r, v.expected_loss),
                                    loss_limit.and_then(|limit| (v.users > 0 && v.expected_loss.is_some_and(|l| l <= limit)).then_some(true)),
                                    "below the threshold", ""))
                            }
                            td.num data-field="p_value" {
                                (marked(format::p_value(v.p_value),
                                    v.p_value.and_then(|p| (p < t.p_value).then_some(true)),
                                    "significant", ""))
                            }
                            @if can_declare {
                                td {
                                    a.button.small href={ (path(e)) "/stop?winner=" (v.key) } {
                                        "Declare winner" span.visually-hidden { ": " (v.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn thresholds(r: &ExperimentResults) -> Markup {
    let t = &r.thresholds;
    let limit = loss_threshold(r);
    html! {
        details.thresholds open {
            summary { "How to read this: the thresholds" }
            ul {
                li { "Intervals are " (format::percent(t.interval_level, 0)) " credible intervals: the value lies inside with that probability, given the data." }
                li { "A variant is declared the winner when its probability of being best reaches "
                    strong { (format::probability(t.probability_best)) }
                    " and its expected loss is below " strong { (format::percent(t.expected_loss_relative, 0)) } " of the control's "
                    (if is_revenue(r) { "value per user" } else { "rate" })
                    @if let Some(l) = limit { " (here " (loss_text(r, Some(l))) ")" }
                    ", and only once every variant has " strong { (format::thousands(t.min_users_per_arm as i64)) " users" } "." }
                li { "Marked " span.crosses.good { "✓ in green" } " when a number crosses its threshold; chance to beat control at or below "
                    (format::probability(1.0 - t.probability_best)) " is marked " span.crosses.bad { "✕ in red" } "." }
                li { "Expected loss: what shipping the variant would cost, on average, if it is not the best"
                    (if is_revenue(r) { " (in value per user)." } else { " (in percentage points of conversion rate)." }) }
                li { "p-values (two-sided, against control) below " (format!("{}", t.p_value)) " are marked as significant." }
                li { "A sample ratio mismatch is flagged when its p-value is below " (format!("{}", t.srm_p_value)) "." }
            }
        }
    }
}

fn legend(labels: &[String]) -> Markup {
    html! {
        ul.legend {
            @for (i, l) in labels.iter().enumerate() {
                li { (swatch(i)) " " (l) }
            }
        }
    }
}

fn charts_section(view: &ExperimentView) -> Markup {
    let (e, r) = (view.experiment, view.results);
    let revenue = is_revenue(r);
    let labels: Vec<String> = r.variants.iter().map(|v| v.name.clone()).collect();
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();

    let curves: Vec<DensityCurve> = r
        .variants
        .iter()
        .filter_map(|v| {
            let density = if revenue {
                let iv = v.value_per_user?;
                let sd = (iv.high - iv.low) / (2.0 * 1.959_964);
                (sd > 0.0).then_some((Density::Normal { mean: iv.mean, sd }, iv.low, iv.high))?
            } else {
                let (n, c) = (v.users.max(0) as f64, v.conversions.max(0) as f64);
                (
                    Density::Beta {
                        alpha: 1.0 + c,
                        beta: 1.0 + (n - c).max(0.0),
                    },
                    v.rate.low,
                    v.rate.high,
                )
            };
            Some(DensityCurve {
                label: &v.name,
                density: density.0,
                low: density.1,
                high: density.2,
            })
        })
        .collect();

    // The series, per period and variant (variants in the experiment's order).
    let index_of = |key: &str| r.variants.iter().position(|v| v.key == key);
    let mut periods: Vec<(DateTime<Utc>, Vec<&SeriesPoint>)> = Vec::new();
    for p in view.series {
        match periods.last_mut() {
            Some((start, points)) if *start == p.period_start => points.push(p),
            _ => periods.push((p.period_start, vec![p])),
        }
    }
    let n = r.variants.len();
    let allocation: Vec<Column> = periods
        .iter()
        .filter_map(|(start, points)| {
            let mut values = vec![0.0; n];
            let mut users = 0.0;
            for p in points {
                if let Some(i) = index_of(&p.variant) {
                    values[i] = p.weight;
                    users += p.users as f64;
                }
            }
            let total: f64 = values.iter().sum();
            (total > 0.0).then(|| Column {
                start: *start,
                values: values.iter().map(|v| v / total).collect(),
                weight: users,
            })
        })
        .collect();
    let finals: Vec<i64> = r.variants.iter().map(|v| v.users).collect();
    let mut lines: Vec<Vec<(DateTime<Utc>, f64)>> = vec![Vec::new(); n];
    let mut sums = vec![(0i64, 0i64, 0.0f64); n];
    for (start, points) in &periods {
        for p in points {
            if let Some(i) = index_of(&p.variant) {
                sums[i].0 += p.users;
                sums[i].1 += p.conversions;
                sums[i].2 += p.value_sum;
            }
        }
        let end = *start + chrono::Duration::hours(1);
        for i in 0..n {
            let (users, conversions, value) = sums[i];
            // The first few users make a cumulative rate jump about: start once 5% are in.
            if users > 0 && users * 20 >= finals[i] {
                let y = if revenue {
                    value / users as f64
                } else {
                    conversions as f64 / users as f64
                };
                lines[i].push((end, y));
            }
        }
    }
    let has_series = lines.iter().any(|l| !l.is_empty());
    html! {
        section aria-labelledby="charts-heading" {
            h2 #charts-heading { "Charts" }
            (legend(&labels))
            div.charts {
                figure {
                    @if curves.is_empty() {
                        (charts::empty_chart("No distribution to draw yet."))
                    } @else {
                        (charts::posterior_densities("density", &curves, !revenue))
                    }
                    figcaption { "What each variant's " (if revenue { "value per user" } else { "conversion rate" })
                        " may be, given the data: the taller and narrower a curve, the surer. Overlapping curves cannot be told apart yet." }
                }
                @if e.spec.policy == PolicyKind::Bandit {
                    figure {
                        @if allocation.is_empty() {
                            (charts::empty_chart("No users yet: the allocation over time appears once users are enrolled."))
                        } @else {
                            (charts::allocation_over_time("allocation", &label_refs, &allocation))
                        }
                        figcaption { "The share of new users the bandit gave each variant, hour by hour. It moves traffic toward what works, keeping every variant at least its floor of " (format::percent(e.spec.floor, 1)) "." }
                    }
                }
                figure {
                    @if has_series {
                        (charts::cumulative_over_time("cumulative", &label_refs, periods.first().map(|p| p.0), &lines, !revenue))
                    } @else {
                        (charts::empty_chart("No users yet: the rate over time appears once users are enrolled."))
                    }
                    figcaption { "Each variant's " (if revenue { "value per user" } else { "conversion rate" })
                        " over all its users so far, hour by hour (a line starts once a variant has 5% of its users)." }
                }
            }
        }
    }
}

/// A targeting rule in words: `platform is one of ios, android`.
pub fn rule_text(c: &Condition) -> String {
    let words = op_words(c.op);
    let value = match &c.value {
        None => String::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match (c.op, &c.value) {
        (Op::Exists, Some(serde_json::Value::Bool(false))) => {
            format!("{} is missing", c.attribute)
        }
        (Op::Exists, _) => format!("{} exists", c.attribute),
        _ => format!("{} {words} {value}", c.attribute),
    }
}

/// A segment as “Name” (key), or its key when it is gone.
fn segment_label(key: &str, names: &HashMap<String, String>) -> Markup {
    html! {
        @if let Some(name) = names.get(key) {
            a href={ "/dashboard/segments/" (key) } { "“" (name) "”" } " " code.muted { (key) }
        } @else {
            code { (key) } " (no such segment)"
        }
    }
}

/// A targeting rule in words, groups as nested lists.
fn rule_words(rule: &Rule, names: &HashMap<String, String>) -> Markup {
    html! {
        @match rule {
            Rule::Condition(c) => { (rule_text(c)) }
            Rule::Behavior(b) => { (b.to_string()) }
            Rule::Segment(key) => { "in the segment " (segment_label(key.as_str(), names)) }
            Rule::All(rules) => { "all of:" ul.plain { @for r in rules { li { (rule_words(r, names)) } } } }
            Rule::Any(rules) => { "any of:" ul.plain { @for r in rules { li { (rule_words(r, names)) } } } }
        }
    }
}

/// A library metric, linked to its page: its name (when the library has it) and key.
fn metric_label(key: &str, names: &HashMap<String, String>) -> Markup {
    html! {
        a href={ "/dashboard/metrics/" (key) } {
            @match names.get(key) { Some(n) => { (n) } None => { (key) } }
        }
        " " code.muted { (key) }
    }
}

/// The goal, guardrails (with their thresholds) and secondary metrics the experiment declares.
fn declared_metrics(e: &Experiment, metric_names: &HashMap<String, String>) -> Markup {
    let spec = &e.spec;
    let m = &spec.metrics;
    html! {
        dt { "Goal" } dd #goal-metric {
            @match &m.goal {
                Some(key) => { (metric_label(key.as_str(), metric_names)) " (from the metric library)" }
                None => {
                    "users who send the event " code { (spec.goal.event) } " ("
                    (if spec.goal.metric == GoalMetric::Revenue { "revenue: the sum of its values per user" } else { "conversion: counted once per user" }) ")"
                }
            }
        }
        @if !m.guardrails.is_empty() {
            dt { "Guardrails" } dd #guardrail-metrics {
                ul.plain {
                    @for g in &m.guardrails {
                        li { (metric_label(g.metric.as_str(), metric_names)) ": "
                            @if g.threshold > 0.0 { "a harm beyond " (format::short_percent(g.threshold)) " matters" } @else { "any harm matters" } }
                    }
                }
            }
        }
        @if !m.secondary.is_empty() {
            dt { "Secondary metrics" } dd #secondary-metrics {
                ul.plain { @for k in &m.secondary { li { (metric_label(k.as_str(), metric_names)) } } }
            }
        }
    }
}

fn definition(
    e: &Experiment,
    names: &HashMap<String, String>,
    metric_names: &HashMap<String, String>,
) -> Markup {
    let spec = &e.spec;
    html! {
        section aria-labelledby="definition-heading" {
            h2 #definition-heading { "Definition" }
            @if !spec.description.is_empty() { p.description { (spec.description) } }
            dl.facts {
                (declared_metrics(e, metric_names))
                dt { "Dimension" } dd { (spec.dimension.as_str()) }
                dt { "Kind" } dd {
                    @match (spec.kind, spec.policy) {
                        (Kind::Ab, _) => "A/B test with fixed weights",
                        (Kind::Factorial, PolicyKind::Ab) => "factorial: each factor's levels equally likely, each factor hashed on its own",
                        (Kind::Factorial, PolicyKind::Bandit) => { "factorial bandit (Thompson sampling over the combinations with a model shared across them), floor " (format::percent(spec.floor, 1)) " per combination" },
                        (Kind::Bandit, _) => { "bandit (Thompson sampling), floor " (format::percent(spec.floor, 1)) " per variant" },
                    }
                }
                dt { "Targeting" } dd {
                    @if spec.targeting.is_empty() { "everyone" } @else {
                        ul.plain { @for r in spec.targeting.rules() { li { (rule_words(r, names)) } } }
                    }
                }
                @if !spec.pinned_rules.is_empty() {
                    dt { "Pinned rules" } dd {
                        p.hint { "Checked in order before the experiment; the users they pin are not part of its results." }
                        ol { @for r in &spec.pinned_rules { li { "users in " (segment_label(r.segment.as_str(), names)) " always get " code { (r.variant) } } } }
                    }
                }
                @if let Some(l) = &spec.layer {
                    dt { "Layer" } dd { code { (l.key) } ": users hashed into [" (l.from) ", " (l.to) ") of the layer; other experiments of the layer never share them" }
                }
                dt { "Traffic" } dd { (format::percent(spec.traffic, 1)) " of matching users are enrolled" }
                @if !spec.context.is_empty() { dt { "Context" } dd { code { (spec.context.join(", ")) } } }
                dt { "Minimum data" } dd { (format::thousands(spec.min_users_per_arm as i64)) " users per variant before a verdict" }
                dt { "Verdict by" } dd { (match spec.analysis {
                    Analysis::Bayesian => "the Bayesian rule (probability best and expected loss)",
                    Analysis::Sequential => "sequential analysis (confidence sequences valid at every look)",
                }) }
                dt { "Minimum runtime" } dd {
                    @if spec.min_runtime.seconds() == 0 { "none" } @else { (spec.min_runtime) " before a “ship” verdict" }
                }
                dt { "Smallest lift that matters" } dd { (format::percent(spec.minimum_effect, 1)) " (smaller effects count as no difference)" }
                dt { "Created" } dd { (format::utc(e.created_at)) }
                @if let Some(t) = e.started_at { dt { "Started" } dd { (format::utc(t)) } }
                @if let Some(t) = e.stopped_at { dt { "Stopped" } dd { (format::utc(t)) } }
            }
            h3 { "Variants and their payloads" }
            div.table-scroll {
                table.payloads {
                    thead { tr {
                        th scope="col" { "Variant" }
                        @if spec.kind == Kind::Ab { th scope="col" class="num" { "Weight" } }
                        th scope="col" { "Payload (JSON sent to the app)" }
                    } }
                    tbody {
                        @for (i, v) in spec.variants.iter().enumerate() {
                            tr {
                                th scope="row" { (swatch(i)) " " (v.name) @if v.name != v.key.as_str() { " " code.muted { (v.key) } }
                                    @if v.key == spec.control { " " span.tag { "control" } } }
                                @if spec.kind == Kind::Ab { td.num { (format::percent(v.weight, 1)) } }
                                td { pre { code { (serde_json::to_string_pretty(&v.payload).unwrap_or_default()) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn exports(e: &Experiment) -> Markup {
    let base = format!("/api/v1/experiments/{}/export", e.spec.key);
    html! {
        section aria-labelledby="export-heading" {
            h2 #export-heading { "Export" }
            div.table-scroll.fit { table.exports {
                thead { tr { th scope="col" { "Data" } th scope="col" { "CSV" } th scope="col" { "JSON lines" } } }
                tbody {
                    @for (data, label) in [("results", "Results per variant"), ("assignments", "Assignments (one row per user)"), ("events", "Events"), ("over_time", "Metrics over time (per day and variant)")] {
                        tr {
                            th scope="row" { (label) }
                            td { a href={ (base) "?data=" (data) "&format=csv" } download { "CSV" span.visually-hidden { " of " (label) } } }
                            td { a href={ (base) "?data=" (data) "&format=jsonl" } download { "JSONL" span.visually-hidden { " of " (label) } } }
                        }
                    }
                }
            } }
        }
    }
}

pub fn page(view: &ExperimentView) -> Markup {
    let (e, r) = (view.experiment, view.results);
    let (tone, verdict_text) = verdict(e, r);
    layout(
        &Page {
            refresh: view.refresh,
            ..Page::signed_in(&e.spec.name, view.csrf, Nav::Experiments)
        },
        html! {
            (breadcrumb(&[("/dashboard/experiments", "Experiments")]))
            div.page-head {
                div {
                    h1 { (e.spec.name) }
                    p.subtitle {
                        code { (e.spec.key) } " " (status_badge(e.status)) " "
                        (e.spec.dimension.as_str()) " · " (kind_words(&e.spec))
                        @if let Some(t) = running_time(e, view.now) {
                            (if e.status == Status::Stopped { " · ran for " } else { " · running for " }) (t)
                        }
                    }
                }
                (actions(view))
            }
            @if let Some(m) = view.done.and_then(done_message) { (notice(Tone::Good, html! { (m) })) }
            (warnings(e, r))
            section class={ "verdict verdict-" (match tone { Tone::Good => "good", Tone::Bad => "bad", Tone::Warning => "warning", Tone::Info => "info" }) }
                aria-labelledby="verdict-heading" {
                h2 #verdict-heading { "Verdict" }
                // What to do, in one sentence with its reasons, while it runs; the outcome by
                // the chosen analysis below it.
                @if matches!(e.status, Status::Running | Status::Paused) {
                    p #verdict-summary { strong { (r.decision.summary) } }
                    ul #verdict-reasons { @for reason in &r.decision.reasons { li { (reason) } } }
                }
                p #verdict { (verdict_text) }
            }
            (results_table(view))
            (thresholds(r))
            // The grid only when the experiment declares metrics of the library: otherwise its
            // one row would repeat the table above.
            @if !view.firings.is_empty() {
                (super::metric_grid::firings(view.firings))
            }
            @if !e.spec.metrics.declared().is_empty() {
                (super::metric_grid::metric_grid(r, e.spec.metrics.goal.is_some()))
            }
            (refresh_control(view))
            p.muted { "Computed " (format::utc(r.computed_at)) "." }
            (super::factorial::section(e, r))
            (super::contextual::contexts_section(e, r))
            (charts_section(view))
            (super::over_time::section(r))
            (super::contextual::ope_section(e, &path(e), view.ope))
            (definition(e, view.segment_names, view.metric_names))
            (exports(e))
        },
    )
}
