//! Targeting: rules on user attributes and behaviour.
//!
//! A rule is a condition `{attribute, op, value}`, a behavioral condition on the user's
//! profile (`domain::behavior`), a group `{"all": [rules]}` (every one
//! holds) or `{"any": [rules]}` (at least one holds), or a reference to a named segment
//! `{"segment": "key"}`. An experiment's targeting is a list of rules that must all hold
//! (the plain list of conditions of earlier versions is such a list); a single rule object is
//! accepted too and means a list of one.

use super::behavior::{self, Behavior, Window};
use super::names::SegmentKey;
use super::profile::Profile;
use super::text::has_nul;
use super::validation::{ValidationError, Violation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Most conditions and segment references in one targeting or segment rule, all levels counted.
pub const MAX_CONDITIONS: usize = 64;
/// Deepest nesting of groups (the top-level list counts as the first level).
pub const MAX_DEPTH: usize = 4;
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

impl Op {
    pub const ALL: &'static [Op] = &[
        Op::Eq,
        Op::Neq,
        Op::In,
        Op::NotIn,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Exists,
    ];

    /// The operator's name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Exists => "exists",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub attribute: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// One targeting rule: a condition, a behavioral condition, an AND or OR group, or a
/// segment reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Condition(Condition),
    Behavior(Behavior),
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Segment(SegmentKey),
}

/// A validated list of rules that must all hold; an empty list matches everyone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Vec<Object>, example = json!([{"attribute": "platform", "op": "eq", "value": "ios"},
    {"any": [{"attribute": "visits", "op": "eq", "value": 1}, {"segment": "returning-buyers"}]}]))]
pub struct Targeting(Vec<Rule>);

/// Who a rule is evaluated for: the attributes the app sent, the user's profile (`None`:
/// never seen, or not looked up because no rule needs it) and the time.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub attributes: &'a Attributes,
    pub profile: Option<&'a Profile>,
    pub now: DateTime<Utc>,
}

impl<'a> Subject<'a> {
    /// A user known only by attributes.
    pub fn of(attributes: &'a Attributes) -> Self {
        Subject {
            attributes,
            profile: None,
            now: Utc::now(),
        }
    }
}

/// A user's attributes as the app sent them: a flat object of scalars, validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object, example = json!({"platform": "ios", "visits": 3}))]
pub struct Attributes(Map<String, Value>);

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn check_condition(c: &Condition, field: &str) -> Result<(), ValidationError> {
    if c.attribute.is_empty()
        || c.attribute.len() > MAX_ATTRIBUTE_NAME
        || c.attribute.contains('\0')
        || c.value.as_ref().is_some_and(has_nul)
    {
        return Err(ValidationError::new(
            field,
            Violation::ConditionAttribute {
                max_bytes: MAX_ATTRIBUTE_NAME,
            },
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
            Violation::ConditionValue {
                op: c.op.as_str(),
                expected,
            },
        ));
    }
    Ok(())
}

/// Counts leaves while parsing, to bound the whole tree.
struct Budget {
    leaves: usize,
}

impl Budget {
    fn take(&mut self, field: &str) -> Result<(), ValidationError> {
        self.leaves += 1;
        if self.leaves > MAX_CONDITIONS {
            return Err(ValidationError::new(
                field,
                Violation::TooMany {
                    what: "conditions and segment references in all",
                    max: MAX_CONDITIONS,
                    found: None,
                },
            ));
        }
        Ok(())
    }
}

