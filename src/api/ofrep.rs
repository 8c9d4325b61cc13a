//! The OpenFeature Remote Evaluation Protocol (OFREP 0.3.0): an experiment is a flag.
//!
//! - `context.targetingKey` is the user id; every other context field is an attribute.
//! - `variant` is the variant key; `value` is the variant's payload when the experiment has
//!   payloads (all of one JSON type, checked at creation) and the variant key otherwise.
//! - `reason`: `SPLIT` for an A/B or bandit assignment, `TARGETING_MATCH` for the declared
//!   winner of a stopped experiment or a pinned rule (`metadata.rule` names its segment),
//!   `DISABLED` (with `metadata.holdout: true` for a user in the holdout) when the experiment gives the user no
//!   assignment (draft, stopped without winner, targeting or traffic left the user out, paused
//!   and the user was never enrolled). A `DISABLED` answer still carries a value, the
//!   control's (payload or key), so an app that uses the value directly shows what users
//!   outside the experiment see; `metadata.assigned` is `false` then.
//! - Evaluation goes through `Engine::assign`, the sticky path: an OFREP client gets the
//!   same variants as `POST /api/v1/assign`, and a new user's assignment is stored (with
//!   attributes and propensity) before the answer.
//!
//! - A factorial experiment also answers one flag per factor, `{experiment}.{factor}`: its
//!   `variant` is the user's level of that factor and its `value` that level's payload (the
//!   level key when the factor has no payloads), so an app reads one factor with any SDK. A
//!   key that names an experiment is that experiment, even if it could also read as a factor.
//!
//! Errors follow the protocol and always carry `errorDetails` (and `key` when a flag was
//! named): 400 `PARSE_ERROR` / `INVALID_CONTEXT` / `TARGETING_KEY_MISSING`, 404
//! `FLAG_NOT_FOUND`, 401 / 403 for a missing or insufficient key.

use super::ApiError;
use super::auth;
use crate::domain::{Attributes, Scope, Status, UserId};
use crate::engine::{Assigned, Engine, LiveExperiment, Snapshot};
use crate::telemetry::{ASSIGNMENTS, OFREP_EVALUATIONS};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/ofrep/v1/evaluate/flags/{key}",
        web::post().to(evaluate_flag),
    )
    .route("/ofrep/v1/evaluate/flags", web::post().to(evaluate_flags));
}

// ---- wire types ----------------------------------------------------------------------------

/// An evaluation request. `context` may be omitted (the SDKs send `{}` when the app gave no
/// context); unknown top-level fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EvaluationRequest {
    /// `targetingKey` (the user id) and the user's attributes (strings, numbers, booleans).
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"targetingKey": "u-42", "platform": "ios"}))]
    pub context: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    Split,
    TargetingMatch,
    Disabled,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Split => "SPLIT",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Disabled => "DISABLED",
        }
    }
}

/// Flat metadata about the experiment behind a flag.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagMetadata {
    pub experiment: String,
    /// `ab`, `bandit` or `factorial`.
    pub kind: &'static str,
    /// `content`, `timing` or `trigger` (a factor flag's: its factor's).
    pub dimension: &'static str,
    /// A factor flag's factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<String>,
    /// A factor flag's cell: the experiment's variant, every factor's level joined by dots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// `draft`, `running`, `paused` or `stopped`.
    pub status: &'static str,
    /// Whether the user has an assignment (false exactly when the reason is `DISABLED`).
    pub assigned: bool,
    /// The segment of the pinned rule that decided (reason `TARGETING_MATCH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// True when the user is in the server-wide holdout (reason `DISABLED`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub holdout: bool,
}

/// A successful evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationSuccess {
    pub key: String,
    /// The variant's payload, or its key when the experiment has no payloads.
    #[schema(value_type = serde_json::Value)]
    pub value: Box<RawValue>,
    pub reason: Reason,
    /// The variant key.
    pub variant: String,
    pub metadata: FlagMetadata,
}

/// A failed evaluation (a whole answer, or one entry of a bulk answer).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationFailure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `PARSE_ERROR`, `TARGETING_KEY_MISSING`, `INVALID_CONTEXT`, `FLAG_NOT_FOUND` or `GENERAL`.
    pub error_code: &'static str,
    pub error_details: String,
}

