//! Targeting: conditions on user attributes, all of which must hold.

use super::ValidationError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;

pub const MAX_CONDITIONS: usize = 50;
pub const MAX_ATTRIBUTES: usize = 50;
pub const MAX_ATTRIBUTE_NAME: usize = 64;
pub const MAX_ATTRIBUTE_STRING: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Neq,
    In,
    NotIn,
    Lt,
    Lte,
    Gt,
    Gte,
    Exists,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub attribute: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A validated list of conditions; an empty list matches everyone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Targeting(Vec<Condition>);

/// A user's attributes as the app sent them: a flat object of scalars, validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object, example = json!({"platform": "ios", "visits": 3}))]
pub struct Attributes(Map<String, Value>);

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

impl Targeting {
    pub fn parse(conditions: Vec<Condition>) -> Result<Self, ValidationError> {
        if conditions.len() > MAX_CONDITIONS {
            return Err(ValidationError::new(
                "targeting",
                format!("at most {MAX_CONDITIONS} conditions"),
            ));
        }
        for (i, c) in conditions.iter().enumerate() {
            let field = format!("targeting[{i}]");
            if c.attribute.is_empty()
                || c.attribute.len() > MAX_ATTRIBUTE_NAME
                || c.attribute.contains('\0')
                || c.value.as_ref().is_some_and(super::has_nul)
            {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "attribute must be 1 to {MAX_ATTRIBUTE_NAME} bytes and values must not contain NUL characters"
                    ),
                ));
            }
            if c.attribute.is_empty() || c.attribute.len() > MAX_ATTRIBUTE_NAME {
                return Err(ValidationError::new(
                    field,
                    format!("attribute must be 1 to {MAX_ATTRIBUTE_NAME} bytes"),
                ));
            }
            let ok = match (c.op, &c.value) {
                (Op::Eq | Op::Neq, Some(v)) => is_scalar(v),
                (Op::In | Op::NotIn, Some(Value::Array(items))) => {
                    !items.is_empty() && items.len() <= 1000 && items.iter().all(is_scalar)
                }
                (Op::Lt | Op::Lte | Op::Gt | Op::Gte, Some(v)) => v.is_number() || v.is_string(),
                (Op::Exists, None | Some(Value::Bool(_))) => true,
                _ => false,
            };
            if !ok {
                let expected = match c.op {
                    Op::Eq | Op::Neq => "a string, number or boolean value",
                    Op::In | Op::NotIn => "a non-empty array of strings, numbers or booleans",
                    Op::Lt | Op::Lte | Op::Gt | Op::Gte => "a number or string value",
                    Op::Exists => "no value, or true/false",
                };
                return Err(ValidationError::new(
                    field,
                    format!("{:?} needs {expected}", c.op).to_lowercase(),
                ));
            }
        }
        Ok(Self(conditions))
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, attributes: &Attributes) -> bool {
        self.0.iter().all(|c| c.matches(attributes))
    }
}

impl<'de> Deserialize<'de> for Targeting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<Condition>::deserialize(d)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Condition {
    /// A missing attribute fails every positive test and passes the negative ones
    /// (`neq`, `not_in`, `exists: false`).
    pub fn matches(&self, attributes: &Attributes) -> bool {
        let actual = attributes.get(&self.attribute);
        let target = self.value.as_ref();
        match self.op {
            Op::Exists => actual.is_some() == target.and_then(Value::as_bool).unwrap_or(true),
            Op::Eq => matches!((actual, target), (Some(a), Some(t)) if values_equal(a, t)),
            Op::Neq => !matches!((actual, target), (Some(a), Some(t)) if values_equal(a, t)),
            Op::In | Op::NotIn => {
                let found = match (actual, target) {
                    (Some(a), Some(Value::Array(items))) => {
                        items.iter().any(|t| values_equal(a, t))
                    }
                    _ => false,
                };
                found == (self.op == Op::In)
            }
            Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
                let Some(order) = actual.zip(target).and_then(|(a, t)| compare(a, t)) else {
                    return false;
                };
                match self.op {
                    Op::Lt => order.is_lt(),
                    Op::Lte => order.is_le(),
                    Op::Gt => order.is_gt(),
                    _ => order.is_ge(),
                }
            }
        }
    }
}

