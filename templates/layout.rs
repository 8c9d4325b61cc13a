//! The frame of every page: head, header with navigation and sign-out, main, footer.

use super::assets::{SCRIPT, STYLESHEET};
use maud::{DOCTYPE, Markup, html};

/// Which navigation entry the page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Experiments,
    New,
    Keys,
    Audit,
    Segments,
    Metrics,
    Webhooks,
    Users,
    Other,
}

pub struct Page<'a> {
    pub title: &'a str,
    /// The CSRF token when signed in (for the sign-out form); `None` shows no navigation.
    pub csrf: Option<&'a str>,
    pub nav: Nav,
    /// Reload the page every so many seconds, only when the user asked for it.
    pub refresh: Option<u32>,
}

impl<'a> Page<'a> {
    /// A page of a signed-in admin, with the navigation (`nav` marked) and the sign-out form.
    pub fn signed_in(title: &'a str, csrf: &'a str, nav: Nav) -> Self {
        Page {
            title,
            csrf: Some(csrf),
            nav,
            refresh: None,
        }
    }

    /// A page anyone may see (signing in, errors): no navigation.
    pub fn public(title: &'a str) -> Self {
        Page {
            title,
            csrf: None,
            nav: Nav::Other,
            refresh: None,
        }
    }
}

/// The way back up: each (link, label) followed by a slash, as in "Experiments / Name / ".
pub fn breadcrumb(trail: &[(&str, &str)]) -> Markup {
    html! {
        nav.breadcrumb aria-label="Breadcrumb" {
            @for (href, label) in trail { a href=(href) { (label) } " / " }
        }
    }
}

fn nav_link(href: &str, label: &str, current: bool) -> Markup {
    html! {
        a href=(href) aria-current=[current.then_some("page")] { (label) }
    }
}

pub fn layout(page: &Page, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                @if let Some(seconds) = page.refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (page.title) " · Posterior" }
                // No favicon to fetch (and no 404 for it in every log).
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(STYLESHEET.path);
                script src=(SCRIPT.path) defer {}
            }
            body {
                a.skip-link href="#main" { "Skip to the content" }
                header.site-header {
                    a.brand href="/dashboard/experiments" { "Posterior" }
                    @if let Some(csrf) = page.csrf {
                        nav aria-label="Main" {
                            (nav_link("/dashboard/experiments", "Experiments", page.nav == Nav::Experiments))
                            (nav_link("/dashboard/new", "New experiment", page.nav == Nav::New))
                            (nav_link("/dashboard/keys", "API keys", page.nav == Nav::Keys))
                            (nav_link("/dashboard/audit", "Audit log", page.nav == Nav::Audit))
                            (nav_link("/dashboard/segments", "Segments", page.nav == Nav::Segments))
                            (nav_link("/dashboard/metrics", "Metrics", page.nav == Nav::Metrics))
                            (nav_link("/dashboard/webhooks", "Webhooks", page.nav == Nav::Webhooks))
                            (nav_link("/dashboard/users", "Users", page.nav == Nav::Users))
                        }
                        form.sign-out method="post" action="/dashboard/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button.link-button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (content) }
                footer.site-footer {
                    p { "Times are in UTC. Posterior " (env!("CARGO_PKG_VERSION")) "." }
                }
            }
        }
    }
}
