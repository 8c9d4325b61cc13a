//! What a variant (or a factorial level) gives the app: its dimension, and the rules its JSON
//! payload follows.

use serde_json::Value;

str_enum!(
    /// What the variants vary: the content shown, when it is sent, or what triggers it.
    Dimension { Content => "content", Timing => "timing", Trigger => "trigger" }
);

/// The largest payload, as JSON.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

/// The JSON type name OpenFeature would infer (integers and floats differ there).
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
