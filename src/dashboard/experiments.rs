//! Experiment pages: the list, one experiment's results, the create and edit forms, and the
//! lifecycle buttons.

use super::error::{DashboardError, PageResult, conflict_at_field, refused};
use super::forms::{FormData, experiment as form};
use super::page::{form_html, form_status, html, query_encode, redirect, with_server_timing};
use super::session::{Posted, SignedIn};
use crate::domain::{Experiment, Metric, MetricRole, Status, VariantKey};
use crate::engine::metric_results::GuardrailStatus;
use crate::engine::summaries::ExperimentSummary;
use crate::engine::{Engine, Transition};
use crate::templates::experiment_form::{self, CreateView, EditView};
use crate::templates::experiment_list::{self, ListView};
use crate::templates::experiment_metrics::{self, MetricsEditView};
use crate::templates::experiment_page::{self, ExperimentView, REFRESH_CHOICES};
use crate::templates::form_values::{ExperimentForm, FieldErrors};
use crate::templates::stop_confirmation::{self, StopView};
use actix_web::http::StatusCode;
use actix_web::web;
use chrono::Utc;
use futures_util::future::join_all;
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

/// `GET /dashboard/experiments[?status=running]`: one aggregate read for every experiment.
pub async fn list(
    user: SignedIn,
    engine: web::Data<Engine>,
    query: web::Query<ListQuery>,
) -> PageResult {
    let started = Instant::now();
    let experiments = engine.experiment_summaries().await?;
    let filter = query.status.as_deref().and_then(Status::parse);
    let shown: Vec<_> = experiments
        .iter()
        .filter(|e| filter.is_none_or(|s| e.experiment.status == s))
        .collect();
    let failing_guardrails = failing_guardrails(&engine, &shown).await;
    let fetched = started.elapsed();
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
        failing_guardrails: &failing_guardrails,
    });
    Ok(with_server_timing(
        html(StatusCode::OK, markup),
        started,
        fetched,
    ))
}

