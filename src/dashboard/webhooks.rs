//! The webhooks page: list with recent deliveries and attempts, create (the secret is shown
//! once), delete.

use super::error::PageResult;
use super::page::{form_status, html, redirect};
use super::session::{Posted, SignedIn};
use crate::domain::{CreatedWebhook, WebhookDraft};
use crate::engine::{Engine, EngineError};
use crate::templates::webhooks::{self, WebhookForm, WebhooksView};
use actix_web::web;
use serde::Deserialize;

/// How many of each webhook's deliveries the page shows.
const RECENT: i64 = 20;

#[derive(Debug, Deserialize)]
pub struct WebhooksQuery {
    done: Option<String>,
}

/// The page; 422 when `error` says why the form was refused.
async fn render(
    user: &SignedIn,
    engine: &Engine,
    form: &WebhookForm,
    created: Option<&CreatedWebhook>,
    error: Option<&str>,
    done: Option<&str>,
) -> PageResult {
    let mut listed = Vec::new();
    for hook in engine.list_webhooks().await? {
        let recent = engine.webhook_deliveries(hook.id, RECENT).await?;
        listed.push((hook, recent));
    }
    Ok(html(
        form_status(error.is_some()),
        webhooks::page(&WebhooksView {
            csrf: &user.csrf,
            webhooks: &listed,
            created,
            form,
            error,
            done,
        }),
    ))
}

/// `GET /dashboard/webhooks`.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<WebhooksQuery>,
) -> PageResult {
    let done = query.done.as_deref();
    render(&user, &engine, &WebhookForm::default(), None, None, done).await
}

/// `POST /dashboard/webhooks`: creates a webhook and answers with the page showing its
/// secret once (the page is `no-store`, so the secret stays out of caches and history).
pub async fn create(posted: Posted) -> PageResult {
    let Posted { user, engine, data } = posted;
    let form = WebhookForm {
        url: data.get("url").trim().to_string(),
        events: data.all("event").map(str::to_string).collect(),
    };
    let draft = WebhookDraft {
        url: form.url.clone(),
        events: form.events.clone(),
    };
    match engine.create_webhook(&user.actor(), draft).await {
        Ok(created) => {
            let blank = WebhookForm::default();
            render(&user, &engine, &blank, Some(&created), None, None).await
        }
        Err(EngineError::Invalid(e)) => {
            let message = match e.field.as_str() {
                "events" => "Choose 1 to 5 events.".to_string(),
                _ => e.to_string(),
            };
            render(&user, &engine, &form, None, Some(&message), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/webhooks/{id}/delete`.
pub async fn delete(posted: Posted, id: web::Path<i64>) -> PageResult {
    let actor = posted.user.actor();
    posted
        .engine
        .delete_webhook(&actor, id.into_inner())
        .await?;
    Ok(redirect("/dashboard/webhooks?done=deleted"))
}
