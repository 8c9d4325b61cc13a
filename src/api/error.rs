//! One error type for the HTTP API, mapped to status codes in one place.
//! Every error answers `{"error": {"code": "...", "message": "..."}}`.

use crate::engine::EngineError;
use crate::engine::throttle::retry_after_seconds;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Syntactically broken JSON.
    #[error("{0}")]
    MalformedJson(String),
    /// Well-formed input that breaks a rule (types, formats, limits).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// The key is over its rate limit; retry after this long.
    #[error("this key is over its rate limit; retry in {} s", retry_after_seconds(.0))]
    RateLimited(std::time::Duration),
    /// Too many failed authentications from this client address; retry after this long.
    #[error("too many failed authentications from this address; retry in {} s", retry_after_seconds(.0))]
    TooManyFailures(std::time::Duration),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::Invalid(_) => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::TooManyFailures(_) => "too_many_failures",
            ApiError::NotFound { code, .. } => code,
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) | ApiError::TooManyFailures(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            // Details of internal failures go to the log, not to the client.
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; see the server log".to_string()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unavailable(_) = self {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if let ApiError::RateLimited(wait) | ApiError::TooManyFailures(wait) = self {
            response.insert_header((header::RETRY_AFTER, retry_after_seconds(wait).to_string()));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        })
    }
}

/// Every API error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_request`, `unknown_experiment`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl From<crate::domain::ValidationError> for ApiError {
    fn from(e: crate::domain::ValidationError) -> Self {
        ApiError::Invalid(e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(v) => ApiError::Invalid(v.to_string()),
            EngineError::UnknownExperiment(key) => ApiError::NotFound {
                code: "unknown_experiment",
                message: format!("no experiment has the key {key:?}"),
            },
            EngineError::UnknownSegment(key) => ApiError::NotFound {
                code: "unknown_segment",
                message: format!("no segment has the key {key:?}"),
            },
            EngineError::UnknownMetric(key) => ApiError::NotFound {
                code: "unknown_metric",
                message: format!("no metric has the key {key:?}"),
            },
            EngineError::UnknownWebhook(id) => ApiError::NotFound {
                code: "unknown_webhook",
                message: format!("no webhook has the id {id}"),
            },
            e @ EngineError::UnknownVariant { .. } => ApiError::Invalid(e.to_string()),
            EngineError::Conflict(c) => ApiError::Conflict(c.to_string()),
            EngineError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
            EngineError::Internal(m) => ApiError::Internal(m),
        }
    }
}