/// The failures both OFREP routes may answer, documented once (in OFREP's shape).
#[derive(utoipa::IntoResponses)]
pub enum OfrepFailures {
    #[response(status = 401, description = "No API key, or an unknown one")]
    Unauthorized(EvaluationFailure),
    #[response(status = 403, description = "The key may not evaluate flags")]
    Forbidden(EvaluationFailure),
    #[response(status = 413, description = "The body is too large")]
    PayloadTooLarge(EvaluationFailure),
    #[response(
        status = 429,
        description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    RateLimited(EvaluationFailure),
    #[response(status = 500, description = "GENERAL")]
    Internal(EvaluationFailure),
    #[response(
        status = 503,
        description = "GENERAL: the database is unavailable; retry after Retry-After",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    Unavailable(EvaluationFailure),
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BulkEntry {
    Success(EvaluationSuccess),
    Failure(EvaluationFailure),
}

/// Every flag (experiment) evaluated for the context, sorted by key.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkEvaluation {
    pub flags: Vec<BulkEntry>,
}

// ---- errors --------------------------------------------------------------------------------

struct Failure {
    status: StatusCode,
    body: EvaluationFailure,
    /// Seconds, for 429 (OFREP: "Rate limit reached", with Retry-After).
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, details: impl Into<String>) -> Self {
        Failure {
            status,
            body: EvaluationFailure {
                key: None,
                error_code: code,
                error_details: details.into(),
            },
            retry_after: None,
        }
    }

    fn parse(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "PARSE_ERROR", details)
    }

    fn invalid_context(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", details)
    }

    fn targeting_key_missing() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "TARGETING_KEY_MISSING",
            "this flag is an experiment: send the user id as context.targetingKey",
        )
    }

    fn flag_not_found(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no experiment has the key {key:?}"),
        )
    }

    fn with_key(mut self, key: &str) -> Self {
        self.body.key = Some(key.to_string());
        self
    }

    fn response(self) -> HttpResponse {
        metrics::counter!(OFREP_EVALUATIONS, "result" => self.body.error_code).increment(1);
        let mut response = HttpResponse::build(self.status);
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self.body)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        use actix_web::ResponseError;
        let status = e.status_code();
        let details = match &e {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; see the server log".to_string()
            }
            ApiError::Unavailable(_) => "the database is unavailable; retry shortly".to_string(),
            other => other.to_string(),
        };
        Failure::new(status, "GENERAL", details)
    }
}

// ---- parsing the request -------------------------------------------------------------------

/// The user and attributes a context describes.
struct Subject {
    user: Option<UserId>,
    attributes: Attributes,
}

fn parse_request(body: &[u8], limits: &crate::engine::Limits) -> Result<Subject, Failure> {
    let request: EvaluationRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EvaluationRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Failure::parse(format!(
                "the body must be a JSON object like {{\"context\": {{\"targetingKey\": \"u-1\"}}}}: {e}"
            ))
        })?
    };
    let mut context = request.context.unwrap_or_default();
    let user = match context.remove("targetingKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(
            UserId::parse(s)
                .map_err(|e| Failure::invalid_context(format!("targetingKey: {}", e.violation)))?,
        ),
        Some(other) => {
            return Err(Failure::invalid_context(format!(
                "targetingKey must be a string, not {other}"
            )));
        }
    };
    let attributes = Attributes::parse(context)
        .map_err(|e| Failure::invalid_context(format!("context {}: {}", e.field, e.violation)))?;
    if let Some(user) = &user {
        limits
            .check_user_id("targetingKey", user.as_str())
            .map_err(|e| Failure::invalid_context(e.to_string()))?;
    }
    limits
        .check_attributes(&attributes)
        .map_err(|e| Failure::invalid_context(format!("context {e}")))?;
    Ok(Subject { user, attributes })
}

/// 429 in OFREP's shape ("Rate limit reached", with Retry-After): a key over its rate limit,
/// or an address over its budget of failed authentications.
fn too_many(error: ApiError, wait: std::time::Duration) -> Failure {
    let mut failure = Failure::new(StatusCode::TOO_MANY_REQUESTS, "GENERAL", error.to_string());
    failure.retry_after = Some(crate::engine::throttle::retry_after_seconds(wait));
    failure
}

fn authorize(req: &HttpRequest) -> Result<(), Failure> {
    auth::authorize(req, Scope::Client)
        .map(|_| ())
        .map_err(|e| match e {
            ApiError::Unauthorized(m) => Failure::new(StatusCode::UNAUTHORIZED, "GENERAL", m),
            ApiError::Forbidden(m) => Failure::new(StatusCode::FORBIDDEN, "GENERAL", m),
            ApiError::RateLimited(wait) => too_many(ApiError::RateLimited(wait), wait),
            ApiError::TooManyFailures(wait) => too_many(ApiError::TooManyFailures(wait), wait),
            other => other.into(),
        })
}