fn parse_list(
    items: &[Value],
    field: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Vec<Rule>, ValidationError> {
    if depth > MAX_DEPTH {
        return Err(ValidationError::new(
            field,
            Violation::TooDeep { max: MAX_DEPTH },
        ));
    }
    if items.len() > MAX_CONDITIONS {
        return Err(ValidationError::new(
            field,
            Violation::TooMany {
                what: "rules in one group",
                max: MAX_CONDITIONS,
                found: Some(items.len()),
            },
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_rule(item, &format!("{field}[{i}]"), depth, budget))
        .collect()
}

fn parse_rule(
    value: &Value,
    field: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Rule, ValidationError> {
    let Value::Object(map) = value else {
        return Err(ValidationError::new(
            field,
            Violation::NotARule { detail: None },
        ));
    };
    let group = |name: &'static str| -> Result<Option<&Vec<Value>>, ValidationError> {
        match map.get(name) {
            None => Ok(None),
            Some(_) if map.len() != 1 => Err(ValidationError::new(
                field,
                Violation::ExtraFields { rule: name },
            )),
            Some(Value::Array(items)) if items.is_empty() => Err(ValidationError::new(
                format!("{field}.{name}"),
                Violation::EmptyGroup,
            )),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(ValidationError::new(
                format!("{field}.{name}"),
                Violation::NotAList,
            )),
        }
    };
    if let Some(items) = group("all")? {
        return Ok(Rule::All(parse_list(
            items,
            &format!("{field}.all"),
            depth + 1,
            budget,
        )?));
    }
    if let Some(items) = group("any")? {
        return Ok(Rule::Any(parse_list(
            items,
            &format!("{field}.any"),
            depth + 1,
            budget,
        )?));
    }
    if let Some(key) = map.get("segment") {
        if map.len() != 1 {
            return Err(ValidationError::new(
                field,
                Violation::ExtraFields { rule: "segment" },
            ));
        }
        budget.take(field)?;
        let key = key
            .as_str()
            .ok_or_else(|| {
                ValidationError::new(format!("{field}.segment"), Violation::NotASegmentKey)
            })
            .and_then(|k| SegmentKey::parse(k).map_err(|e| e.at(format!("{field}.segment"))))?;
        return Ok(Rule::Segment(key));
    }
    if behavior::is_behavior(map) {
        let behavior = Behavior::parse(field, map)?;
        budget.take(field)?;
        return Ok(Rule::Behavior(behavior));
    }
    let condition: Condition = serde_json::from_value(value.clone()).map_err(|e| {
        ValidationError::new(
            field,
            Violation::NotARule {
                detail: Some(e.to_string()),
            },
        )
    })?;
    check_condition(&condition, field)?;
    budget.take(field)?;
    Ok(Rule::Condition(condition))
}

impl Rule {
    /// Parses and validates one rule from JSON; `field` names it in errors. A list is read as
    /// an `all` group.
    pub fn from_json(value: &Value, field: &str) -> Result<Rule, ValidationError> {
        let mut budget = Budget { leaves: 0 };
        match value {
            Value::Array(items) if items.is_empty() => {
                Err(ValidationError::new(field, Violation::EmptyRule))
            }
            Value::Array(items) => Ok(Rule::All(parse_list(items, field, 1, &mut budget)?)),
            other => parse_rule(other, field, 1, &mut budget),
        }
    }

    /// The naive reading of a rule: a recursive walk, segments looked up by `segment`
    /// (an unknown segment matches nobody). The engine compiles rules instead; this is the
    /// reference it is tested against.
    pub fn matches<'a>(
        &'a self,
        subject: &Subject,
        segment: &dyn Fn(&str) -> Option<&'a Rule>,
    ) -> bool {
        match self {
            Rule::Condition(c) => c.matches(subject.attributes),
            Rule::Behavior(b) => b.matches(subject.profile, subject.now),
            Rule::All(rules) => rules.iter().all(|r| r.matches(subject, segment)),
            Rule::Any(rules) => rules.iter().any(|r| r.matches(subject, segment)),
            Rule::Segment(key) => {
                segment(key.as_str()).is_some_and(|r| r.matches(subject, segment))
            }
        }
    }

    /// Every behavioral condition of this rule (not of the segments it references).
    pub fn behaviors<'a>(&'a self, out: &mut Vec<&'a Behavior>) {
        match self {
            Rule::Behavior(b) => out.push(b),
            Rule::All(rules) | Rule::Any(rules) => rules.iter().for_each(|r| r.behaviors(out)),
            Rule::Condition(_) | Rule::Segment(_) => {}
        }
    }

    /// The longest window of its behavioral conditions.
    pub fn longest_window(&self) -> Option<Window> {
        let mut behaviors = Vec::new();
        self.behaviors(&mut behaviors);
        behaviors.iter().filter_map(|b| b.window()).max()
    }

    /// Every segment this rule references, in order of appearance.
    pub fn segment_refs<'a>(&'a self, out: &mut Vec<&'a SegmentKey>) {
        match self {
            Rule::Condition(_) | Rule::Behavior(_) => {}
            Rule::All(rules) | Rule::Any(rules) => {
                rules.iter().for_each(|r| r.segment_refs(out));
            }
            Rule::Segment(key) => out.push(key),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a rule serializes")
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Rule::Condition(c) => c.serialize(s),
            Rule::Behavior(b) => b.to_json().serialize(s),
            Rule::All(rules) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("all", rules)?;
                map.end()
            }
            Rule::Any(rules) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("any", rules)?;
                map.end()
            }
            Rule::Segment(key) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("segment", key)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        Rule::from_json(&raw, "rule").map_err(serde::de::Error::custom)
    }
}

