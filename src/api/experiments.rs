//! `/api/v1/experiments`: create, read, edit, and move through the lifecycle.

use super::ApiResult;
use super::auth::Admin;
use super::json::Json;
use crate::domain::{Experiment, ExperimentDraft, ExperimentPatch, VariantKey};
use crate::engine::{Engine, Transition};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/experiments")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/experiments/{key}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    )
    .route("/experiments/{key}/start", web::post().to(start))
    .route("/experiments/{key}/pause", web::post().to(pause))
    .route("/experiments/{key}/stop", web::post().to(stop))
    .route("/experiments/{key}/results", web::get().to(results))
    .route("/experiments/{key}/ope", web::get().to(ope));
}

/// Creates an experiment (status `draft`).
#[utoipa::path(post, path = "/api/v1/experiments", tag = "experiments",
    request_body = ExperimentDraft,
    responses(
        (status = 201, description = "Created", body = Experiment),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        (status = 409, description = "The change conflicts with the experiment's status", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn create(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    draft: Json<ExperimentDraft>,
) -> ApiResult {
    let experiment = engine.create_experiment(&actor, draft.into_inner()).await?;
    Ok(HttpResponse::Created().json(experiment))
}

/// Lists every experiment.
#[utoipa::path(get, path = "/api/v1/experiments", tag = "experiments",
    responses(
        (status = 200, description = "Every experiment", body = ExperimentList),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn list(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    let experiments = engine.list_experiments().await?;
    Ok(HttpResponse::Ok().json(ExperimentList { experiments }))
}

/// `GET /api/v1/experiments`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExperimentList {
    pub experiments: Vec<Experiment>,
}

/// One experiment.
#[utoipa::path(get, path = "/api/v1/experiments/{key}", tag = "experiments", params(super::responses::ExperimentPath),
    responses(
        (status = 200, description = "The experiment", body = Experiment),
        (status = 404, response = super::responses::UnknownExperiment),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn get(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.experiment(&key).await?))
}

/// Edits what may change while running.
#[utoipa::path(patch, path = "/api/v1/experiments/{key}", tag = "experiments", params(super::responses::ExperimentPath),
    request_body = ExperimentPatch,
    responses(
        (status = 200, description = "The changed experiment", body = Experiment),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        super::responses::ExperimentFailures,
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn update(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    patch: Json<ExperimentPatch>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(
        engine
            .update_experiment(&actor, &key, patch.into_inner())
            .await?,
    ))
}

/// Starts (or resumes) an experiment.
#[utoipa::path(post, path = "/api/v1/experiments/{key}/start", tag = "experiments", params(super::responses::ExperimentPath),
    responses(
        (status = 200, description = "The running experiment", body = Experiment),
        super::responses::ExperimentFailures,
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn start(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.transition(&actor, &key, Transition::Start).await?))
}

/// Pauses an experiment: enrolled users keep their variant, nobody new is enrolled.
#[utoipa::path(post, path = "/api/v1/experiments/{key}/pause", tag = "experiments", params(super::responses::ExperimentPath),
    responses(
        (status = 200, description = "The paused experiment", body = Experiment),
        super::responses::ExperimentFailures,
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn pause(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.transition(&actor, &key, Transition::Pause).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    #[serde(default)]
    pub winner: Option<VariantKey>,
}

/// Stops an experiment; `stop` takes an optional `{"winner": "b"}` that every user then
/// gets. An empty body stops without a winner.
#[utoipa::path(post, path = "/api/v1/experiments/{key}/stop", tag = "experiments", params(super::responses::ExperimentPath),
    request_body(content = Option<StopBody>, description = "Optional: the winner"),
    responses(
        (status = 200, description = "The stopped experiment", body = Experiment),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        super::responses::ExperimentFailures,
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn stop(
    Admin(actor): Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let body: StopBody = if body.iter().all(u8::is_ascii_whitespace) {
        StopBody::default()
    } else {
        super::json::parse(&body)?
    };
    Ok(HttpResponse::Ok().json(
        engine
            .transition(
                &actor,
                &key,
                Transition::Stop {
                    winner: body.winner,
                },
            )
            .await?,
    ))
}

/// Statistics per variant.
#[utoipa::path(get, path = "/api/v1/experiments/{key}/results", tag = "experiments", params(super::responses::ExperimentPath),
    responses(
        (status = 200, description = "Results per variant", body = crate::engine::ExperimentResults),
        (status = 404, response = super::responses::UnknownExperiment),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn results(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.results(&key).await?))
}

/// Off-policy evaluation: what other policies would have earned on the logged users
/// (inverse propensity scoring and its self-normalized form, with 95% intervals). Scans the
/// experiment's raw assignments; answers are cached for a few seconds.
#[utoipa::path(get, path = "/api/v1/experiments/{key}/ope", tag = "experiments", params(super::responses::ExperimentPath),
    responses(
        (status = 200, description = "Estimates per policy", body = crate::engine::ope::OpeReport),
        (status = 404, response = super::responses::UnknownExperiment),
        super::responses::AdminFailures
    ),
    security(("bearer" = ["admin"]), ("api_key" = ["admin"]))
)]
pub async fn ope(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(&*engine.ope(&key).await?))
}
