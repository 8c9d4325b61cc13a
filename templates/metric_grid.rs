//! The experiment's metrics × variants grid: the goal first, then the guardrails with their
//! status, then the secondary metrics. Per variant: the metric's value, its lift over control
//! with the interval drawn as a bar (green when the whole interval is on the metric's good
//! side, red when on its bad side) and the chance to win in the metric's good direction.
//! Above it, the guardrail that holds back the goal's winner, if one does.

use super::charts::toned_lift_bar;
use super::components::{Tone, marked, notice, swatch};
use super::format;
use crate::domain::{Analysis, Direction, MetricRole, MetricType};
use crate::engine::guardrails::Firing;
use crate::engine::metric_results::{
    GUARDRAIL_FAILING, GUARDRAIL_WARNING, GuardrailStatus, MetricResults, MetricVariant,
};
use crate::engine::results::{ExperimentResults, GuardrailBlock};
use crate::stats::Interval;
use maud::{Markup, html};

/// The metric's value as people read it: rates as percentages, means and ratios as numbers.
pub fn value_text(metric_type: MetricType, x: f64) -> String {
    match metric_type {
        MetricType::Conversion | MetricType::Retention => format::percent(x, 2),
        MetricType::Mean | MetricType::Ratio => format::number(x),
    }
}

/// Whether a lift's interval lies entirely on the metric's good side (`Some(true)`), entirely
/// on its bad side (`Some(false)`), or straddles zero (`None`).
pub fn lift_side(direction: Direction, lift: &Interval) -> Option<bool> {
    let up = if lift.low > 0.0 {
        Some(true)
    } else if lift.high < 0.0 {
        Some(false)
    } else {
        None
    };
    match direction {
        Direction::Increase => up,
        Direction::Decrease => up.map(|u| !u),
    }
}

/// A guardrail's status as a badge, in words and a symbol.
pub fn guardrail_badge(status: GuardrailStatus) -> Markup {
    let symbol = match status {
        GuardrailStatus::Ok => "✓",
        GuardrailStatus::Warning => "⚠",
        GuardrailStatus::Failing => "✕",
    };
    html! {
        span class={ "badge guardrail-" (status.as_str()) } data-status=(status.as_str()) {
            span aria-hidden="true" { (symbol) " " } (status.as_str())
        }
    }
}

fn direction_words(direction: Direction) -> &'static str {
    match direction {
        Direction::Increase => "higher is better",
        Direction::Decrease => "lower is better",
    }
}

fn threshold_words(threshold: f64) -> String {
    if threshold > 0.0 {
        format!("a harm beyond {} matters", format::short_percent(threshold))
    } else {
        "any harm matters".into()
    }
}

fn variant_name<'a>(r: &'a ExperimentResults, key: &'a str) -> &'a str {
    r.variants
        .iter()
        .find(|v| v.key == key)
        .map_or(key, |v| v.name.as_str())
}

fn metric_name<'a>(r: &'a ExperimentResults, key: &'a str) -> &'a str {
    r.metrics
        .iter()
        .find(|m| m.key == key)
        .map_or(key, |m| m.name.as_str())
}

/// The guardrail that keeps the goal's leader from being called the winner.
fn blocked_notice(r: &ExperimentResults, b: &GuardrailBlock) -> Markup {
    html! {
        div #guardrail-block {
            (notice(Tone::Warning, html! {
                strong { "A guardrail holds back the winner" } ": "
                strong { (variant_name(r, &b.variant)) } " leads on the goal but fails the guardrail "
                strong { (metric_name(r, &b.metric)) } ": a "
                (format::probability(b.chance_of_harm)) " chance of being worse than control by more than "
                (format::short_percent(b.threshold))
                @if let Some(l) = b.lift {
                    " (lift " (format::signed_percent(l.mean)) ", "
                    (format::signed_percent(l.low)) " to " (format::signed_percent(l.high)) ")"
                }
                ". It is not called the winner while the guardrail fails."
            }))
        }
    }
}

fn row_header(m: &MetricResults, library_goal: bool) -> Markup {
    // The inline goal (an event named in the experiment) has no page in the library.
    let linked = m.role != MetricRole::Goal || library_goal;
    html! {
        th scope="row" {
            @if linked { a href={ "/dashboard/metrics/" (m.key) } { (m.name) } } @else { (m.name) }
            br;
            span.tag { (m.role.as_str()) } " "
            span.muted { (direction_words(m.direction)) }
            @if let Some(status) = m.status {
                br;
                (guardrail_badge(status)) " "
                span.muted { (threshold_words(m.threshold.unwrap_or(0.0))) }
            }
            @if m.computing {
                br;
                span.tag.computing title="Being counted from the raw events: the figures are partial" { "computing…" }
            }
            @if let Some(c) = &m.cuped {
                br;
                span.tag.cuped title={ "CUPED: lifts adjusted for each user's activity in the "
                    (c.lookback) " before assignment (" (c.users_with_pre_data) " users had some); values as observed" } {
                    "CUPED: variance −" (format!("{:.0}", 100.0 * c.variance_reduction)) "%"
                }
            }
        }
    }
}