// ---- evaluation ----------------------------------------------------------------------------

/// The JSON value of variant `index` as a flag value.
pub fn flag_value(live: &LiveExperiment, index: usize) -> Box<RawValue> {
    let has_payloads = live.variants.iter().any(|v| v.payload.get() != "null");
    let variant = &live.variants[index];
    if !has_payloads {
        return serde_json::value::to_raw_value(&variant.key).expect("a string serializes");
    }
    let is_float = |raw: &RawValue| matches!(serde_json::from_str::<Value>(raw.get()), Ok(Value::Number(n)) if n.is_f64());
    typed(
        &variant.payload,
        live.variants.iter().any(|v| is_float(&v.payload)),
    )
}

/// A flag's value as the SDKs should type it. Payloads of one flag share a JSON type, but
/// PostgreSQL's JSONB turns a float written in exponent form (`1e16`, as serde writes large
/// floats) into an integer (`10000000000000000`). OpenFeature clients type numbers by their
/// text, so when any value of a flag is a float (`float_flag`), integral numbers are written
/// as floats (`…0.0`) and a float flag stays a float.
fn typed(value: &RawValue, float_flag: bool) -> Box<RawValue> {
    let is_integer =
        matches!(serde_json::from_str::<Value>(value.get()), Ok(Value::Number(n)) if !n.is_f64());
    if float_flag
        && is_integer
        && let Ok(float) = RawValue::from_string(format!("{}.0", value.get()))
    {
        return float;
    }
    value.to_owned()
}

fn success(live: &LiveExperiment, index: usize, reason: Reason) -> EvaluationSuccess {
    let spec = &live.definition.spec;
    metrics::counter!(OFREP_EVALUATIONS, "result" => reason.as_str()).increment(1);
    if reason != Reason::Disabled {
        metrics::counter!(ASSIGNMENTS, "via" => "ofrep").increment(1);
    }
    EvaluationSuccess {
        key: live.key.to_string(),
        value: flag_value(live, index),
        reason,
        variant: live.variants[index].key.clone(),
        metadata: FlagMetadata {
            experiment: live.key.to_string(),
            kind: spec.kind.as_str(),
            dimension: spec.dimension.as_str(),
            status: live.status.as_str(),
            assigned: reason != Reason::Disabled,
            factor: None,
            cell: None,
            rule: None,
            holdout: false,
        },
    }
}

/// A flag: an experiment, or one factor of a factorial experiment (`{experiment}.{factor}`).
struct Flag<'a> {
    live: &'a Arc<LiveExperiment>,
    factor: Option<usize>,
}

impl Flag<'_> {
    /// The flag's key: the experiment's, or `{experiment}.{factor}`.
    fn key(&self) -> String {
        match self.factor {
            Some(f) => format!(
                "{}.{}",
                self.live.key, self.live.definition.spec.factors[f].key
            ),
            None => self.live.key.to_string(),
        }
    }
}

/// The flag a key names: an experiment by its key, else a factor of the factorial experiment
/// before the key's last dot.
fn find_flag<'a>(snapshot: &'a Snapshot, key: &str) -> Option<Flag<'a>> {
    if let Some(live) = snapshot.get(key) {
        return Some(Flag { live, factor: None });
    }
    let (experiment, factor) = key.rsplit_once('.')?;
    let live = snapshot.get(experiment)?;
    let factor = live
        .definition
        .spec
        .factors
        .iter()
        .position(|f| f.key.as_str() == factor)?;
    Some(Flag {
        live,
        factor: Some(factor),
    })
}

/// The answer of factor `factor` from the answer of its experiment (cell `cell`): the
/// user's level of that factor and its payload (taken from the cell's value, so a payload
/// filled for the user stays filled).
fn factor_success(
    live: &LiveExperiment,
    cell: usize,
    factor: usize,
    mut answer: EvaluationSuccess,
) -> EvaluationSuccess {
    let spec = &live.definition.spec;
    let f = &spec.factors[factor];
    let level = crate::domain::factorial::levels_of(&spec.factors, cell)[factor];
    let payloads: Vec<&Value> = f.levels.iter().map(|l| &l.payload).collect();
    let value = if payloads.iter().all(|p| p.is_null()) {
        Value::from(f.levels[level].key.as_str())
    } else {
        serde_json::from_str::<Value>(answer.value.get())
            .ok()
            .and_then(|mut v| v.get_mut(f.key.as_str()).map(Value::take))
            .unwrap_or_else(|| f.levels[level].payload.clone())
    };
    let float_flag = payloads
        .iter()
        .any(|p| matches!(p, Value::Number(n) if n.is_f64()));
    let raw = serde_json::value::to_raw_value(&value).expect("a JSON value serializes");
    answer.key = format!("{}.{}", live.key, f.key);
    answer.value = typed(&raw, float_flag);
    answer.metadata.cell = Some(std::mem::replace(
        &mut answer.variant,
        f.levels[level].key.to_string(),
    ));
    answer.metadata.dimension = f.dimension.as_str();
    answer.metadata.factor = Some(f.key.to_string());
    answer
}