/// The guardrails each shown experiment fails, by experiment key. Only running and paused
/// experiments that declare guardrails are looked at, each through its (cached) results, side
/// by side; the rest of the list needs no results. An experiment whose results cannot be read
/// is left unmarked (and logged) rather than failing the whole list.
async fn failing_guardrails(
    engine: &Engine,
    shown: &[&ExperimentSummary],
) -> HashMap<String, Vec<String>> {
    let watched = shown.iter().map(|s| &s.experiment).filter(|e| {
        matches!(e.status, Status::Running | Status::Paused)
            && !e.spec.metrics.guardrails.is_empty()
    });
    let looked_at = join_all(watched.map(|e| async move {
        let key = e.spec.key.as_str();
        (key, engine.overview(key).await)
    }))
    .await;
    let mut failing = HashMap::new();
    for (key, overview) in looked_at {
        match overview {
            Ok(o) => {
                let names: Vec<String> = o
                    .results
                    .metrics
                    .iter()
                    .filter(|m| {
                        m.role == MetricRole::Guardrail
                            && m.status == Some(GuardrailStatus::Failing)
                    })
                    .map(|m| m.name.clone())
                    .collect();
                if !names.is_empty() {
                    failing.insert(key.to_string(), names);
                }
            }
            Err(e) => {
                tracing::warn!(experiment = key, error = %e, "dashboard: the list could not read the guardrails")
            }
        }
    }
    failing
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
    let (overview, library) = tokio::try_join!(engine.overview(&key), engine.list_metrics())?;
    let (experiment, results, series) = (overview.experiment, overview.results, overview.series);
    let ope = if query.ope.is_some() {
        Some(engine.ope(&key).await?)
    } else {
        engine.cached_ope(experiment.id)
    };
    let firings = if experiment.spec.metrics.guardrails.is_empty() {
        Vec::new()
    } else {
        engine.guardrail_firings(experiment.id).await?
    };
    let fetched = started.elapsed();
    let refresh = query
        .refresh
        .as_deref()
        .and_then(|r| r.parse::<u32>().ok())
        .filter(|r| REFRESH_CHOICES.contains(r));
    let segment_names = engine.snapshot().segments.names().clone();
    let metric_names: HashMap<String, String> = library
        .into_iter()
        .map(|m| (m.spec.key.into_inner(), m.spec.name))
        .collect();
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
        metric_names: &metric_names,
        firings: &firings,
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

/// `GET /dashboard/new`: an empty form (with a blank pinned-rule and guardrail row).
pub async fn new_form(user: SignedIn, engine: web::Data<Engine>) -> PageResult {
    let form = ExperimentForm::default()
        .with_spare_pin()
        .with_spare_guardrail();
    render_create(&user, &engine, &form, &FieldErrors::default()).await
}

async fn render_create(
    user: &SignedIn,
    engine: &Engine,
    form: &ExperimentForm,
    errors: &FieldErrors,
) -> PageResult {
    let metrics = engine.list_metrics().await?;
    Ok(form_html(
        errors,
        experiment_form::create_page(&CreateView {
            csrf: &user.csrf,
            form,
            errors,
            segments: &segment_choices(engine),
            metrics: &metrics,
        }),
    ))
}

/// The form again with one more row, when an "add a row" button sent it (`None` otherwise).
fn with_added_row(data: &FormData, form: &ExperimentForm) -> Option<ExperimentForm> {
    match data.get("action") {
        "add_variant" => Some(form.clone().with_spare_rows(1, 0)),
        "add_rule" => Some(form.clone().with_spare_rows(0, 1)),
        "add_pin" => Some(form.clone().with_spare_pin()),
        "add_guardrail" => Some(form.clone().with_spare_guardrail()),
        _ => None,
    }
}

/// The form shown again after a refusal: compacted, with a blank row where a list is empty.
fn with_blank_rows(form: &ExperimentForm) -> ExperimentForm {
    let spare_rule = usize::from(form.rules.is_empty());
    let mut shown = form.clone().with_spare_rows(0, spare_rule);
    if shown.pins.is_empty() {
        shown = shown.with_spare_pin();
    }
    if shown.guardrails.is_empty() {
        shown = shown.with_spare_guardrail();
    }
    shown
}

/// `POST /dashboard/experiments`: create, or (the "add a row" buttons) show the form again
/// with one more row, keeping everything typed.
pub async fn create(posted: Posted) -> PageResult {
    let Posted { user, engine, data } = posted;
    let mut form = form::read(&data);
    if let Some(with_row) = with_added_row(&data, &form) {
        return render_create(&user, &engine, &with_row, &FieldErrors::default()).await;
    }
    form.compact();
    let draft = form::to_draft(&form);
    // Shown again with a blank targeting, pinned-rule and guardrail row to fill in.
    let shown = with_blank_rows(&form);
    let draft = match draft {
        Ok(draft) => draft,
        Err(errors) => return render_create(&user, &engine, &shown, &errors).await,
    };
    let created = engine.create_experiment(&user.actor(), draft).await;
    match refused(created, |e| form::refusal(&form, e), conflict_at_field)? {
        Ok(created) => Ok(redirect(&format!(
            "{}?done=created",
            page_of(created.spec.key.as_str())
        ))),
        Err(errors) => render_create(&user, &engine, &shown, &errors).await,
    }
}

/// Which edit form: everything that may change (not once stopped), or the metrics alone
/// (which may change even once the experiment is stopped).
#[derive(Clone, Copy, PartialEq)]
enum EditForm {
    Everything,
    MetricsOnly,
}

async fn render_edit(
    user: &SignedIn,
    engine: &Engine,
    experiment: &Experiment,
    form: &ExperimentForm,
    errors: &FieldErrors,
    which: EditForm,
) -> PageResult {
    let metrics: Vec<Metric> = engine.list_metrics().await?;
    let markup = match which {
        EditForm::Everything => experiment_form::edit_page(&EditView {
            csrf: &user.csrf,
            experiment,
            form,
            errors,
            segments: &segment_choices(engine),
            metrics: &metrics,
        }),
        EditForm::MetricsOnly => experiment_metrics::metrics_page(&MetricsEditView {
            csrf: &user.csrf,
            experiment,
            form,
            errors,
            library: &metrics,
        }),
    };
    Ok(form_html(errors, markup))
}

/// The experiment to edit with `which` form: everything is refused once stopped, its
/// results being final.
async fn editable(
    engine: &Engine,
    key: &str,
    which: EditForm,
) -> Result<Experiment, DashboardError> {
    let experiment = engine.experiment(key).await?;
    if experiment.status == Status::Stopped && which == EditForm::Everything {
        return Err(DashboardError::Conflict(
            "A stopped experiment cannot be edited: its results are final.".into(),
        ));
    }
    Ok(experiment)
}

/// The edit form of an experiment, with a blank row where a list is empty.
async fn show_edit(user: SignedIn, engine: &Engine, key: &str, which: EditForm) -> PageResult {
    let experiment = editable(engine, key, which).await?;
    let form = form::of_experiment(&experiment);
    let spare_rule = usize::from(form.rules.is_empty());
    let mut form = form.with_spare_rows(0, spare_rule);
    if form.guardrails.is_empty() {
        form = form.with_spare_guardrail();
    }
    render_edit(
        &user,
        engine,
        &experiment,
        &form,
        &FieldErrors::default(),
        which,
    )
    .await
}

/// Saves an edit form (or shows it again with one more row).
async fn save_edit(posted: Posted, key: &str, which: EditForm) -> PageResult {
    let Posted { user, engine, data } = posted;
    let experiment = editable(&engine, key, which).await?;
    let mut form = form::read(&data);
    if let Some(with_row) = with_added_row(&data, &form) {
        let no_errors = FieldErrors::default();
        return render_edit(&user, &engine, &experiment, &with_row, &no_errors, which).await;
    }
    // The edit form has no blank variant rows to drop: its variants are the experiment's.
    form.pins.retain(|p| !p.is_blank());
    form.rules.retain(|r| !r.is_blank());
    form.guardrails.retain(|g| !g.is_blank());
    let patch = match which {
        EditForm::Everything => form::to_patch(&form, &experiment),
        EditForm::MetricsOnly => form::to_metrics_patch(&form, &experiment),
    };
    let patch = match patch {
        Ok(patch) => patch,
        Err(errors) => {
            return render_edit(&user, &engine, &experiment, &form, &errors, which).await;
        }
    };
    let saved = redirect(&format!("{}?done=saved", page_of(key)));
    if patch.only_metrics() && patch.metrics.is_none() {
        return Ok(saved); // nothing changed: no write, no audit entry
    }
    let updated = engine.update_experiment(&user.actor(), key, patch).await;
    match refused(updated, |e| form::refusal(&form, e), conflict_at_field)? {
        Ok(_) => Ok(saved),
        Err(errors) => render_edit(&user, &engine, &experiment, &form, &errors, which).await,
    }
}

/// `GET /dashboard/experiments/{key}/edit`.
pub async fn edit_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    show_edit(user, &engine, &key, EditForm::Everything).await
}

/// `POST /dashboard/experiments/{key}/edit`.
pub async fn update(posted: Posted, key: web::Path<String>) -> PageResult {
    save_edit(posted, &key, EditForm::Everything).await
}

/// `GET /dashboard/experiments/{key}/metrics`: the secondary metrics and guardrails alone
/// (a stopped experiment's page links here).
pub async fn metrics_form(
    user: SignedIn,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> PageResult {
    show_edit(user, &engine, &key, EditForm::MetricsOnly).await
}

/// `POST /dashboard/experiments/{key}/metrics`: save them (or add a guardrail row).
pub async fn update_metrics(posted: Posted, key: web::Path<String>) -> PageResult {
    save_edit(posted, &key, EditForm::MetricsOnly).await
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