impl Targeting {
    /// A plain list of conditions that must all hold.
    pub fn parse(conditions: Vec<Condition>) -> Result<Self, ValidationError> {
        let value = serde_json::to_value(&conditions).expect("conditions serialize");
        Self::from_json(&value)
    }

    /// Targeting from JSON: a list of rules, or one rule.
    pub fn from_json(value: &Value) -> Result<Self, ValidationError> {
        let mut budget = Budget { leaves: 0 };
        let rules = match value {
            Value::Array(items) => parse_list(items, "targeting", 1, &mut budget)?,
            Value::Null => Vec::new(),
            other => vec![parse_rule(other, "targeting", 1, &mut budget)?],
        };
        Ok(Self(rules))
    }

    /// Targeting made of already-valid rules (the dashboard's form); checks the bounds.
    pub fn from_rules(rules: Vec<Rule>) -> Result<Self, ValidationError> {
        Self::from_json(&serde_json::to_value(&rules).expect("rules serialize"))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.0
    }

    /// The conditions, when targeting is a plain list of them (no groups, no segments).
    pub fn flat_conditions(&self) -> Option<Vec<&Condition>> {
        self.0
            .iter()
            .map(|r| match r {
                Rule::Condition(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every segment referenced.
    pub fn segment_refs(&self) -> Vec<&SegmentKey> {
        let mut out = Vec::new();
        self.0.iter().for_each(|r| r.segment_refs(&mut out));
        out
    }

    /// The naive reading (see `Rule::matches`).
    pub fn matches<'a>(
        &'a self,
        subject: &Subject,
        segment: &dyn Fn(&str) -> Option<&'a Rule>,
    ) -> bool {
        self.0.iter().all(|r| r.matches(subject, segment))
    }

    /// The longest window of its behavioral conditions (not of referenced segments).
    pub fn longest_window(&self) -> Option<Window> {
        self.0.iter().filter_map(Rule::longest_window).max()
    }
}

impl<'de> Deserialize<'de> for Targeting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        Self::from_json(&raw).map_err(serde::de::Error::custom)
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
                Violation::TooMany {
                    what: "attributes",
                    max: MAX_ATTRIBUTES,
                    found: Some(map.len()),
                },
            ));
        }
        for (name, value) in &map {
            if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME || name.contains('\0') {
                return Err(ValidationError::new(
                    "attributes",
                    Violation::AttributeName {
                        max_bytes: MAX_ATTRIBUTE_NAME,
                    },
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
                    Violation::AttributeValue {
                        max_bytes: MAX_ATTRIBUTE_STRING,
                    },
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
            assert_eq!(
                cond(rules.clone()).matches(&Subject::of(&user), &|_| None),
                expected,
                "{rules}"
            );
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
    fn groups_are_bounded_exactly() {
        let c = json!({"attribute": "visits", "op": "gt", "value": 1});
        // The top-level list is level 1: three nested groups make 4 levels, a fourth makes 5.
        let four = json!([{"all": [{"any": [{"all": [c.clone()]}]}]}]);
        assert!(Targeting::from_json(&four).is_ok());
        let five = json!([{"all": [{"any": [{"all": [{"any": [c.clone()]}]}]}]}]);
        let e = Targeting::from_json(&five).unwrap_err();
        assert_eq!(e.violation, Violation::TooDeep { max: 4 }, "{e}");
        let at_most: Vec<Value> = (0..MAX_CONDITIONS).map(|_| c.clone()).collect();
        assert!(Targeting::from_json(&json!([{"any": at_most.clone()}])).is_ok());
        let mut too_many = at_most;
        too_many.push(json!({"segment": "s"}));
        let e =
            Targeting::from_json(&json!([{"all": [c.clone()]}, {"any": too_many}])).unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
        // A single rule object is a list of one; the plain list of conditions still reads.
        let one = Targeting::from_json(&json!({"segment": "s"})).unwrap();
        assert_eq!(
            serde_json::to_value(&one).unwrap(),
            json!([{"segment": "s"}])
        );
        let plain = json!([c.clone(), {"attribute": "platform", "op": "eq", "value": "ios"}]);
        let t = Targeting::from_json(&plain).unwrap();
        assert_eq!(t.flat_conditions().map(|c| c.len()), Some(2));
        assert_eq!(serde_json::to_value(&t).unwrap(), plain);
    }

    #[test]
    fn refuses_nested_attributes() {
        let map = json!({"a": {"b": 1}}).as_object().unwrap().clone();
        assert!(Attributes::parse(map).is_err());
    }
}
