//! The experiment page's factorial parts: the recommended combination, a panel per factor
//! with its main effects, and a grid of two-way interactions per pair of factors (the goal's
//! figures; every metric's are in the results API).

use super::components::{Tone, notice};
use super::format;
use crate::domain::{Experiment, MetricType};
use crate::engine::factorial_results::{FactorEffects, InteractionEffect};
use crate::engine::results::ExperimentResults;
use crate::stats::Interval;
use maud::{Markup, html};

/// An absolute effect in the goal's unit: points for a rate, a number otherwise.
fn effect_text(proportion: bool, x: f64) -> String {
    let text = if proportion {
        format::points(x)
    } else {
        format::number(x)
    };
    if x > 0.0 { format!("+{text}") } else { text }
}

fn interval_text(proportion: bool, e: &Interval) -> String {
    format!(
        "{} to {}",
        effect_text(proportion, e.low),
        effect_text(proportion, e.high)
    )
}

/// Factor panels, the interaction grids and the recommendation (nothing for other kinds).
pub fn section(e: &Experiment, r: &ExperimentResults) -> Markup {
    if e.spec.factors.is_empty() {
        return html! {};
    }
    let proportion = r.metrics.first().is_some_and(|m| {
        matches!(
            m.metric_type,
            MetricType::Conversion | MetricType::Retention
        )
    });
    let pairs: Vec<(&str, &str)> = {
        let mut pairs: Vec<(&str, &str)> = r
            .interactions
            .iter()
            .map(|i| (i.factors[0].as_str(), i.factors[1].as_str()))
            .collect();
        pairs.dedup();
        pairs
    };
    html! {
        section #factorial aria-labelledby="factorial-heading" {
            h2 #factorial-heading { "Factors" }
            p.muted {
                (e.spec.factors.len()) " factors, " (e.spec.variants.len()) " combinations (the variants above). "
                "Each level's main effect is its difference from the factor's first level, averaged over the other factors' levels, in the goal's unit."
            }
            @match &r.recommendation {
                Some(rec) => (notice(Tone::Info, html! {
                    span #recommendation {
                        "Recommended combination: " strong { (rec.variant) } ". " (rec.reason)
                    }
                })),
                None => p #recommendation { "No recommendation until every combination has users." },
            }
            div.factor-panels {
                @for f in &r.factors { (factor_panel(f, proportion)) }
            }
            @for (a, b) in &pairs {
                (interaction_grid(a, b, &r.interactions, proportion))
            }
        }
    }
}

fn factor_panel(f: &FactorEffects, proportion: bool) -> Markup {
    html! {
        div.factor-panel {
            table.factor {
                caption { (f.factor) " " span.muted { "(" (f.dimension.as_str()) ", against " code { (f.control) } ")" } }
                thead { tr {
                    th scope="col" { "Level" }
                    th scope="col" class="num" { "Main effect" }
                    th scope="col" class="num" { "95% interval" }
                    th scope="col" class="num" { "Chance to beat " (f.control) }
                } }
                tbody {
                    @for l in &f.levels {
                        tr {
                            th scope="row" { code { (l.level) } }
                            @match &l.effect {
                                Some(e) => {
                                    td class="num" { (effect_text(proportion, e.mean)) }
                                    td class="num" { (interval_text(proportion, e)) }
                                }
                                None => { td class="num" { "—" } td class="num" { "not enough data" } }
                            }
                            td class="num" { (format::optional_probability(l.chance_to_beat_control)) }
                        }
                    }
                }
            }
        }
    }
}

/// The interactions of two factors: a row per non-control level of the first, a column per
/// non-control level of the second.
fn interaction_grid(
    a: &str,
    b: &str,
    interactions: &[InteractionEffect],
    proportion: bool,
) -> Markup {
    let of_pair: Vec<&InteractionEffect> = interactions
        .iter()
        .filter(|i| i.factors[0] == a && i.factors[1] == b)
        .collect();
    let mut rows: Vec<&str> = of_pair.iter().map(|i| i.levels[0].as_str()).collect();
    rows.dedup();
    // In order (first factor's level, then the second's): the first row names every column.
    let columns: Vec<&str> = of_pair
        .iter()
        .take_while(|i| Some(i.levels[0].as_str()) == rows.first().copied())
        .map(|i| i.levels[1].as_str())
        .collect();
    html! {
        div.table-scroll {
            table.interactions {
                caption { "Interaction " (a) " × " (b) span.muted { " (how much a pair adds beyond the sum of their main effects; ✓ when its 95% interval excludes 0)" } }
                thead { tr {
                    th scope="col" { (a) " \\ " (b) }
                    @for c in &columns { th scope="col" class="num" { code { (c) } } }
                } }
                tbody {
                    @for row in &rows {
                        tr {
                            th scope="row" { code { (row) } }
                            @for c in &columns {
                                @let cell = of_pair.iter().find(|i| i.levels[0] == *row && i.levels[1] == *c);
                                td class="num" {
                                    @match cell.and_then(|i| i.effect.map(|e| (e, i.credible))) {
                                        Some((e, credible)) => {
                                            @if credible { strong.credible { "✓ " (effect_text(proportion, e.mean)) } } @else { (effect_text(proportion, e.mean)) }
                                            br; span.muted { (interval_text(proportion, &e)) }
                                        }
                                        None => "—",
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
