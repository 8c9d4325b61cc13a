//! Posterior: an experimentation server for personalization.
//!
//! Layers, dependencies pointing down: `api` and `dashboard` (HTTP; the dashboard's views in
//! `templates`) → `engine` (assignment, events,
//! lifecycle, in-memory state) → `stats` (pure math) and `store` (the only SQL).
//! `domain` holds the validated vocabulary all of them share.

pub mod api;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod engine;
#[cfg(test)]
mod fuzzing;
pub mod startup;
pub mod stats;
pub mod store;
pub mod telemetry;
/// The dashboard's maud views (pages and components), kept beside `static/` at the top level.
#[path = "../templates/mod.rs"]
pub mod templates;

pub use startup::{Application, create_app};
