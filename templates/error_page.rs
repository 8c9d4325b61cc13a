//! A page for errors: what happened, in words, and a way back.

use super::layout::{Page, layout};
use maud::{Markup, html};

pub fn page(title: &str, message: &str) -> Markup {
    layout(
        &Page::public(title),
        html! {
            h1 { (title) }
            p.lead { (message) }
            p { a href="/dashboard/experiments" { "Back to the experiments" } }
        },
    )
}