/// An experiment's answer as the flag asks for it: the experiment's, or one factor's.
fn as_flag(flag: &Flag<'_>, cell: usize, answer: EvaluationSuccess) -> EvaluationSuccess {
    match flag.factor {
        Some(factor) => factor_success(flag.live, cell, factor, answer),
        None => answer,
    }
}

/// The answer for an assignment the engine gave: a winner or a pinned rule is a targeting
/// match (with the rule in the metadata), anything else a split.
fn assigned_success(a: &Assigned) -> EvaluationSuccess {
    let reason = if a.experiment.status == Status::Stopped || a.rule.is_some() {
        Reason::TargetingMatch
    } else {
        Reason::Split
    };
    let mut answer = success(&a.experiment, a.variant, reason);
    answer.metadata.rule = a.rule.as_deref().map(str::to_string);
    // A payload filled for this user (`best_hour_of`) is their value; placeholders sit in
    // objects, so the payload's JSON type is the variant's.
    if let Some(personal) = &a.payload {
        answer.value = personal.clone();
    }
    answer
}

/// The answer for a held-out user: disabled, with the control's value.
fn held_out(live: &LiveExperiment) -> EvaluationSuccess {
    let mut answer = success(live, live.control, Reason::Disabled);
    answer.metadata.holdout = true;
    answer
}

/// Evaluates one flag for a subject without a user id: only experiments that need no user
/// (draft, stopped) can answer. Also returns the variant answered.
fn evaluate_without_user(live: &LiveExperiment) -> Result<(usize, EvaluationSuccess), Failure> {
    match (live.status, live.winner) {
        (Status::Stopped, Some(winner)) => {
            Ok((winner, success(live, winner, Reason::TargetingMatch)))
        }
        (Status::Draft | Status::Stopped, _) => {
            Ok((live.control, success(live, live.control, Reason::Disabled)))
        }
        (Status::Running | Status::Paused, _) => Err(Failure::targeting_key_missing()),
    }
}

/// Evaluates one flag (experiment) for a context.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "ofrep",
    params(("key" = String, Path, description = "The flag key: an experiment's key", example = "push-time")),
    request_body(content = EvaluationRequest, description = "The evaluation context"),
    responses(
        (status = 200, description = "The flag's value for the context", body = EvaluationSuccess),
        (status = 400, description = "PARSE_ERROR, INVALID_CONTEXT or TARGETING_KEY_MISSING", body = EvaluationFailure),
        (status = 404, description = "FLAG_NOT_FOUND", body = EvaluationFailure),
        OfrepFailures,
    ),
    security(("bearer" = ["client"]), ("api_key" = ["client"]))
)]
pub async fn evaluate_flag(
    req: HttpRequest,
    engine: web::Data<Engine>,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let key = key.into_inner();
    match evaluate_one(&req, &engine, &key, &body).await {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err(failure) => failure.with_key(&key).response(),
    }
}

async fn evaluate_one(
    req: &HttpRequest,
    engine: &Engine,
    key: &str,
    body: &[u8],
) -> Result<EvaluationSuccess, Failure> {
    authorize(req)?;
    let subject = parse_request(body, engine.limits())?;
    let snapshot = engine.snapshot();
    let flag = find_flag(&snapshot, key).ok_or_else(|| Failure::flag_not_found(key))?;
    let live = flag.live;
    let Some(user) = &subject.user else {
        let (cell, answer) = evaluate_without_user(live)?;
        return Ok(as_flag(&flag, cell, answer));
    };
    let assigned = engine
        .assign(
            user,
            &subject.attributes,
            Some(std::slice::from_ref(&live.key)),
        )
        .await
        .map_err(|e| Failure::from(ApiError::from(e)))?;
    Ok(match assigned.first() {
        Some(a) => as_flag(&flag, a.variant, assigned_success(a)),
        None if assigned.holdout => as_flag(&flag, live.control, held_out(live)),
        None => as_flag(
            &flag,
            live.control,
            success(live, live.control, Reason::Disabled),
        ),
    })
}