fn cell(r: &ExperimentResults, m: &MetricResults, v: &MetricVariant, extent: f64) -> Markup {
    let t = &r.thresholds;
    let interval = format!(
        "{}% interval {} – {}, {} users",
        format::decimal(t.interval_level * 100.0, 0),
        value_text(m.metric_type, v.value.low),
        value_text(m.metric_type, v.value.high),
        format::thousands(v.users)
    );
    html! {
        td data-field=(v.key) .metric-cell {
            div.metric-value title=(interval) { (value_text(m.metric_type, v.value.mean)) }
            @match v.lift {
                None => { div.muted { "baseline" } }
                Some(l) => {
                    @let side = lift_side(m.direction, &l);
                    @let tone = match side { Some(true) => "lift-good", Some(false) => "lift-bad", None => "lift-even" };
                    @let label = format!("Lift {} ({} to {}), {}", format::signed_percent(l.mean),
                        format::signed_percent(l.low), format::signed_percent(l.high), direction_words(m.direction));
                    div.lift {
                        (toned_lift_bar(l.low, l.mean, l.high, extent, &label, tone))
                        span {
                            (marked(format::signed_percent(l.mean), side, "better", "worse"))
                            br;
                            span.muted { (format::signed_percent(l.low)) " to " (format::signed_percent(l.high)) }
                        }
                    }
                    div.chance {
                        "chance to win "
                        (marked(format::optional_probability(v.chance_to_beat_control),
                            v.chance_to_beat_control.and_then(|p| {
                                if p >= t.probability_best { Some(true) } else if p <= 1.0 - t.probability_best { Some(false) } else { None }
                            }),
                            "above the threshold", "below the threshold"))
                    }
                    @if let Some(harm) = v.chance_of_harm {
                        div.harm {
                            "chance of harm " (format::probability(harm))
                            @if let Some(s) = v.status.filter(|s| *s != GuardrailStatus::Ok) { " " (guardrail_badge(s)) }
                        }
                    }
                    @if let Some(seq) = v.sequential {
                        @let decides = r.analysis == Analysis::Sequential;
                        div.sequential title="Confidence sequence: valid however often results are read" {
                            "always valid " (format::signed_percent(seq.lift.low)) " to " (format::signed_percent(seq.lift.high))
                            @if decides { " " span.tag { "decides" } }
                        }
                    }
                    @if let Some(q) = v.p_value_adjusted {
                        div.adjusted {
                            "adjusted p "
                            (marked(format::p_value(Some(q)), (q < t.p_value).then_some(true), "significant", ""))
                        }
                    }
                }
            }
        }
    }
}

/// The guardrails that fired, with the evidence that fired them and what they did.
pub fn firings(firings: &[Firing]) -> Markup {
    html! {
        section #guardrail-firings aria-labelledby="firings-heading" {
            h2 #firings-heading { "Guardrails that fired" }
            ul {
                @for f in firings {
                    li data-metric=(f.metric) data-variant=(f.variant) {
                        strong { (f.metric) } " fired for " strong { (f.variant) } " on " (format::utc(f.fired_at)) ": lift "
                        (format::signed_percent(f.lift_mean)) ", 95% confidence sequence "
                        (format::signed_percent(f.lift_low)) " to " (format::signed_percent(f.lift_high))
                        ", beyond the threshold of " (format::short_percent(f.threshold)) " (" (format::thousands(f.users)) " users). "
                        @match f.action.as_str() {
                            "pause" => { "The experiment was paused." }
                            "drop" => { "The arm was dropped: it gets no new users; users already in it keep it." }
                            _ => { "Alert only." }
                        }
                    }
                }
            }
        }
    }
}

/// The grid, with the guardrail notice above it. `library_goal`: the goal is a metric of the
/// library (otherwise the first row is the inline goal, keyed `goal`).
pub fn metric_grid(r: &ExperimentResults, library_goal: bool) -> Markup {
    html! {
        section aria-labelledby="metrics-heading" {
            h2 #metrics-heading { "Metrics" }
            @if let Some(b) = &r.decision.blocked_by { (blocked_notice(r, b)) }
            div.table-scroll {
                table.results.metric-grid {
                    caption { "Every metric per variant: the goal, guardrails, then secondary metrics" }
                    thead {
                        tr {
                            th scope="col" { "Metric" }
                            @for (i, v) in r.variants.iter().enumerate() {
                                th scope="col" {
                                    (swatch(i)) " " (v.name)
                                    @if v.key == r.control { " " span.tag { "control" } }
                                }
                            }
                        }
                    }
                    tbody {
                        @for m in &r.metrics {
                            @let extent = m.variants.iter().filter_map(|v| v.lift)
                                .flat_map(|l| [l.low.abs(), l.high.abs()])
                                .filter(|x| x.is_finite())
                                .fold(0.0, f64::max);
                            tr id={ "metric-" (m.key) } data-role=(m.role.as_str())
                                class=[m.status.map(|s| format!("guardrail-row-{}", s.as_str()))] {
                                (row_header(m, library_goal))
                                @for v in &m.variants { (cell(r, m, v, extent)) }
                            }
                        }
                    }
                }
            }
            p.hint {
                "Bars: the lift over control with its " (format::percent(r.thresholds.interval_level, 0))
                " interval around a zero line, " span.crosses.good { "green" } " when the whole interval is on the metric's good side, "
                span.crosses.bad { "red" } " when on its bad side. Chance to win: the chance of beating control in the metric's good direction. "
                "A guardrail fails when a variant is worse than control by more than its threshold with over "
                (format::short_percent(GUARDRAIL_FAILING)) " probability (a warning over " (format::short_percent(GUARDRAIL_WARNING)) "). "
                "Secondary metrics' p-values are adjusted for the number of comparisons (Benjamini–Hochberg). "
                "Always valid: the lift's 95% confidence sequence, which holds however often the results are read. "
                @match r.analysis {
                    Analysis::Bayesian => { "The verdict follows the Bayesian rule (probability best and expected loss)." }
                    Analysis::Sequential => { "The verdict follows the confidence sequences (sequential analysis)." }
                }
            }
        }
    }
}
