//! The webhooks page: every webhook with its recent deliveries and their attempts, a form to
//! create one (its secret is shown once, on the page that answers the form), delete buttons.

use super::components::{Tone, csrf_input, notice};
use super::format;
use super::layout::{Nav, Page, layout};
use crate::domain::{CreatedWebhook, DeliveryState, Webhook, WebhookDelivery, WebhookEvent};
use maud::{Markup, html};

/// The create form as typed (so a refused form comes back as it was sent).
#[derive(Debug, Clone, Default)]
pub struct WebhookForm {
    pub url: String,
    pub events: Vec<String>,
}

pub struct WebhooksView<'a> {
    pub csrf: &'a str,
    /// Each webhook with its newest deliveries.
    pub webhooks: &'a [(Webhook, Vec<WebhookDelivery>)],
    /// A webhook just created, with its secret: shown this once.
    pub created: Option<&'a CreatedWebhook>,
    pub form: &'a WebhookForm,
    pub error: Option<&'a str>,
    /// `deleted` after a deletion.
    pub done: Option<&'a str>,
}

fn state(d: &WebhookDelivery) -> Markup {
    match d.state {
        DeliveryState::Delivered => html! { span.badge.status-running { "delivered" } },
        DeliveryState::GivenUp => html! { span.badge.status-stopped { "given up" } },
        DeliveryState::Pending => html! {
            span.badge.status-paused { "pending" }
            @if let Some(at) = d.next_attempt_at { span.muted { " · next " (format::utc(at)) } }
        },
    }
}

fn deliveries(hook: &Webhook, list: &[WebhookDelivery]) -> Markup {
    html! {
        @if list.is_empty() {
            p.muted { "No deliveries yet." }
        } @else {
            div.table-scroll {
                table.list id={ "deliveries-" (hook.id) } {
                    caption.visually-hidden { "Deliveries to webhook " (hook.id) }
                    thead {
                        tr {
                            th scope="col" class="num" { "Id" }
                            th scope="col" { "Event" }
                            th scope="col" { "Queued" }
                            th scope="col" { "State" }
                            th scope="col" class="num" { "Attempts" }
                            th scope="col" { "Last answer" }
                        }
                    }
                    tbody {
                        @for d in list {
                            tr id={ "delivery-" (d.id) } {
                                td.num { (d.id) }
                                th scope="row" { code { (d.event) } }
                                td { (format::utc(d.created_at)) }
                                td data-field="state" { (state(d)) }
                                td.num data-field="attempts" { (d.attempts) }
                                td {
                                    @match (d.last_status, &d.last_error) {
                                        (_, Some(e)) => { (e) }
                                        (Some(s), None) => { (s) }
                                        (None, None) => span.muted { "—" },
                                    }
                                    @if !d.attempt_log.is_empty() {
                                        details {
                                            summary { "Every attempt" }
                                            ol.attempts {
                                                @for a in &d.attempt_log {
                                                    li {
                                                        (a.at.format("%Y-%m-%d %H:%M:%S UTC")) " · "
                                                        @match a.status { Some(s) => { "HTTP " (s) }, None => "no answer" }
                                                        @if let Some(e) = &a.error { " · " (e) }
                                                        " · " (a.duration_ms) " ms"
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
        }
    }
}

pub fn page(view: &WebhooksView) -> Markup {
    layout(
        &Page::signed_in("Webhooks", view.csrf, Nav::Webhooks),
        html! {
            h1 { "Webhooks" }
            p.subtitle { "Each delivery is a JSON POST signed with the webhook's secret: "
                code { "Posterior-Signature: sha256=<hex>" } " is the HMAC-SHA256 of "
                code { "\"{Posterior-Timestamp}.{body}\"" } ". Without a 2xx it is retried, "
                "waiting longer each time, for 24 hours." }
            @if let Some(created) = view.created {
                (notice(Tone::Good, html! {
                    p { "Created webhook " strong { (created.webhook.id) } " to " code { (created.webhook.url) } ". "
                        strong { "Copy its secret now: it is shown only this once." } }
                    p { code #new-secret { (created.secret) } }
                }))
            }
            @if view.done == Some("deleted") {
                (notice(Tone::Good, html! { "The webhook is deleted: nothing more is sent to it." }))
            }
            @if view.webhooks.is_empty() {
                p.muted { "No webhooks yet." }
            }
            @for (hook, list) in view.webhooks {
                section.webhook id={ "webhook-" (hook.id) } {
                    h2 { "Webhook " (hook.id) " · " code { (hook.url) } }
                    p {
                        @for (i, e) in hook.events.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (e.as_str()) }
                        }
                        span.muted { " · created " (format::utc(hook.created_at)) }
                    }
                    (deliveries(hook, list))
                    form method="post" action={ "/dashboard/webhooks/" (hook.id) "/delete" } {
                        (csrf_input(view.csrf))
                        button.danger type="submit" { "Delete webhook " (hook.id) }
                    }
                }
            }
            h2 #create { "Create a webhook" }
            @if let Some(e) = view.error {
                (notice(Tone::Bad, html! { (e) }))
            }
            form.stack method="post" action="/dashboard/webhooks" {
                (csrf_input(view.csrf))
                div.field {
                    label for="url" { "URL" }
                    p.hint #url-hint { "An http or https address that accepts POST." }
                    input #url type="url" name="url" maxlength="2048" required value=(view.form.url) aria-describedby="url-hint";
                }
                fieldset.field.checkboxes {
                    legend { "Events" }
                    @for e in WebhookEvent::ALL {
                        div.checkbox {
                            input type="checkbox" id={ "event-" (e.as_str()) } name="event" value=(e.as_str())
                                checked[view.form.events.iter().any(|x| x == e.as_str())];
                            label for={ "event-" (e.as_str()) } { code { (e.as_str()) } }
                        }
                    }
                }
                div.form-actions {
                    button.primary type="submit" { "Create the webhook" }
                }
            }
        },
    )
}
