//! The dashboard's forms: reading a submitted body, turning what was typed into the domain's
//! drafts and patches, and placing the domain's refusals next to the field they belong to.
//! The typed values themselves (`ExperimentForm`, `SegmentForm`, ...) are the views' data, in
//! `templates::form_values`.
//!
//! Field names: `key`, `name`, `description`, `dimension`, `kind`, `control`, `goal_event`,
//! `goal_metric`, `traffic`, `floor`, `min_users_per_arm`, `context`,
//! `variant-{i}-{key,name,payload,weight}`, `rule-{i}-{attribute,op,value}`,
//! `pin-{i}-{segment,variant}`, `layer_key`, `layer_from`, `layer_to`, and for segments
//! `group`, `cond-{i}-{attribute,op,value}`, `rule_json`. Group errors: `variants`, `weights`,
//! `targeting`, `rule-{i}`, `pins`, `layer`, `conditions`, `cond-{i}`, `form`.

pub mod experiment;
#[cfg(test)]
mod fuzz;
pub mod numbers;
mod rows;
mod rules;
pub mod segment;

pub use rows::FormData;