impl Attributes {
    /// Null values are dropped: a null attribute is treated as a missing one.
    pub fn parse(mut map: Map<String, Value>) -> Result<Self, ValidationError> {
        map.retain(|_, v| !v.is_null());
        if map.len() > MAX_ATTRIBUTES {
            return Err(ValidationError::new(
                "attributes",
                format!("at most {MAX_ATTRIBUTES} attributes"),
            ));
        }
        for (name, value) in &map {
            if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME || name.contains('\0') {
                return Err(ValidationError::new(
                    "attributes",
                    format!("attribute names must be 1 to {MAX_ATTRIBUTE_NAME} bytes"),
                ));
            }
            let ok = match value {
                Value::String(s) => s.len() <= MAX_ATTRIBUTE_STRING && !s.contains('\0'),
                Value::Number(_) | Value::Bool(_) => true,
                _ => false,
            };
            if !ok {
                return Err(ValidationError::new(
                    format!("attributes.{name}"),
                    format!(
                        "must be a string of at most {MAX_ATTRIBUTE_STRING} bytes, a number or a boolean"
                    ),
                ));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Map::<String, Value>::deserialize(d)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attributes {
        Attributes::parse(v.as_object().unwrap().clone()).unwrap()
    }

    fn cond(v: Value) -> Targeting {
        Targeting::parse(serde_json::from_value(v).unwrap()).unwrap()
    }

    #[test]
    fn every_operator() {
        let user = attrs(json!({"platform": "ios", "visits": 3, "premium": true}));
        let cases = [
            (
                json!([{"attribute": "platform", "op": "eq", "value": "ios"}]),
                true,
            ),
            (
                json!([{"attribute": "platform", "op": "neq", "value": "ios"}]),
                false,
            ),
            (
                json!([{"attribute": "country", "op": "neq", "value": "fr"}]),
                true,
            ),
            (
                json!([{"attribute": "platform", "op": "in", "value": ["ios", "android"]}]),
                true,
            ),
            (
                json!([{"attribute": "platform", "op": "not_in", "value": ["web"]}]),
                true,
            ),
            (
                json!([{"attribute": "country", "op": "in", "value": ["fr"]}]),
                false,
            ),
            (
                json!([{"attribute": "visits", "op": "lt", "value": 3}]),
                false,
            ),
            (
                json!([{"attribute": "visits", "op": "lte", "value": 3.0}]),
                true,
            ),
            (
                json!([{"attribute": "visits", "op": "gt", "value": 2}]),
                true,
            ),
            (
                json!([{"attribute": "visits", "op": "gte", "value": 4}]),
                false,
            ),
            (
                json!([{"attribute": "visits", "op": "gt", "value": "2"}]),
                false,
            ),
            (json!([{"attribute": "premium", "op": "exists"}]), true),
            (json!([{"attribute": "email", "op": "exists"}]), false),
            (
                json!([{"attribute": "email", "op": "exists", "value": false}]),
                true,
            ),
            (
                json!([{"attribute": "premium", "op": "eq", "value": true},
                    {"attribute": "visits", "op": "gte", "value": 1}]),
                true,
            ),
            (
                json!([{"attribute": "premium", "op": "eq", "value": true},
                    {"attribute": "visits", "op": "gte", "value": 10}]),
                false,
            ),
            (json!([]), true),
        ];
        for (rules, expected) in cases {
            assert_eq!(cond(rules.clone()).matches(&user), expected, "{rules}");
        }
    }

    #[test]
    fn refuses_malformed_rules() {
        for bad in [
            json!([{"attribute": "x", "op": "in", "value": "ios"}]),
            json!([{"attribute": "x", "op": "eq"}]),
            json!([{"attribute": "x", "op": "lt", "value": true}]),
            json!([{"attribute": "", "op": "exists"}]),
            json!([{"attribute": "x", "op": "in", "value": []}]),
        ] {
            let parsed: Vec<Condition> = serde_json::from_value(bad.clone()).unwrap();
            assert!(Targeting::parse(parsed).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_value::<Vec<Condition>>(json!([{"attribute": "x", "op": "like"}]))
                .is_err()
        );
    }

    #[test]
    fn refuses_nested_attributes() {
        let map = json!({"a": {"b": 1}}).as_object().unwrap().clone();
        assert!(Attributes::parse(map).is_err());
    }
}
