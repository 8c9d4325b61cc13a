//! The dashboard's forms: reading a submitted body, turning what was typed into the domain's
//! drafts and patches, and placing the domain's refusals next to the field they belong to.
//! The typed values themselves (`ExperimentForm`, `SegmentForm`, ...) are the views' data, in
//! `templates::form_values`.
//!
//! Field names: `key`, `name`, `description`, `dimension`, `kind`, `control`, `goal_event`,
//! `goal_metric`, `traffic`, `floor`, `min_users_per_arm`, `analysis`, `min_runtime`,
//! `minimum_effect`, `context`,
//! `variant-{i}-{key,name,payload,weight}`, `rule-{i}-{attribute,op,value}`,
//! `pin-{i}-{segment,variant}`, `layer_key`, `layer_from`, `layer_to`, `goal_source`,
//! `goal_key`, `secondary` (repeated: the boxes ticked), `guard-{i}-{metric,threshold}`,
//! `metrics_form`; for segments `group`, `cond-{i}-{attribute,op,value}`,
//! `beh-{i}-{event,measure,op,value,window,or_never}`, `rule_json`; for metrics `type`,
//! `event`, `of`, `cap_kind`, `cap`, `numerator`, `denominator`, `from`, `to`, `window`,
//! `direction`. Group errors: `variants`, `weights`, `targeting`, `rule-{i}`,
//! `pins`, `layer`, `metrics`, `secondary`, `guardrails`, `conditions`, `cond-{i}`, `beh-{i}`,
//! `form`.

mod behavior_rows;
pub mod experiment;
#[cfg(test)]
mod fuzz;
pub mod metric;
pub mod numbers;
mod rows;
mod rules;
pub mod segment;

pub use rows::FormData;
