//! Row types, one per table, as diesel reads and writes them.

use super::schema::{experiments, variants};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = experiments, check_for_backend(diesel::pg::Pg))]
pub struct ExperimentRow {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub dimension: String,
    pub kind: String,
    pub status: String,
    pub control_key: String,
    pub goal_event: String,
    pub goal_metric: String,
    pub targeting: Value,
    pub traffic: f64,
    pub floor: f64,
    pub min_users_per_arm: i32,
    pub winner_key: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub rules: Value,
    pub layer: Option<Value>,
    pub context: Vec<String>,
    pub goal_metric_id: Option<i64>,
    pub goal_window_seconds: Option<i64>,
    pub goal_of_count: bool,
    pub goal_cap_value: Option<f64>,
    pub goal_from_seconds: Option<i64>,
    pub goal_to_seconds: Option<i64>,
    pub analysis: String,
    pub cuped_lookback_seconds: Option<i64>,
    pub min_runtime_seconds: i64,
    pub minimum_effect: f64,
    pub context_segments: Vec<String>,
    pub policy: String,
    pub factors: Value,
}

/// `None` is written as NULL, not the column's default: CUPED off is a NULL lookback.
#[derive(Debug, Insertable)]
#[diesel(table_name = experiments, treat_none_as_default_value = false)]
pub struct NewExperimentRow<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub dimension: &'a str,
    pub kind: &'a str,
    pub control_key: &'a str,
    pub goal_event: &'a str,
    pub goal_metric: &'a str,
    pub targeting: Value,
    pub traffic: f64,
    pub floor: f64,
    pub min_users_per_arm: i32,
    pub rules: Value,
    pub layer: Option<Value>,
    pub context: &'a [String],
    pub goal_metric_id: Option<i64>,
    pub goal_window_seconds: Option<i64>,
    pub goal_of_count: bool,
    pub goal_cap_value: Option<f64>,
    pub goal_from_seconds: Option<i64>,
    pub goal_to_seconds: Option<i64>,
    pub analysis: &'a str,
    pub cuped_lookback_seconds: Option<i64>,
    pub min_runtime_seconds: i64,
    pub minimum_effect: f64,
    pub context_segments: Vec<&'a str>,
    pub policy: &'a str,
    pub factors: Value,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = variants, belongs_to(ExperimentRow, foreign_key = experiment_id), check_for_backend(diesel::pg::Pg))]
pub struct VariantRow {
    pub id: i64,
    pub experiment_id: i64,
    pub position: i32,
    pub key: String,
    pub name: String,
    pub payload: Value,
    pub weight: f64,
    /// When a `drop` guardrail took the arm out of the allocation.
    pub dropped_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = variants)]
pub struct NewVariantRow<'a> {
    pub experiment_id: i64,
    pub position: i32,
    pub key: &'a str,
    pub name: &'a str,
    pub payload: &'a Value,
    pub weight: f64,
}
