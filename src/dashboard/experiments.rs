//! Experiment pages: the list, one experiment's results, the create and edit forms, and the
//! lifecycle buttons.

use super::error::{DashboardError, PageResult, conflict_at_field, refused};
use super::forms::{FormData, experiment as form};
use super::page::{form_html, form_status, html, query_encode, redirect, with_server_timing};
use super::session::{Posted, SignedIn};
use crate::domain::{Experiment, Status, VariantKey};
use crate::engine::{Engine, Transition};
use crate::templates::experiment_form::{self, CreateView, EditView};
use crate::templates::experiment_list::{self, ListView};
use crate::templates::experiment_page::{self, ExperimentView, REFRESH_CHOICES};
use crate::templates::form_values::{ExperimentForm, FieldErrors};
use crate::templates::stop_confirmation::{self, StopView};
use actix_web::http::StatusCode;
use actix_web::web;
use chrono::Utc;
use serde::Deserialize;
use std::time::Instant;

fn page_of(key: &str) -> String {
    format!("/dashboard/experiments/{}", query_encode(key))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// `GET /dashboard/experiments[?status=running]`: one aggregate read for every experiment.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<ListQuery>,
) -> PageResult {
    let started = Instant::now();
    let experiments = engine.experiment_summaries().await?;
    let fetched = started.elapsed();
    let filter = query.status.as_deref().and_then(Status::parse);
    let shown: Vec<_> = experiments
        .iter()
        .filter(|e| filter.is_none_or(|s| e.experiment.status == s))
        .collect();
    let counts: Vec<(Status, usize)> = Status::ALL
        .iter()
        .map(|&s| {
            let n = experiments
                .iter()
                .filter(|e| e.experiment.status == s)
                .count();
            (s, n)
        })
        .collect();
    let markup = experiment_list::page(&ListView {
        csrf: &user.csrf,
        rows: &shown,
        filter,
        counts: &counts,
        total: experiments.len(),
        now: Utc::now(),
    });
    Ok(with_server_timing(
        html(StatusCode::OK, markup),
        started,
        fetched,
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
    Ok(with_server_timing(
        html(StatusCode::OK, markup),
        started,
        fetched,
    ))
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

/// The form again with one more row, when an "add a row" button sent it (`None` otherwise).
fn with_added_row(data: &FormData, form: &ExperimentForm) -> Option<ExperimentForm> {
    match data.get("action") {
        "add_variant" => Some(form.clone().with_spare_rows(1, 0)),
        "add_rule" => Some(form.clone().with_spare_rows(0, 1)),
        "add_pin" => Some(form.clone().with_spare_pin()),
        _ => None,
    }
}

/// `POST /dashboard/experiments`: create, or (the "add a row" buttons) show the form again
/// with one more row, keeping everything typed.
pub async fn create(posted: Posted) -> PageResult {
    let Posted { user, engine, data } = posted;
    let mut form = form::read(&data);
    if let Some(with_row) = with_added_row(&data, &form) {
        return render_create(&user, &engine, &with_row, &FieldErrors::default());
    }
    form.compact();
    let draft = form::to_draft(&form);
    // Shown again with a blank targeting and pinned-rule row to fill in.
    let spare_rule = usize::from(form.rules.is_empty());
    let mut shown = form.clone().with_spare_rows(0, spare_rule);
    if shown.pins.is_empty() {
        shown = shown.with_spare_pin();
    }
    let draft = match draft {
        Ok(draft) => draft,
        Err(errors) => return render_create(&user, &engine, &shown, &errors),
    };
    let created = engine.create_experiment(&user.actor(), draft).await;
    match refused(created, |e| form::refusal(&form, e), conflict_at_field)? {
        Ok(created) => Ok(redirect(&format!(
            "{}?done=created",
            page_of(created.spec.key.as_str())
        ))),
        Err(errors) => render_create(&user, &engine, &shown, &errors),
    }
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

/// The experiment to edit: refused once stopped, its results being final.
async fn editable(engine: &Engine, key: &str) -> Result<Experiment, DashboardError> {
    let experiment = engine.experiment(key).await?;
    if experiment.status == Status::Stopped {
        return Err(DashboardError::Conflict(
            "A stopped experiment cannot be edited: its results are final.".into(),
        ));
    }
    Ok(experiment)
}

/// `GET /dashboard/experiments/{key}/edit`.
pub async fn edit_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    let experiment = editable(&engine, &key).await?;
    let form = form::of_experiment(&experiment);
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
pub async fn update(posted: Posted, key: web::Path<String>) -> PageResult {
    let Posted { user, engine, data } = posted;
    let experiment = editable(&engine, &key).await?;
    let mut form = form::read(&data);
    if let Some(with_row) = with_added_row(&data, &form) {
        return render_edit(
            &user,
            &engine,
            &experiment,
            &with_row,
            &FieldErrors::default(),
        );
    }
    // The edit form has no blank variant rows to drop: its variants are the experiment's.
    form.pins.retain(|p| !p.is_blank());
    form.rules.retain(|r| !r.is_blank());
    let patch = match form::to_patch(&form, &experiment) {
        Ok(patch) => patch,
        Err(errors) => return render_edit(&user, &engine, &experiment, &form, &errors),
    };
    let updated = engine.update_experiment(&user.actor(), &key, patch).await;
    match refused(updated, |e| form::refusal(&form, e), conflict_at_field)? {
        Ok(_) => Ok(redirect(&format!("{}?done=saved", page_of(&key)))),
        Err(errors) => render_edit(&user, &engine, &experiment, &form, &errors),
    }
}

/// A status change, then the experiment's page saying it is `done`.
async fn transition(posted: Posted, key: &str, transition: Transition, done: &str) -> PageResult {
    let actor = posted.user.actor();
    posted.engine.transition(&actor, key, transition).await?;
    Ok(redirect(&format!("{}?done={done}", page_of(key))))
}

/// `POST .../start`: starts a draft or resumes a paused experiment.
pub async fn start(posted: Posted, key: web::Path<String>) -> PageResult {
    transition(posted, &key, Transition::Start, "started").await
}

/// `POST .../pause`: reversible, so no confirmation.
pub async fn pause(posted: Posted, key: web::Path<String>) -> PageResult {
    transition(posted, &key, Transition::Pause, "paused").await
}

#[derive(Debug, Deserialize)]
pub struct StopQuery {
    winner: Option<String>,
}

/// The stop confirmation, with the winner preselected and the error of a refused attempt.
async fn render_stop(
    user: &SignedIn,
    engine: &Engine,
    key: &str,
    winner: Option<&str>,
    error: Option<&str>,
) -> PageResult {
    let (experiment, results) = tokio::try_join!(engine.experiment(key), engine.results(key))?;
    if !matches!(experiment.status, Status::Running | Status::Paused) {
        return Err(DashboardError::Conflict(format!(
            "Only a running or paused experiment can be stopped; this one is {}.",
            experiment.status
        )));
    }
    Ok(html(
        form_status(error.is_some()),
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
    render_stop(&user, &engine, &key, query.winner.as_deref(), None).await
}

/// `POST .../stop`: needs the confirmation box ticked; an optional winner.
pub async fn stop(posted: Posted, key: web::Path<String>) -> PageResult {
    let winner_text = posted.data.get("winner").trim();
    if posted.data.get("confirm") != "yes" {
        let error = "Tick the box to confirm: stopping cannot be undone.";
        let (user, engine) = (&posted.user, &posted.engine);
        return render_stop(user, engine, &key, Some(winner_text), Some(error)).await;
    }
    let winner = match winner_text {
        "" => None,
        text => {
            Some(VariantKey::parse(text).map_err(|e| DashboardError::BadRequest(e.to_string()))?)
        }
    };
    transition(posted, &key, Transition::Stop { winner }, "stopped").await
}
