//! The API keys page: every key (never its secret), a form to create one (its secret is shown
//! once, on the page that answers the form), and the revocation confirmation.

use super::components::{Tone, csrf_input, notice};
use super::format;
use super::layout::{Nav, Page, breadcrumb, layout};
use crate::domain::ApiKey;
use maud::{Markup, html};

/// The create form as typed (so a refused form comes back as it was sent).
#[derive(Debug, Clone, Default)]
pub struct KeyForm {
    pub name: String,
    pub scope: String,
    pub rate_limit: String,
}

pub struct KeysView<'a> {
    pub csrf: &'a str,
    pub keys: &'a [ApiKey],
    /// A key just created, with its secret: shown this once.
    pub created: Option<(&'a ApiKey, &'a str)>,
    pub form: &'a KeyForm,
    pub error: Option<&'a str>,
    /// `revoked` after a revocation.
    pub done: Option<&'a str>,
    /// The server's default rate limit for keys without their own.
    pub default_rate: Option<f64>,
}

fn rate(record: &ApiKey, default_rate: Option<f64>) -> String {
    match (record.rate_limit, default_rate) {
        (Some(r), _) => format!("{r} / s"),
        (None, Some(d)) => format!("{d} / s (default)"),
        (None, None) => "unlimited".into(),
    }
}

pub fn page(view: &KeysView) -> Markup {
    layout(
        &Page::signed_in("API keys", view.csrf, Nav::Keys),
        html! {
            h1 { "API keys" }
            p.subtitle { "Client keys assign and track; admin keys do everything, including signing in here. "
                "Only a hash of each key is stored." }
            @if let Some((record, secret)) = view.created {
                (notice(Tone::Good, html! {
                    p { "Created " (record.scope.as_str()) " key " strong { (record.id) } " “" (record.label) "”. "
                        strong { "Copy it now: it is shown only this once." } }
                    p { code #new-key { (secret) } }
                }))
            }
            @if view.done == Some("revoked") {
                (notice(Tone::Good, html! { "The key is revoked. Every server refuses it within a second." }))
            }
            div.table-scroll {
                table.list #keys {
                    caption.visually-hidden { "API keys" }
                    thead {
                        tr {
                            th scope="col" class="num" { "Id" }
                            th scope="col" { "Name" }
                            th scope="col" { "Scope" }
                            th scope="col" { "Hash" }
                            th scope="col" { "Rate limit" }
                            th scope="col" { "Created" }
                            th scope="col" { "Last used" }
                            th scope="col" { "State" }
                        }
                    }
                    tbody {
                        @for k in view.keys {
                            tr id={ "key-" (k.id) } {
                                td.num { (k.id) }
                                th scope="row" { @if k.label.is_empty() { span.muted { "(no name)" } } @else { (k.label) } }
                                td { (k.scope.as_str()) }
                                td { code.muted { (k.hash_prefix()) "…" } }
                                td { (rate(k, view.default_rate)) }
                                td { (format::utc(k.created_at)) }
                                td data-field="last-used" {
                                    @match k.last_used_at {
                                        Some(t) => (format::utc(t)),
                                        None => span.muted { "never" },
                                    }
                                }
                                td {
                                    @match k.revoked_at {
                                        Some(t) => { "revoked " (format::utc(t)) }
                                        None => {
                                            "active · "
                                            a href={ "/dashboard/keys/" (k.id) "/revoke" } { "Revoke…" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 #create { "Create a key" }
            @if let Some(e) = view.error {
                (notice(Tone::Bad, html! { (e) }))
            }
            form.stack method="post" action="/dashboard/keys" {
                (csrf_input(view.csrf))
                div.field {
                    label for="name" { "Name" }
                    p.hint #name-hint { "Who or what uses it, e.g. “ios app” or “nightly export”." }
                    input #name type="text" name="name" maxlength="100" value=(view.form.name) aria-describedby="name-hint";
                }
                fieldset.field.radios {
                    legend { "Scope" }
                    div.radio {
                        input type="radio" id="scope-client" name="scope" value="client" checked[view.form.scope != "admin"];
                        label for="scope-client" { strong { "client" } " — assign, track, OpenFeature" }
                    }
                    div.radio {
                        input type="radio" id="scope-admin" name="scope" value="admin" checked[view.form.scope == "admin"];
                        label for="scope-admin" { strong { "admin" } " — everything" }
                    }
                }
                div.field {
                    label for="rate_limit" { "Rate limit (requests per second)" }
                    p.hint #rate-hint { "Leave empty for "
                        @match view.default_rate { Some(d) => { "the server's default (" (d) " / s)" } None => "no limit" }
                        ". Beyond it, requests get 429 with Retry-After." }
                    input #rate_limit type="text" inputmode="decimal" name="rate_limit" value=(view.form.rate_limit) aria-describedby="rate-hint";
                }
                div.form-actions {
                    button.primary type="submit" { "Create the key" }
                }
            }
        },
    )
}

pub struct RevokeView<'a> {
    pub csrf: &'a str,
    pub key: &'a ApiKey,
    pub error: Option<&'a str>,
    /// Whether the key is the one this session was opened with.
    pub own_key: bool,
}

pub fn revoke_page(view: &RevokeView) -> Markup {
    let k = view.key;
    let title = format!("Revoke key {}", k.id);
    layout(
        &Page::signed_in(&title, view.csrf, Nav::Keys),
        html! {
            (breadcrumb(&[("/dashboard/keys", "API keys")]))
            h1 { (title) }
            (notice(Tone::Warning, html! {
                strong { "This cannot be undone." } " Every server refuses the " (k.scope.as_str()) " key “" (k.label)
                "” (" code { (k.hash_prefix()) "…" } ") within a second, and dashboard sessions opened with it end."
                @if view.own_key { " " strong { "You signed in with this key: you will be signed out." } }
            }))
            @if let Some(e) = view.error { (notice(Tone::Bad, html! { (e) })) }
            form.stack method="post" action={ "/dashboard/keys/" (k.id) "/revoke" } {
                (csrf_input(view.csrf))
                div.field {
                    div.checkbox {
                        input type="checkbox" id="confirm" name="confirm" value="yes" required;
                        label for="confirm" { "I understand that revoking key " (k.id) " is final." }
                    }
                }
                div.form-actions {
                    button.danger type="submit" { "Revoke the key" }
                    a href="/dashboard/keys" { "Cancel" }
                }
            }
        },
    )
}
