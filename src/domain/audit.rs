//! The audit log's vocabulary: one recorded admin action, with the state before and after.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A recorded action: who (`actor`) did what (`action`) to what (`target`), when.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}
