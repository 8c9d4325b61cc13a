//! Posterior: an experimentation server for personalization.
//!
//! Layers, dependencies pointing down: `api` (HTTP) → `engine` (assignment, events,
//! lifecycle, in-memory state) → `stats` (pure math) and `store` (the only SQL).
//! `domain` holds the validated vocabulary all of them share.

pub mod api;
pub mod config;
pub mod domain;
pub mod engine;
pub mod startup;
pub mod stats;
pub mod store;
pub mod telemetry;

pub use startup::{Application, create_app};
