//! The experiment page's contextual parts: results per context, the value of
//! personalization, and the off-policy estimates.

use super::format;
use crate::domain::{Experiment, GoalMetric};
use crate::engine::ope::OpeReport;
use crate::engine::results::ExperimentResults;
use maud::{Markup, html};

fn value_text(revenue: bool, x: f64) -> String {
    if revenue {
        format::amount(x)
    } else {
        format::percent(x, 2)
    }
}

fn gain_text(revenue: bool, x: f64) -> String {
    if revenue {
        format::amount(x)
    } else {
        format::points(x)
    }
}

/// Results per context and the personalization sentence (nothing for experiments without a
/// context).
pub fn contexts_section(e: &Experiment, r: &ExperimentResults) -> Markup {
    if e.spec.context.is_empty() {
        return html! {};
    }
    let revenue = e.spec.goal.metric == GoalMetric::Revenue;
    html! {
        section aria-labelledby="contexts-heading" {
            h2 #contexts-heading { "Contexts" }
            p.muted { "Context attributes: " code { (e.spec.context.join(", ")) } ". Each context's rates start from the pooled rate of the variant, so small contexts borrow strength from everyone." }
            @if let Some(p) = &r.personalization {
                p #personalization {
                    "Giving every context its own best variant is expected to reach "
                    strong { (value_text(revenue, p.per_context_rate)) }
                    " against " strong { (value_text(revenue, p.best_single_rate)) } " with "
                    strong { (p.best_single_variant) } " for everyone: a gain of "
                    strong { (gain_text(revenue, p.gain.mean)) }
                    " (95% interval " (gain_text(revenue, p.gain.low)) " to " (gain_text(revenue, p.gain.high)) ")."
                }
            }
            @if r.contexts.is_empty() {
                p { "No users yet." }
            } @else {
                div.table-scroll {
                    table.contexts {
                        caption { "Results per context, largest first" }
                        thead { tr {
                            th scope="col" { "Context" }
                            th scope="col" class="num" { "Users" }
                            th scope="col" { "Best variant" }
                            th scope="col" class="num" { "Probability best" }
                            @for v in r.variants.iter() {
                                th scope="col" class="num" { (v.name) br; span.muted { (if revenue { "value per user" } else { "rate" }) ", users" } }
                            }
                        } }
                        tbody {
                            @for s in &r.contexts {
                                tr {
                                    th scope="row" {
                                        @for (i, (name, value)) in s.context.iter().enumerate() {
                                            @if i > 0 { ", " }
                                            (name) " = " code { (value.as_str().unwrap_or_default()) }
                                        }
                                    }
                                    td.num { (format::thousands(s.users)) }
                                    td { (s.best_variant) }
                                    td.num { (format::probability(s.probability_best)) }
                                    @for v in &s.variants {
                                        td.num .winner[v.key == s.best_variant] {
                                            @let shown = if revenue { v.value_per_user.unwrap_or(v.rate) } else { v.rate };
                                            (value_text(revenue, shown.mean)) br;
                                            span.muted { (format::thousands(v.users)) " users" }
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
}

/// The off-policy estimates: cached ones, or a link that computes them (it scans the raw
/// assignments, so the page does not do it on every view).
pub fn ope_section(e: &Experiment, path: &str, ope: Option<&OpeReport>) -> Markup {
    let revenue = e.spec.goal.metric == GoalMetric::Revenue;
    html! {
        section aria-labelledby="ope-heading" {
            h2 #ope-heading { "What other policies would have earned" }
            @match ope {
                None => {
                    p { "Off-policy estimates from the logged propensities (inverse propensity scoring). "
                        a href={ (path) "?ope=1#ope-heading" } { "Compute them" } " (reads every assignment of this experiment)." }
                }
                Some(o) => {
                    p.muted { "From " (format::thousands(o.rows)) " logged users, computed " (format::utc(o.computed_at)) ". "
                        a href={ (path) "?ope=1#ope-heading" } { "Recompute" } }
                    div.table-scroll.fit {
                        table.ope {
                            thead { tr {
                                th scope="col" { "Policy" }
                                th scope="col" class="num" { "IPS" br; span.muted { "95% interval" } }
                                th scope="col" class="num" { "Self-normalized" br; span.muted { "95% interval" } }
                                th scope="col" class="num" { "Effective users" }
                            } }
                            tbody {
                                @for p in &o.policies {
                                    tr {
                                        th scope="row" { (p.description) }
                                        td.num { (value_text(revenue, p.ips.mean)) br; span.muted { (value_text(revenue, p.ips.low)) " – " (value_text(revenue, p.ips.high)) } }
                                        td.num {
                                            @match p.snips {
                                                Some(s) => { (value_text(revenue, s.mean)) br; span.muted { (value_text(revenue, s.low)) " – " (value_text(revenue, s.high)) } }
                                                None => (format::NONE),
                                            }
                                        }
                                        td.num { (format::thousands(p.effective_sample_size.round() as i64)) }
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
