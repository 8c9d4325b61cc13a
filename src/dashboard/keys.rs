//! The API keys page: list, create (the secret is shown once), revoke (confirmed).

use super::error::{DashboardError, PageResult};
use super::page::{form_status, html, redirect};
use super::session::{Posted, SignedIn};
use crate::domain::Scope;
use crate::engine::keys::KeyId;
use crate::engine::{Engine, EngineError};
use crate::templates::keys::{self, KeyForm, KeysView, RevokeView};
use actix_web::web;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct KeysQuery {
    done: Option<String>,
}

/// The keys page; 422 when `error` says why the form was refused.
async fn render(
    user: &SignedIn,
    engine: &Engine,
    form: &KeyForm,
    created: Option<(&crate::domain::ApiKey, &str)>,
    error: Option<&str>,
    done: Option<&str>,
) -> PageResult {
    let all = engine.list_keys().await?;
    Ok(html(
        form_status(error.is_some()),
        keys::page(&KeysView {
            csrf: &user.csrf,
            keys: &all,
            created,
            form,
            error,
            done,
            default_rate: engine.default_rate_limit(),
        }),
    ))
}

/// `GET /dashboard/keys`.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<KeysQuery>,
) -> PageResult {
    let done = query.done.as_deref();
    render(&user, &engine, &KeyForm::default(), None, None, done).await
}

/// `POST /dashboard/keys`: creates a key and answers with the page showing its secret once
/// (the page is `no-store`, so the secret stays out of caches and history).
pub async fn create(posted: Posted) -> PageResult {
    let Posted { user, engine, data } = posted;
    let form = KeyForm {
        name: data.get("name").trim().to_string(),
        scope: data.get("scope").trim().to_string(),
        rate_limit: data.get("rate_limit").trim().to_string(),
    };
    let created = match parse_key_form(&form) {
        Err(message) => Err(message),
        Ok((scope, rate_limit)) => {
            match engine
                .create_key(&user.actor(), scope, &form.name, rate_limit)
                .await
            {
                Ok(created) => Ok(created),
                Err(EngineError::Invalid(e)) => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match created {
        Ok((secret, record)) => {
            let shown = Some((&record, secret.as_str()));
            render(&user, &engine, &KeyForm::default(), shown, None, None).await
        }
        Err(message) => render(&user, &engine, &form, None, Some(&message), None).await,
    }
}

/// The scope and rate limit typed into the form, or what is wrong with them.
fn parse_key_form(form: &KeyForm) -> Result<(Scope, Option<f64>), String> {
    let scope =
        Scope::parse(&form.scope).ok_or_else(|| "Choose a scope: client or admin.".to_string())?;
    if form.rate_limit.is_empty() {
        return Ok((scope, None));
    }
    match form.rate_limit.replace(',', ".").parse::<f64>() {
        Ok(r) => Ok((scope, Some(r))),
        Err(_) => Err(format!(
            "{:?} is not a number of requests per second.",
            form.rate_limit
        )),
    }
}

async fn key_record(engine: &Engine, id: i64) -> Result<crate::domain::ApiKey, DashboardError> {
    engine
        .list_keys()
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| DashboardError::NotFound(format!("There is no key with id {id}.")))
}

/// The revocation's confirmation; 422 when `error` says why it was refused.
async fn render_revoke(
    user: &SignedIn,
    engine: &Engine,
    id: i64,
    error: Option<&str>,
) -> PageResult {
    let key = key_record(engine, id).await?;
    if key.revoked_at.is_some() {
        return Err(DashboardError::Conflict(format!(
            "Key {id} is revoked already."
        )));
    }
    Ok(html(
        form_status(error.is_some()),
        keys::revoke_page(&RevokeView {
            csrf: &user.csrf,
            key: &key,
            error,
            own_key: user.session.key == KeyId::Stored(id),
        }),
    ))
}

/// `GET /dashboard/keys/{id}/revoke`: the confirmation.
pub async fn revoke_confirmation(
    user: SignedIn,
    engine: web::Data<Engine>,
    id: web::Path<i64>,
) -> PageResult {
    render_revoke(&user, &engine, id.into_inner(), None).await
}

/// `POST /dashboard/keys/{id}/revoke`: needs the box ticked.
pub async fn revoke(posted: Posted, id: web::Path<i64>) -> PageResult {
    let Posted { user, engine, data } = posted;
    let id = id.into_inner();
    if data.get("confirm") != "yes" {
        let error = "Tick the box to confirm: revoking cannot be undone.";
        return render_revoke(&user, &engine, id, Some(error)).await;
    }
    engine.revoke_key(&user.actor(), id).await?;
    Ok(redirect("/dashboard/keys?done=revoked"))
}
