//! The responses many routes share, defined once for the OpenAPI document and referenced
//! from each route's `#[utoipa::path]`: the failures of any admin or client route, and those
//! of a route on one experiment.

use super::ErrorBody;
use utoipa::{IntoResponses, ToResponse};

/// What every admin route may answer besides its own responses.
#[derive(IntoResponses)]
pub enum AdminFailures {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 429)]
    RateLimited(#[ref_response] RateLimited),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// What every client route may answer besides its own responses.
#[derive(IntoResponses)]
pub enum ClientFailures {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 429)]
    RateLimited(#[ref_response] RateLimited),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// What a route on one experiment may answer besides its own responses: the experiment is
/// unknown, or the change conflicts with its status.
#[derive(IntoResponses)]
pub enum ExperimentFailures {
    #[response(status = 404)]
    UnknownExperiment(#[ref_response] UnknownExperiment),
    #[response(status = 409)]
    StatusConflict(#[ref_response] StatusConflict),
}

#[derive(ToResponse)]
#[response(description = "No experiment has this key")]
pub struct UnknownExperiment(pub ErrorBody);

#[derive(ToResponse)]
#[response(description = "The change conflicts with the experiment's status")]
pub struct StatusConflict(pub ErrorBody);

/// The `{key}` of a route on one experiment.
#[derive(utoipa::IntoParams)]
#[into_params(names("key"), parameter_in = Path)]
pub struct ExperimentPath(
    /// The experiment's key
    #[param(example = "push-time")]
    #[allow(dead_code)]
    String,
);

#[derive(ToResponse)]
#[response(description = "No API key, or an unknown or revoked one")]
pub struct Unauthorized(pub ErrorBody);

#[derive(ToResponse)]
#[response(description = "The key's scope does not allow this route")]
pub struct Forbidden(pub ErrorBody);

#[derive(ToResponse)]
#[response(description = "The body is too large")]
pub struct PayloadTooLarge(pub ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "The key is over its rate limit (rate_limited), or this address made too many failed authentications (too_many_failures); retry after Retry-After",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct RateLimited(pub ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "The database is unavailable; retry after Retry-After",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct Unavailable(pub ErrorBody);
