//! The free text of experiments, variants and segments: names and descriptions.

use super::validation::{ValidationError, Violation};

/// Longest name of an experiment, a variant or a segment, in bytes.
pub const MAX_NAME: usize = 200;
/// Longest description, in bytes.
const MAX_DESCRIPTION: usize = 5000;

/// A name: 1 to `MAX_NAME` bytes of text (`field` says whose).
pub(super) fn check_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            Violation::Text {
                max_bytes: MAX_NAME,
            },
        ));
    }
    Ok(())
}

pub(super) fn check_description(description: &str) -> Result<(), ValidationError> {
    if description.contains('\0') {
        return Err(ValidationError::new("description", Violation::Nul));
    }
    if description.len() > MAX_DESCRIPTION {
        return Err(ValidationError::new(
            "description",
            Violation::TooLong {
                what: "descriptions",
                len: description.len(),
                max_bytes: MAX_DESCRIPTION,
            },
        ));
    }
    Ok(())
}

/// PostgreSQL text and JSONB cannot hold a NUL character: such input is refused at the
/// boundary (a 400) instead of failing in the database (a 500).
pub fn has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
