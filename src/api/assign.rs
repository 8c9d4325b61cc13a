//! `POST /api/v1/assign`: which variant a user gets in each live experiment.

use super::ApiResult;
use super::auth::Client;
use super::json::Json;
use crate::domain::{Attributes, ExperimentKey, UserId};
use crate::engine::Engine;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// At most this many experiments may be named in one request.
pub const MAX_EXPERIMENTS_PER_REQUEST: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub user_id: UserId,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub experiments: Option<Vec<ExperimentKey>>,
}

#[derive(Serialize)]
struct AssignmentOut<'a> {
    experiment: &'a str,
    variant: &'a str,
    payload: &'a RawValue,
}

#[derive(Serialize)]
struct AssignResponse<'a> {
    assignments: Vec<AssignmentOut<'a>>,
}

pub async fn assign(_: Client, engine: web::Data<Engine>, body: Json<AssignRequest>) -> ApiResult {
    let request = body.into_inner();
    if let Some(keys) = &request.experiments {
        if keys.len() > MAX_EXPERIMENTS_PER_REQUEST {
            return Err(super::ApiError::Invalid(format!(
                "at most {MAX_EXPERIMENTS_PER_REQUEST} experiments per request"
            )));
        }
    }
    let assigned = engine
        .assign(
            &request.user_id,
            &request.attributes,
            request.experiments.as_deref(),
        )
        .await?;
    let assignments = assigned
        .iter()
        .map(|a| AssignmentOut {
            experiment: a.experiment.key.as_str(),
            variant: &a.variant().key,
            payload: &a.variant().payload,
        })
        .collect();
    metrics::counter!(crate::telemetry::ASSIGNMENTS, "via" => "api").increment(assigned.len() as u64);
    Ok(HttpResponse::Ok().json(AssignResponse { assignments }))
}
