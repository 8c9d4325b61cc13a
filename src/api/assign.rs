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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub user_id: UserId,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub experiments: Option<Vec<ExperimentKey>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AssignmentOut<'a> {
    experiment: &'a str,
    variant: &'a str,
    #[schema(value_type = serde_json::Value)]
    payload: &'a RawValue,
    /// The segment of the pinned rule that decided; absent when the experiment itself did
    /// (a pinned user is not part of the experiment's statistics).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "returning-buyers")]
    rule: Option<&'a str>,
    /// Factorial experiments: each factor's level in the user's cell (`variant` joins them
    /// with dots, `payload` has one member per factor).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"content": "discount", "timing": "evening"}))]
    levels: Option<&'a RawValue>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AssignResponse<'a> {
    assignments: Vec<AssignmentOut<'a>>,
    /// True when the user is in the server-wide holdout: no experiment at all (and
    /// `assignments` is empty).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    holdout: bool,
}

/// The variants of a user in every live experiment asked for (all when omitted) whose
/// targeting the user matches. Sticky: a user keeps a variant for the experiment's life.
#[utoipa::path(post, path = "/api/v1/assign", tag = "apps",
    request_body = AssignRequest,
    responses(
        (status = 200, description = "The user's assignments", body = AssignResponse),
        (status = 404, description = "An experiment named in `experiments` does not exist", body = super::ErrorBody),
        (status = 400, description = "Malformed JSON or invalid input", body = super::ErrorBody),
        (status = 413, response = super::responses::PayloadTooLarge),
        super::responses::ClientFailures
    ),
    security(("bearer" = ["client"]), ("api_key" = ["client"]))
)]
pub async fn assign(_: Client, engine: web::Data<Engine>, body: Json<AssignRequest>) -> ApiResult {
    let request = body.into_inner();
    let limits = engine.limits();
    limits.check_user_id("user_id", request.user_id.as_str())?;
    limits.check_attributes(&request.attributes)?;
    if let Some(keys) = &request.experiments
        && keys.len() > MAX_EXPERIMENTS_PER_REQUEST
    {
        return Err(super::ApiError::Invalid(format!(
            "at most {MAX_EXPERIMENTS_PER_REQUEST} experiments per request"
        )));
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
            payload: a.payload(),
            rule: a.rule.as_deref(),
            levels: a.variant().levels.as_deref(),
        })
        .collect();
    metrics::counter!(crate::telemetry::ASSIGNMENTS, "via" => "api")
        .increment(assigned.len() as u64);
    Ok(HttpResponse::Ok().json(AssignResponse {
        assignments,
        holdout: assigned.holdout,
    }))
}
