//! What can go wrong in the engine, in terms the API maps to HTTP.

use crate::domain::{Conflict, ValidationError};
use crate::store::{StoreError, UpdateError};

/// Everything that can go wrong in the engine, in terms the API maps to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no experiment has the key {0:?}")]
    UnknownExperiment(String),
    #[error("no segment has the key {0:?}")]
    UnknownSegment(String),
    #[error("no metric has the key {0:?}")]
    UnknownMetric(String),
    #[error("no webhook has the id {0}")]
    UnknownWebhook(i64),
    #[error("experiment {experiment:?} has no variant {variant:?}")]
    UnknownVariant { experiment: String, variant: String },
    #[error("{0}")]
    Conflict(Conflict),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => EngineError::Unavailable(m),
            StoreError::Invalid(v) => EngineError::Invalid(v),
            StoreError::Conflict(m) => EngineError::Conflict(m),
            StoreError::NotFound => EngineError::Internal("a row vanished".into()),
            StoreError::Query(e) => EngineError::Internal(e.to_string()),
        }
    }
}

impl EngineError {
    /// "No experiment has the key", as `or_missing` asks for it.
    pub(super) fn unknown_experiment(key: &str) -> impl Fn() -> EngineError + '_ {
        move || EngineError::UnknownExperiment(key.to_string())
    }

    /// "No metric has the key", as `or_missing` asks for it.
    pub(super) fn unknown_metric(key: &str) -> impl Fn() -> EngineError + '_ {
        move || EngineError::UnknownMetric(key.to_string())
    }

    /// "No segment has the key", as `or_missing` asks for it.
    pub(super) fn unknown_segment(key: &str) -> impl Fn() -> EngineError + '_ {
        move || EngineError::UnknownSegment(key.to_string())
    }
}

/// The store's "not found" said as what was missing (an experiment or segment asked for by
/// key, a key to revoke); every other store error converts as usual.
pub(super) trait OrMissing<T> {
    fn or_missing(self, missing: impl FnOnce() -> EngineError) -> Result<T, EngineError>;
}

impl<T> OrMissing<T> for Result<T, StoreError> {
    fn or_missing(self, missing: impl FnOnce() -> EngineError) -> Result<T, EngineError> {
        self.map_err(|e| match e {
            StoreError::NotFound => missing(),
            other => other.into(),
        })
    }
}

impl<T> OrMissing<T> for Result<T, UpdateError<EngineError>> {
    fn or_missing(self, missing: impl FnOnce() -> EngineError) -> Result<T, EngineError> {
        match self {
            Ok(value) => Ok(value),
            Err(UpdateError::Rejected(e)) => Err(e),
            Err(UpdateError::Store(e)) => Err(e).or_missing(missing),
        }
    }
}
