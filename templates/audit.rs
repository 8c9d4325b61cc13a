//! The audit log page: admin actions, newest first, with the state before and after.

use super::format;
use super::layout::{Nav, Page, layout};
use crate::domain::AuditEntry;
use maud::{Markup, html};
use serde_json::Value;

pub struct AuditView<'a> {
    pub csrf: &'a str,
    pub entries: &'a [AuditEntry],
    /// The id to page from for older entries, when there may be more.
    pub older: Option<i64>,
    /// Whether this is a later page (so a link back to the newest makes sense).
    pub paged: bool,
}

fn pretty(v: &Option<Value>) -> Markup {
    match v {
        None => html! { span.muted { "—" } },
        Some(v) => html! { pre { (serde_json::to_string_pretty(v).unwrap_or_default()) } },
    }
}

pub fn page(view: &AuditView) -> Markup {
    layout(
        &Page::signed_in("Audit log", view.csrf, Nav::Audit),
        html! {
            div.page-head {
                div {
                    h1 { "Audit log" }
                    p.subtitle { "Every change made with an admin key, through the API, this dashboard or the command line. Times in UTC." }
                }
                p {
                    "Download: "
                    a href="/api/v1/audit?format=csv" download { "CSV" } " · "
                    a href="/api/v1/audit?format=jsonl" download { "JSON lines" }
                }
            }
            @if view.entries.is_empty() {
                p.empty { "Nothing recorded yet." }
            } @else {
                div.table-scroll {
                    table.list #audit {
                        caption.visually-hidden { "Audit log, newest first" }
                        thead {
                            tr {
                                th scope="col" { "When" }
                                th scope="col" { "Who" }
                                th scope="col" { "Action" }
                                th scope="col" { "Target" }
                                th scope="col" { "Change" }
                            }
                        }
                        tbody {
                            @for e in view.entries {
                                tr id={ "audit-" (e.id) } {
                                    td { (e.at.format("%Y-%m-%d %H:%M:%S")) }
                                    td { code { (e.actor) } }
                                    td { code { (e.action) } }
                                    td { (e.target) }
                                    td {
                                        details.thresholds {
                                            summary { "Before and after" }
                                            h3 { "Before" } (pretty(&e.before))
                                            h3 { "After" } (pretty(&e.after))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            nav aria-label="Pages" {
                p {
                    @if view.paged { a href="/dashboard/audit" { "Newest" } }
                    @if view.paged && view.older.is_some() { " · " }
                    @if let Some(id) = view.older { a href={ "/dashboard/audit?before=" (id) } rel="next" { "Older entries" } }
                }
            }
            p.muted { "Showing " (format::thousands(view.entries.len() as i64)) " entries." }
        },
    )
}
