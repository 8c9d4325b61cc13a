//! Effects over time on the experiment page: per metric, each variant's cumulative lift over
//! control by day since the start, with its 95% confidence sequence (valid at every look), so
//! that a novelty effect (a lift that fades) shows.

use super::charts::{self, LiftLine};
use super::components::swatch;
use crate::engine::results::ExperimentResults;
use maud::{Markup, html};

/// The section: a chart per metric (nothing before the experiment has started).
pub fn section(r: &ExperimentResults) -> Markup {
    if r.metrics.iter().all(|m| m.over_time.is_empty()) {
        return html! {};
    }
    html! {
        section #over-time aria-labelledby="over-time-heading" {
            h2 #over-time-heading { "Effects over time" }
            // The variants compared with control, in the colours of the charts above.
            ul.legend {
                @for (i, v) in r.variants.iter().enumerate().filter(|(_, v)| v.key != r.control) {
                    li { (swatch(i)) " " (v.name) }
                }
            }
            div.charts {
                @for (n, m) in r.metrics.iter().enumerate() {
                    figure.over-time {
                        @let lines = lines(r, n);
                        @if lines.is_empty() {
                            (charts::empty_chart(&format!("{}: no lift to draw yet (it needs users and conversions in both arms).", m.name)))
                        } @else {
                            (charts::lift_over_time(&format!("over-time-{n}"), &m.name, &lines))
                        }
                        figcaption {
                            strong { (m.name) } ": the lift over control as it stood at the end of each day since the start (today: now), "
                            "with its 95% confidence sequence as a band (valid however often it is read). "
                            "A band that leaves zero and later returns to it, or a lift that shrinks as days pass, is a novelty effect."
                        }
                    }
                }
            }
        }
    }
}

/// The variants with a lift on some day, in the experiment's order (the control has none).
fn lines(r: &ExperimentResults, metric: usize) -> Vec<LiftLine<'_>> {
    let m = &r.metrics[metric];
    r.variants
        .iter()
        .enumerate()
        .filter_map(|(index, v)| {
            let points: Vec<_> = m
                .over_time
                .iter()
                .filter_map(|p| {
                    let lift = p.variants.iter().find(|o| o.key == v.key)?.lift?;
                    Some((p.day_number, lift))
                })
                .collect();
            (!points.is_empty()).then_some(LiftLine {
                label: &v.name,
                index,
                points,
            })
        })
        .collect()
}
