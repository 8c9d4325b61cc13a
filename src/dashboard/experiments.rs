//! Experiment pages: the list, one experiment's results, the create and edit forms, and the
//! lifecycle buttons.

use super::forms::{ExperimentForm, FieldErrors};
use super::{
    DashboardError, PageResult, REFRESH_CHOICES, SignedIn, form_html, html, query_encode, redirect,
};
use crate::domain::{Experiment, Status, VariantKey};
use crate::engine::{Engine, EngineError, ExperimentResults, Transition};
use crate::templates::experiment_form::{self, CreateView, EditView};
use crate::templates::experiment_list::{self, ListRow, ListView};
use crate::templates::experiment_page::{self, ExperimentView};
use crate::templates::stop_confirmation::{self, StopView};
use actix_web::http::{StatusCode, header};
use actix_web::web;
use chrono::Utc;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Instant;

fn page_of(key: &str) -> String {
    format!("/dashboard/experiments/{}", query_encode(key))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// `GET /dashboard/experiments[?status=running]`.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<ListQuery>,
) -> PageResult {
    let experiments = engine.list_experiments().await?;
    let filter = query.status.as_deref().and_then(Status::parse);
    let shown: Vec<&Experiment> = experiments
        .iter()
        .filter(|e| filter.is_none_or(|s| e.status == s))
        .collect();
    // Results come from stored aggregates; fetch them side by side, not one after another.
    let mut pending = tokio::task::JoinSet::new();
    for e in shown.iter().filter(|e| e.status != Status::Draft) {
        let engine = engine.get_ref().clone();
        let key = e.spec.key.to_string();
        pending.spawn(async move {
            let results = engine.results(&key).await;
            (key, results)
        });
    }
    let mut results: HashMap<String, ExperimentResults> = HashMap::new();
    while let Some(joined) = pending.join_next().await {
        match joined {
            Ok((key, Ok(r))) => {
                results.insert(key, r);
            }
            Ok((key, Err(e))) => tracing::warn!(experiment = %key, error = %e, "results failed"),
            Err(e) => tracing::warn!(error = %e, "results task failed"),
        }
    }
    let counts: Vec<(Status, usize)> = Status::ALL
        .iter()
        .map(|&s| (s, experiments.iter().filter(|e| e.status == s).count()))
        .collect();
    let rows: Vec<ListRow> = shown
        .iter()
        .map(|e| ListRow {
            experiment: e,
            results: results.get(e.spec.key.as_str()),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        experiment_list::page(&ListView {
            csrf: &user.csrf,
            rows: &rows,
            filter,
            counts: &counts,
            total: experiments.len(),
            now: Utc::now(),
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    refresh: Option<String>,
    done: Option<String>,
    /// `?ope=1`: compute the off-policy estimates (they scan the raw assignments).
    ope: Option<String>,
}

/// `GET /dashboard/experiments/{key}[?refresh=30]`: results, charts and definition.
/// The `Server-Timing` header tells how long the data and the rendering took.
pub async fn show(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> PageResult {
    let started = Instant::now();
    let overview = engine.overview(&key).await?;
    let (experiment, results, series) = (overview.experiment, overview.results, overview.series);
    let ope = if query.ope.is_some() {
        Some(engine.ope(&key).await?)
    } else {
        engine.cached_ope(experiment.id)
    };
    let fetched = started.elapsed();
    let refresh = query
        .refresh
        .as_deref()
        .and_then(|r| r.parse::<u32>().ok())
        .filter(|r| REFRESH_CHOICES.contains(r));
    let segment_names = engine.snapshot().segments.names().clone();
    let markup = experiment_page::page(&ExperimentView {
        csrf: &user.csrf,
        experiment: &experiment,
        results: &results,
        series: &series,
        refresh,
        done: query.done.as_deref(),
        now: Utc::now(),
        segment_names: &segment_names,
        ope: ope.as_deref(),
    });
    let mut response = html(StatusCode::OK, markup);
    let total = started.elapsed();
    let timing = format!(
        "data;dur={:.2}, render;dur={:.2}, total;dur={:.2}",
        fetched.as_secs_f64() * 1000.0,
        (total - fetched).as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0
    );
    if let Ok(value) = header::HeaderValue::from_str(&timing) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("server-timing"), value);
    }
    Ok(response)
}

/// Every segment as (key, name), by key, for the pinned rules (from the in-memory snapshot).
fn segment_choices(engine: &Engine) -> Vec<(String, String)> {
    let mut segments: Vec<(String, String)> = engine
        .snapshot()
        .segments
        .names()
        .iter()
        .map(|(k, n)| (k.clone(), n.clone()))
        .collect();
    segments.sort();
    segments
}

/// `GET /dashboard/new`: an empty form (with one blank pinned-rule row).
pub async fn new_form(user: SignedIn, engine: web::Data<Engine>) -> PageResult {
    render_create(
        &user,
        &engine,
        &ExperimentForm::default().with_spare_pin(),
        &FieldErrors::default(),
    )
}

fn render_create(
    user: &SignedIn,
    engine: &Engine,
    form: &ExperimentForm,
    errors: &FieldErrors,
) -> PageResult {
    Ok(form_html(
        errors,
        experiment_form::create_page(&CreateView {
            csrf: &user.csrf,
            form,
            errors,
            segments: &segment_choices(engine),
        }),
    ))
}

/// `POST /dashboard/experiments`: create, or (the "add a row" buttons) show the form again
/// with one more row, keeping everything typed.
pub async fn create(user: SignedIn, engine: web::Data<Engine>, body: web::Bytes) -> PageResult {
    let data = user.form(&body)?;
    let form = ExperimentForm::from_form(&data);
    let no_errors = FieldErrors::default();
    match data.get("action") {
        "add_variant" => {
            return render_create(&user, &engine, &form.with_spare_rows(1, 0), &no_errors);
        }
        "add_rule" => {
            return render_create(&user, &engine, &form.with_spare_rows(0, 1), &no_errors);
        }
        "add_pin" => return render_create(&user, &engine, &form.with_spare_pin(), &no_errors),
        _ => {}
    }
    let mut form = form;
    form.compact();
    let spare_rule = usize::from(form.rules.is_empty());
    let mut form = form.with_spare_rows(0, spare_rule);
    if form.pins.is_empty() {
        form = form.with_spare_pin();
    }
    let mut blank_free = form.clone();
    blank_free.compact();
    let draft = match blank_free.to_draft() {
        Ok(draft) => draft,
        Err(errors) => return render_create(&user, &engine, &form, &errors),
    };
    let errors = match engine.create_experiment(&user.actor(), draft).await {
        Ok(created) => {
            return Ok(redirect(&format!(
                "{}?done=created",
                page_of(created.spec.key.as_str())
            )));
        }
        Err(EngineError::Invalid(e)) => FieldErrors::one(form.field_of(&e), form.message_of(&e)),
        Err(EngineError::Conflict(m)) if m.starts_with("layer") => FieldErrors::one("layer", m),
        Err(EngineError::Conflict(_)) => FieldErrors::one(
            "key",
            "an experiment with this key exists already; choose another key",
        ),
        Err(e) => return Err(e.into()),
    };
    render_create(&user, &engine, &form, &errors)
}

fn render_edit(
    user: &SignedIn,
    engine: &Engine,
    experiment: &Experiment,
    form: &ExperimentForm,
    errors: &FieldErrors,
) -> PageResult {
    Ok(form_html(
        errors,
        experiment_form::edit_page(&EditView {
            csrf: &user.csrf,
            experiment,
            form,
            errors,
            segments: &segment_choices(engine),
        }),
    ))
}

fn refuse_stopped(experiment: &Experiment) -> Result<(), DashboardError> {
    if experiment.status == Status::Stopped {
        return Err(DashboardError::Conflict(
            "A stopped experiment cannot be edited: its results are final.".into(),
        ));
    }
    Ok(())
}

/// `GET /dashboard/experiments/{key}/edit`.
pub async fn edit_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    let experiment = engine.experiment(&key).await?;
    refuse_stopped(&experiment)?;
    let form = ExperimentForm::from_experiment(&experiment);
    let spare_rule = usize::from(form.rules.is_empty());
    render_edit(
        &user,
        &engine,
        &experiment,
        &form.with_spare_rows(0, spare_rule),
        &FieldErrors::default(),
    )
}

/// `POST /dashboard/experiments/{key}/edit`.
pub async fn update(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let data = user.form(&body)?;
    let experiment = engine.experiment(&key).await?;
    refuse_stopped(&experiment)?;
    let mut form = ExperimentForm::from_form(&data);
    let with_row = match data.get("action") {
        "add_rule" => Some(form.clone().with_spare_rows(0, 1)),
        "add_pin" => Some(form.clone().with_spare_pin()),
        _ => None,
    };
    if let Some(with_row) = with_row {
        let no_errors = FieldErrors::default();
        return render_edit(&user, &engine, &experiment, &with_row, &no_errors);
    }
    form.pins
        .retain(|p| !p.segment.trim().is_empty() || !p.variant.trim().is_empty());
    form.rules
        .retain(|r| !r.attribute.trim().is_empty() || !r.value.trim().is_empty());
    let patch = match form.to_patch(&experiment) {
        Ok(patch) => patch,
        Err(errors) => return render_edit(&user, &engine, &experiment, &form, &errors),
    };
    let errors = match engine.update_experiment(&user.actor(), &key, patch).await {
        Ok(_) => return Ok(redirect(&format!("{}?done=saved", page_of(&key)))),
        Err(EngineError::Invalid(e)) => FieldErrors::one(form.field_of(&e), form.message_of(&e)),
        Err(EngineError::Conflict(m)) if m.starts_with("layer") => FieldErrors::one("layer", m),
        Err(EngineError::Conflict(m)) => FieldErrors::one("form", m),
        Err(e) => return Err(e.into()),
    };
    render_edit(&user, &engine, &experiment, &form, &errors)
}

async fn transition(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
    transition: Transition,
    done: &str,
) -> PageResult {
    user.form(&body)?; // only its CSRF token counts
    engine.transition(&user.actor(), &key, transition).await?;
    Ok(redirect(&format!("{}?done={done}", page_of(&key))))
}

/// `POST .../start`: starts a draft or resumes a paused experiment.
pub async fn start(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    transition(user, engine, key, body, Transition::Start, "started").await
}

/// `POST .../pause`: reversible, so no confirmation.
pub async fn pause(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    transition(user, engine, key, body, Transition::Pause, "paused").await
}

#[derive(Debug, Deserialize)]
pub struct StopQuery {
    winner: Option<String>,
}

async fn render_stop(
    user: &SignedIn,
    engine: &Engine,
    key: &str,
    winner: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let (experiment, results) = tokio::try_join!(engine.experiment(key), engine.results(key))?;
    if !matches!(experiment.status, Status::Running | Status::Paused) {
        return Err(DashboardError::Conflict(format!(
            "Only a running or paused experiment can be stopped; this one is {}.",
            experiment.status
        )));
    }
    Ok(html(
        status,
        stop_confirmation::page(&StopView {
            csrf: &user.csrf,
            experiment: &experiment,
            results: &results,
            winner,
            error,
        }),
    ))
}

/// `GET .../stop[?winner=b]`: stopping is final, so it is confirmed on a page of its own
/// (which works without JavaScript).
pub async fn stop_confirmation(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    query: web::Query<StopQuery>,
) -> PageResult {
    render_stop(
        &user,
        &engine,
        &key,
        query.winner.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

/// `POST .../stop`: needs the confirmation box ticked; an optional winner.
pub async fn stop(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let data = user.form(&body)?;
    let winner_text = data.get("winner").trim();
    if data.get("confirm") != "yes" {
        return render_stop(
            &user,
            &engine,
            &key,
            Some(winner_text),
            Some("Tick the box to confirm: stopping cannot be undone."),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let winner = if winner_text.is_empty() {
        None
    } else {
        Some(
            VariantKey::parse(winner_text)
                .map_err(|e| DashboardError::BadRequest(e.to_string()))?,
        )
    };
    engine
        .transition(&user.actor(), &key, Transition::Stop { winner })
        .await?;
    Ok(redirect(&format!("{}?done=stopped", page_of(&key))))
}
