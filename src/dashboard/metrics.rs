//! The metric library's pages: the list, create, edit, and delete (confirmed; refused in
//! words while the metric is in use or a ratio's part).

use super::error::{PageResult, conflict_at_field, refused};
use super::forms::metric as form;
use super::page::{form_html, html, redirect};
use super::session::{Posted, SignedIn};
use crate::domain::Metric;
use crate::engine::{Engine, EngineError, MetricUse};
use crate::templates::form_values::{FieldErrors, MetricForm};
use crate::templates::metric_pages::{
    self, DeleteRefusal, MetricDeleteView, MetricFormView, MetricListView, ratios_using,
};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    done: Option<String>,
}

/// `GET /dashboard/metrics`: the library, with who uses each metric.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<ListQuery>,
) -> PageResult {
    let (metrics, uses) = tokio::try_join!(engine.list_metrics(), engine.metric_uses())?;
    Ok(html(
        StatusCode::OK,
        metric_pages::list_page(&MetricListView {
            csrf: &user.csrf,
            metrics: &metrics,
            uses: &uses,
            done: query.done.as_deref(),
        }),
    ))
}

/// The experiments using `metric`.
async fn uses_of(engine: &Engine, metric: Option<&Metric>) -> Result<Vec<MetricUse>, EngineError> {
    let Some(m) = metric else {
        return Ok(Vec::new());
    };
    let mut uses = engine.metric_uses().await?;
    Ok(uses.remove(m.spec.key.as_str()).unwrap_or_default())
}

async fn render_form(
    user: &SignedIn,
    engine: &Engine,
    metric: Option<&Metric>,
    form: &MetricForm,
    errors: &FieldErrors,
) -> PageResult {
    let (library, uses) = tokio::try_join!(engine.list_metrics(), uses_of(engine, metric))?;
    Ok(form_html(
        errors,
        metric_pages::form_page(&MetricFormView {
            csrf: &user.csrf,
            metric,
            form,
            errors,
            library: &library,
            uses: &uses,
        }),
    ))
}

/// `GET /dashboard/metrics/new`.
pub async fn new_form(user: SignedIn, engine: web::Data<Engine>) -> PageResult {
    render_form(
        &user,
        &engine,
        None,
        &MetricForm::default(),
        &FieldErrors::default(),
    )
    .await
}

/// Creates (`metric` is `None`) or replaces a metric from the submitted form.
async fn save(posted: Posted, metric: Option<Metric>) -> PageResult {
    let Posted { user, engine, data } = posted;
    let typed = form::read(&data);
    let metric = metric.as_ref();
    let draft = match form::to_draft(&typed, metric.is_none()) {
        Ok(d) => d,
        Err(errors) => return render_form(&user, &engine, metric, &typed, &errors).await,
    };
    let saved = match metric {
        None => engine.create_metric(&user.actor(), draft).await,
        Some(m) => {
            engine
                .replace_metric(&user.actor(), m.spec.key.as_str(), draft)
                .await
        }
    };
    match refused(saved, form::refusal, conflict_at_field)? {
        Ok(_) => {
            let done = if metric.is_some() { "saved" } else { "created" };
            Ok(redirect(&format!("/dashboard/metrics?done={done}")))
        }
        Err(errors) => render_form(&user, &engine, metric, &typed, &errors).await,
    }
}

/// `POST /dashboard/metrics`: create.
pub async fn create(posted: Posted) -> PageResult {
    save(posted, None).await
}

/// `GET /dashboard/metrics/{key}`: the edit form.
pub async fn edit_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    let metric = engine.metric(&key).await?;
    let typed = form::of_metric(&metric);
    render_form(
        &user,
        &engine,
        Some(&metric),
        &typed,
        &FieldErrors::default(),
    )
    .await
}

/// `POST /dashboard/metrics/{key}`: save.
pub async fn update(posted: Posted, key: web::Path<String>) -> PageResult {
    let metric = posted.engine.metric(&key).await?;
    save(posted, Some(metric)).await
}

/// The delete confirmation: 200 to confirm, 422 when the box was not ticked, 409 when the
/// library refused.
async fn render_delete(
    user: &SignedIn,
    engine: &Engine,
    key: &str,
    refusal: Option<DeleteRefusal<'_>>,
) -> PageResult {
    let (library, mut uses) = tokio::try_join!(engine.list_metrics(), engine.metric_uses())?;
    let metric = library
        .iter()
        .find(|m| m.spec.key.as_str() == key)
        .ok_or_else(|| EngineError::UnknownMetric(key.to_string()))?;
    let status = match refusal {
        None => StatusCode::OK,
        Some(DeleteRefusal::Unticked) => StatusCode::UNPROCESSABLE_ENTITY,
        Some(DeleteRefusal::Conflict(_)) => StatusCode::CONFLICT,
    };
    Ok(html(
        status,
        metric_pages::delete_page(&MetricDeleteView {
            csrf: &user.csrf,
            metric,
            uses: &uses.remove(key).unwrap_or_default(),
            ratios: &ratios_using(&library, key),
            refusal,
        }),
    ))
}

/// `GET /dashboard/metrics/{key}/delete`: deleting is final, so it is confirmed first.
pub async fn delete_confirmation(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    render_delete(&user, &engine, &key, None).await
}

/// `POST /dashboard/metrics/{key}/delete`: needs the box ticked.
pub async fn delete(posted: Posted, key: web::Path<String>) -> PageResult {
    let Posted { user, engine, data } = posted;
    if data.get("confirm") != "yes" {
        return render_delete(&user, &engine, &key, Some(DeleteRefusal::Unticked)).await;
    }
    match engine.delete_metric(&user.actor(), &key).await {
        Ok(()) => Ok(redirect("/dashboard/metrics?done=deleted")),
        Err(EngineError::Conflict(c)) => {
            render_delete(&user, &engine, &key, Some(DeleteRefusal::Conflict(&c))).await
        }
        Err(e) => Err(e.into()),
    }
}
