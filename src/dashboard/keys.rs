//! The API keys page: list, create (the secret is shown once), revoke (confirmed).

use super::{DashboardError, PageResult, SignedIn, html, redirect};
use crate::domain::Scope;
use crate::engine::keys::KeyId;
use crate::engine::{Engine, EngineError};
use crate::templates::keys::{self, KeyForm, KeysView, RevokeView};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct KeysQuery {
    done: Option<String>,
}

async fn render(
    user: &SignedIn,
    engine: &Engine,
    status: StatusCode,
    form: &KeyForm,
    created: Option<(&crate::domain::ApiKey, &str)>,
    error: Option<&str>,
    done: Option<&str>,
) -> PageResult {
    let all = engine.list_keys().await?;
    Ok(html(
        status,
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
    let form = KeyForm::default();
    render(
        &user,
        &engine,
        StatusCode::OK,
        &form,
        None,
        None,
        query.done.as_deref(),
    )
    .await
}

/// `POST /dashboard/keys`: creates a key and answers with the page showing its secret once
/// (the page is `no-store`, so the secret stays out of caches and history).
pub async fn create(user: SignedIn, engine: web::Data<Engine>, body: web::Bytes) -> PageResult {
    let data = user.form(&body)?;
    let form = KeyForm {
        name: data.get("name").trim().to_string(),
        scope: data.get("scope").trim().to_string(),
        rate_limit: data.get("rate_limit").trim().to_string(),
    };
    let parsed = parse_key_form(&form);
    let (scope, rate_limit) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            return render(
                &user,
                &engine,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                None,
                Some(&message),
                None,
            )
            .await;
        }
    };
    match engine
        .create_key(&user.actor(), scope, &form.name, rate_limit)
        .await
    {
        Ok((secret, record)) => {
            render(
                &user,
                &engine,
                StatusCode::OK,
                &KeyForm::default(),
                Some((&record, &secret)),
                None,
                None,
            )
            .await
        }
        Err(EngineError::Invalid(e)) => {
            render(
                &user,
                &engine,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                None,
                Some(&format!("{}: {}", e.field, e.message)),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
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

async fn render_revoke(
    user: &SignedIn,
    engine: &Engine,
    id: i64,
    status: StatusCode,
    error: Option<&str>,
) -> PageResult {
    let key = key_record(engine, id).await?;
    if key.revoked_at.is_some() {
        return Err(DashboardError::Conflict(format!(
            "Key {id} is revoked already."
        )));
    }
    Ok(html(
        status,
        keys::revoke_page(&RevokeView {
            csrf: &user.csrf,
            key: &key,
            error,
            own_key: user.key == KeyId::Stored(id),
        }),
    ))
}

/// `GET /dashboard/keys/{id}/revoke`: the confirmation.
pub async fn revoke_confirmation(
    user: SignedIn,
    engine: web::Data<Engine>,
    id: web::Path<i64>,
) -> PageResult {
    render_revoke(&user, &engine, id.into_inner(), StatusCode::OK, None).await
}

/// `POST /dashboard/keys/{id}/revoke`: needs the box ticked.
pub async fn revoke(
    user: SignedIn,
    engine: web::Data<Engine>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    let id = id.into_inner();
    let data = user.form(&body)?;
    if data.get("confirm") != "yes" {
        return render_revoke(
            &user,
            &engine,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Tick the box to confirm: revoking cannot be undone."),
        )
        .await;
    }
    engine.revoke_key(&user.actor(), id).await?;
    Ok(redirect("/dashboard/keys?done=revoked"))
}