/// Evaluates every flag for a context. Answers with an `ETag` derived from the content, and
/// 304 without a body when `If-None-Match` names it. A context with a `targetingKey` enrols
/// the user in every live experiment they match (like `/api/v1/assign` without a list);
/// without one, experiments that need a user answer `TARGETING_KEY_MISSING` in their entry.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "ofrep",
    request_body(content = EvaluationRequest, description = "The evaluation context"),
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of a previous answer")),
    responses(
        (status = 200, description = "Every flag, sorted by key", body = BulkEvaluation,
         headers(("ETag" = String, description = "Derived from the body"))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "PARSE_ERROR or INVALID_CONTEXT", body = EvaluationFailure),
        OfrepFailures,
    ),
    security(("bearer" = ["client"]), ("api_key" = ["client"]))
)]
pub async fn evaluate_flags(
    req: HttpRequest,
    engine: web::Data<Engine>,
    body: web::Bytes,
) -> HttpResponse {
    let bulk = match evaluate_all(&req, &engine, &body).await {
        Ok(bulk) => bulk,
        Err(failure) => return failure.response(),
    };
    let bytes = serde_json::to_vec(&bulk).expect("an evaluation serializes");
    let etag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&bytes));
    if if_none_match(&req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(bytes)
}

/// Whether `If-None-Match` names this ETag (weak comparison, as RFC 9110 asks for it).
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

async fn evaluate_all(
    req: &HttpRequest,
    engine: &Engine,
    body: &[u8],
) -> Result<BulkEvaluation, Failure> {
    authorize(req)?;
    let subject = parse_request(body, engine.limits())?;
    let snapshot: Arc<Snapshot> = engine.snapshot();
    let mut assigned: HashMap<String, Assigned> = HashMap::new();
    let mut holdout = false;
    if let Some(user) = &subject.user {
        let answer = engine
            .assign(user, &subject.attributes, None)
            .await
            .map_err(|e| Failure::from(ApiError::from(e)))?;
        holdout = answer.holdout;
        for a in answer {
            assigned.insert(a.experiment.key.to_string(), a);
        }
    }
    // Every experiment, and after a factorial one each of its factors.
    let every_flag = snapshot.experiments.iter().flat_map(|live| {
        let factors = live.definition.spec.factors.len();
        std::iter::once(None)
            .chain((0..factors).map(Some))
            .map(move |factor| Flag { live, factor })
    });
    let mut flags: Vec<(String, BulkEntry)> = every_flag
        .map(|flag| {
            let live = flag.live;
            let entry = if let Some(a) = assigned.get(live.key.as_str()) {
                BulkEntry::Success(as_flag(&flag, a.variant, assigned_success(a)))
            } else if holdout {
                BulkEntry::Success(as_flag(&flag, live.control, held_out(live)))
            } else if subject.user.is_some() {
                let answer = success(live, live.control, Reason::Disabled);
                BulkEntry::Success(as_flag(&flag, live.control, answer))
            } else {
                match evaluate_without_user(live) {
                    Ok((cell, s)) => BulkEntry::Success(as_flag(&flag, cell, s)),
                    Err(f) => {
                        metrics::counter!(OFREP_EVALUATIONS, "result" => f.body.error_code)
                            .increment(1);
                        BulkEntry::Failure(f.with_key(&flag.key()).body)
                    }
                }
            };
            (flag.key(), entry)
        })
        .collect();
    flags.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(BulkEvaluation {
        flags: flags.into_iter().map(|(_, entry)| entry).collect(),
    })
}

#[cfg(test)]
mod fuzz_tests {
    use super::parse_request;
    use crate::engine::Limits;
    use crate::fuzzing::{json_value, request_like};
    use proptest::prelude::*;

    fn check(bytes: &[u8]) {
        if let Ok(subject) = parse_request(bytes, &Limits::DEFAULT) {
            assert!(subject.attributes.as_map().len() <= Limits::DEFAULT.max_attributes);
            assert!(!subject.attributes.as_map().contains_key("targetingKey"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn evaluation_requests_parse_or_fail_cleanly(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            value in json_value(),
            shaped in request_like(),
        ) {
            check(&bytes);
            check(&serde_json::to_vec(&value).unwrap());
            check(&serde_json::to_vec(&serde_json::json!({"context": value})).unwrap());
            check(&serde_json::to_vec(&serde_json::json!({"context": shaped})).unwrap());
        }
    }
}
