//! `/api/v1/experiments`: create, read, edit, and move through the lifecycle.

use super::ApiResult;
use super::auth::Admin;
use super::json::Json;
use crate::domain::{ExperimentDraft, ExperimentPatch, VariantKey};
use crate::engine::{Engine, Transition};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

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
    .route("/experiments/{key}/results", web::get().to(results));
}

async fn create(_: Admin, engine: web::Data<Engine>, draft: Json<ExperimentDraft>) -> ApiResult {
    let experiment = engine.create_experiment(draft.into_inner()).await?;
    Ok(HttpResponse::Created().json(experiment))
}

async fn list(_: Admin, engine: web::Data<Engine>) -> ApiResult {
    let experiments = engine.list_experiments().await?;
    Ok(HttpResponse::Ok().json(json!({ "experiments": experiments })))
}

async fn get(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.experiment(&key).await?))
}

async fn update(
    _: Admin,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    patch: Json<ExperimentPatch>,
) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.update_experiment(&key, patch.into_inner()).await?))
}

async fn start(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.transition(&key, Transition::Start).await?))
}

async fn pause(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.transition(&key, Transition::Pause).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    #[serde(default)]
    winner: Option<VariantKey>,
}

/// `stop` takes an optional `{"winner": "b"}`; an empty body stops without a winner.
async fn stop(
    _: Admin,
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
                &key,
                Transition::Stop {
                    winner: body.winner,
                },
            )
            .await?,
    ))
}

async fn results(_: Admin, engine: web::Data<Engine>, key: web::Path<String>) -> ApiResult {
    Ok(HttpResponse::Ok().json(engine.results(&key).await?))
}
