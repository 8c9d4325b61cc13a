//! Stopping (with or without declaring a winner) cannot be undone, so it gets a page of its
//! own that says what will happen, and a box to tick. No JavaScript needed.

use super::components::{Tone, csrf_input, field_error, notice, swatch};
use super::format;
use super::layout::{Nav, Page, breadcrumb, layout};
use crate::domain::Experiment;
use crate::engine::ExperimentResults;
use maud::{Markup, html};

pub struct StopView<'a> {
    pub csrf: &'a str,
    pub experiment: &'a Experiment,
    pub results: &'a ExperimentResults,
    /// The variant to preselect as the winner (from "Declare winner").
    pub winner: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn page(view: &StopView) -> Markup {
    let (e, r) = (view.experiment, view.results);
    let base = format!("/dashboard/experiments/{}", e.spec.key);
    let chosen = view.winner.unwrap_or("");
    let title = match view.winner.filter(|w| !w.is_empty()) {
        Some(_) => format!("Declare a winner of {}", e.spec.name),
        None => format!("Stop {}", e.spec.name),
    };
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Experiments),
        html! {
            (breadcrumb(&[("/dashboard/experiments", "Experiments"), (&base, &e.spec.name)]))
            h1 { (title) }
            (notice(Tone::Warning, html! {
                strong { "This cannot be undone." } " A stopped experiment cannot be started again or edited, "
                "and nobody new is enrolled. With a winner, every user — enrolled or not — gets the winner's payload from now on; "
                "without one, nobody gets a variant of this experiment."
            }))
            form.stack method="post" action={ (base) "/stop" } {
                (csrf_input(view.csrf))
                fieldset.field.radios {
                    legend { "Winner" }
                    div.radio {
                        input type="radio" id="winner-none" name="winner" value="" checked[chosen.is_empty()];
                        label for="winner-none" { strong { "No winner" } " — stop the experiment and serve nothing" }
                    }
                    @for (i, v) in r.variants.iter().enumerate() {
                        @let id = format!("winner-{}", v.key);
                        div.radio {
                            input type="radio" id=(id) name="winner" value=(v.key) checked[chosen == v.key];
                            label for=(id) {
                                (swatch(i)) " " strong { (v.name) }
                                @if v.key == r.control { " (control)" }
                                " — " (format::probability(v.probability_best)) " probability of being best, "
                                (format::thousands(v.users)) " users"
                            }
                        }
                    }
                }
                div.field.has-error[view.error.is_some()] {
                    div.checkbox {
                        input type="checkbox" id="confirm" name="confirm" value="yes" required
                            aria-describedby=[view.error.map(|_| "confirm-error")]
                            aria-invalid=[view.error.map(|_| "true")];
                        label for="confirm" { "I understand that stopping " (e.spec.name) " is final." }
                    }
                    (field_error("confirm", view.error))
                }
                div.form-actions {
                    button.danger type="submit" { "Stop the experiment" }
                    a href=(base) { "Cancel" }
                }
            }
        },
    )
}
