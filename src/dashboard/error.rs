//! Errors of dashboard handlers, shown as HTML pages, and how a form's submission ends.

use super::page::{html, query_encode, redirect};
use crate::domain::{Conflict, ValidationError};
use crate::engine::EngineError;
use crate::templates;
use crate::templates::form_values::FieldErrors;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Errors of dashboard handlers, shown as HTML pages.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Not signed in: go to the sign-in page, and come back to `next` afterwards.
    #[error("sign in first")]
    SignInRequired { next: Option<String> },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<EngineError> for DashboardError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownExperiment(key) => {
                DashboardError::NotFound(format!("There is no experiment with the key “{key}”."))
            }
            EngineError::UnknownSegment(key) => {
                DashboardError::NotFound(format!("There is no segment with the key “{key}”."))
            }
            EngineError::UnknownMetric(key) => {
                DashboardError::NotFound(format!("There is no metric with the key “{key}”."))
            }
            EngineError::UnknownWebhook(id) => {
                DashboardError::NotFound(format!("There is no webhook with the id {id}."))
            }
            EngineError::Invalid(v) => DashboardError::BadRequest(v.to_string()),
            e @ EngineError::UnknownVariant { .. } => DashboardError::BadRequest(e.to_string()),
            EngineError::Conflict(c) => DashboardError::Conflict(c.to_string()),
            EngineError::Unavailable(m) => DashboardError::Unavailable(m),
            EngineError::Internal(m) => DashboardError::Internal(m),
        }
    }
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashboardError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            DashboardError::Forbidden(_) => StatusCode::FORBIDDEN,
            DashboardError::NotFound(_) => StatusCode::NOT_FOUND,
            DashboardError::Conflict(_) => StatusCode::CONFLICT,
            DashboardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashboardError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DashboardError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            DashboardError::SignInRequired { next } => {
                let target = match next {
                    Some(next) => format!("/dashboard/sign-in?next={}", query_encode(next)),
                    None => "/dashboard/sign-in".into(),
                };
                return redirect(&target);
            }
            DashboardError::Internal(detail) => {
                tracing::error!(error = %detail, "dashboard: internal error");
                "Something went wrong on the server; the details are in its log.".to_string()
            }
            DashboardError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "dashboard: database unavailable");
                "The database is unavailable. Try again in a moment.".to_string()
            }
            other => other.to_string(),
        };
        let title = match self.status_code() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::CONFLICT => "Not possible now",
            StatusCode::BAD_REQUEST => "Not understood",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            _ => "Error",
        };
        html(
            self.status_code(),
            templates::error_page::page(title, &message),
        )
    }
}

pub type PageResult = Result<HttpResponse, DashboardError>;

/// What a form's submission came to: done (`Ok(Ok(_))`), refused with errors to show beside
/// the form's fields (`Ok(Err(_))`: `invalid` places the domain's refusal, `conflict` a
/// conflict with what exists), or failed (an error page).
pub fn refused<T>(
    result: Result<T, EngineError>,
    invalid: impl FnOnce(&ValidationError) -> FieldErrors,
    conflict: impl FnOnce(Conflict) -> FieldErrors,
) -> Result<Result<T, FieldErrors>, DashboardError> {
    match result {
        Ok(done) => Ok(Ok(done)),
        Err(EngineError::Invalid(e)) => Ok(Err(invalid(&e))),
        Err(EngineError::Conflict(c)) => Ok(Err(conflict(c))),
        Err(e) => Err(e.into()),
    }
}

/// Where a form shows a conflict with what exists: a taken key at the key, an overlapping
/// layer at the layer, anything else above the form.
pub fn conflict_at_field(conflict: Conflict) -> FieldErrors {
    match conflict {
        Conflict::KeyTaken { what, .. } => FieldErrors::one(
            "key",
            format!("{what} with this key exists already; choose another key"),
        ),
        overlap @ Conflict::LayerOverlap { .. } => FieldErrors::one("layer", overlap.to_string()),
        other => FieldErrors::one("form", other.to_string()),
    }
}
