//! Who gets what beyond targeting: named segments, pinned rules (a segment whose users always
//! get one variant), mutual-exclusion layers and the holdout fraction.

use super::names::{LayerKey, SegmentKey, VariantKey};
use super::targeting::Rule;
use super::text::{check_description, check_name};
use super::validation::{ValidationError, Violation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// Most pinned rules one experiment may carry.
pub const MAX_PINNED_RULES: usize = 32;
/// The holdout may keep at most this share of users out of every experiment.
pub const MAX_HOLDOUT: f64 = 0.5;

/// A segment as submitted (`POST /api/v1/segments`, `PUT /api/v1/segments/{key}`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentDraft {
    /// Required when creating; when replacing, it may be given and must equal the path's.
    #[serde(default)]
    pub key: Option<SegmentKey>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A condition, `{"all": [...]}`, `{"any": [...]}`, or a list (meaning all).
    #[schema(value_type = Object, example = json!({"all": [
        {"attribute": "visits", "op": "eq", "value": 1},
        {"attribute": "platform", "op": "eq", "value": "ios"}]}))]
    pub rule: Value,
}

/// A valid segment definition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SegmentSpec {
    pub key: SegmentKey,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub rule: Rule,
}

/// A segment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Segment {
    #[serde(flatten)]
    pub spec: SegmentSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SegmentDraft {
    /// Validates; `path_key` is the key of `PUT /segments/{key}` (None when creating).
    pub fn validate(self, path_key: Option<&SegmentKey>) -> Result<SegmentSpec, ValidationError> {
        let key = match (self.key, path_key) {
            (Some(k), Some(p)) if &k != p => {
                return Err(ValidationError::new(
                    "key",
                    Violation::KeyChanged {
                        body: k.into_inner(),
                        path: p.to_string(),
                    },
                ));
            }
            (_, Some(p)) => p.clone(),
            (Some(k), None) => k,
            (None, None) => return Err(ValidationError::new("key", Violation::MissingKey)),
        };
        check_name("name", &self.name)?;
        check_description(&self.description)?;
        let rule = Rule::from_json(&self.rule, "rule")?;
        let mut refs = Vec::new();
        rule.segment_refs(&mut refs);
        if let Some(r) = refs.first() {
            return Err(ValidationError::new(
                "rule",
                Violation::SegmentInSegment { key: r.to_string() },
            ));
        }
        Ok(SegmentSpec {
            key,
            name: self.name.trim().to_string(),
            description: self.description,
            rule,
        })
    }
}

/// "Users of this segment always get this variant", checked before the experiment proper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinnedRule {
    pub segment: SegmentKey,
    pub variant: VariantKey,
}

/// Checks pinned rules against an experiment's variants (segments are checked by the store).
pub fn check_pinned_rules(
    rules: &[PinnedRule],
    variant_known: impl Fn(&str) -> bool,
) -> Result<(), ValidationError> {
    if rules.len() > MAX_PINNED_RULES {
        return Err(ValidationError::new(
            "rules",
            Violation::TooMany {
                what: "rules",
                max: MAX_PINNED_RULES,
                found: Some(rules.len()),
            },
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        if !variant_known(r.variant.as_str()) {
            return Err(ValidationError::new(
                format!("rules[{i}].variant"),
                Violation::UnknownVariant {
                    key: r.variant.to_string(),
                },
            ));
        }
        if !seen.insert(r.segment.as_str()) {
            return Err(ValidationError::new(
                format!("rules[{i}].segment"),
                Violation::Duplicate {
                    what: "pinned rule for segment",
                    value: r.segment.to_string(),
                },
            ));
        }
    }
    Ok(())
}

/// A range of a mutual-exclusion layer: users hash into [0, 1) per layer key and take part
/// only when they fall in [from, to). Experiments of one layer with disjoint ranges never
/// share a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub key: LayerKey,
    pub from: f64,
    pub to: f64,
}

impl Layer {
    pub fn check(&self) -> Result<(), ValidationError> {
        if !(self.from.is_finite() && self.to.is_finite())
            || self.from < 0.0
            || self.to > 1.0
            || self.from >= self.to
        {
            return Err(ValidationError::new(
                "layer",
                Violation::LayerRange {
                    from: self.from,
                    to: self.to,
                },
            ));
        }
        Ok(())
    }

    /// Whether two ranges share users: same layer and intersecting half-open ranges.
    pub fn overlaps(&self, other: &Layer) -> bool {
        self.key == other.key && self.from < other.to && other.from < self.to
    }
}

/// The server-wide holdout fraction, validated.
pub fn check_holdout(fraction: f64) -> Result<(), ValidationError> {
    if !fraction.is_finite() || !(0.0..=MAX_HOLDOUT).contains(&fraction) {
        return Err(ValidationError::new(
            "fraction",
            Violation::OutOfRange {
                min: 0.0,
                max: MAX_HOLDOUT,
            },
        ));
    }
    Ok(())
}

/// `null` → `Some(None)`, absent → `None` (with `#[serde(default)]`): PATCH can remove a field.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(v: Value) -> Result<SegmentSpec, ValidationError> {
        serde_json::from_value::<SegmentDraft>(v)
            .unwrap()
            .validate(None)
    }

    #[test]
    fn segments_validate() {
        let ok = draft(json!({"key": "first-ios", "name": "First-time iOS users",
            "rule": {"all": [{"attribute": "visits", "op": "eq", "value": 1},
                             {"attribute": "platform", "op": "eq", "value": "ios"}]}}))
        .unwrap();
        assert!(matches!(ok.rule, Rule::All(ref r) if r.len() == 2));
        let list = draft(json!({"key": "l", "name": "L",
            "rule": [{"attribute": "visits", "op": "eq", "value": 1}]}))
        .unwrap();
        assert!(matches!(list.rule, Rule::All(_)));
        assert!(draft(json!({"key": "n", "name": "N", "rule": {"segment": "other"}})).is_err());
        assert!(draft(json!({"key": "n", "name": "N", "rule": {"all": []}})).is_err());
        assert!(
            draft(json!({"key": "n", "name": " ", "rule": {"attribute": "a", "op": "exists"}}))
                .is_err()
        );
        let deep = json!({"all": [{"any": [{"all": [{"any": [{"all": [{"attribute": "a", "op": "exists"}]}]}]}]}]});
        assert_eq!(
            draft(json!({"key": "d", "name": "D", "rule": deep}))
                .unwrap_err()
                .violation,
            Violation::TooDeep { max: 4 }
        );
    }

    #[test]
    fn layers_overlap_only_in_one_layer() {
        let l = |k: &str, from, to| Layer {
            key: LayerKey::parse(k).unwrap(),
            from,
            to,
        };
        assert!(!l("a", 0.0, 0.5).overlaps(&l("a", 0.5, 1.0)));
        assert!(l("a", 0.0, 0.6).overlaps(&l("a", 0.5, 1.0)));
        assert!(!l("a", 0.0, 0.6).overlaps(&l("b", 0.5, 1.0)));
        assert!(l("a", 0.5, 0.5).check().is_err());
        assert!(l("a", -0.1, 0.5).check().is_err());
        assert!(l("a", 0.0, 1.0).check().is_ok());
    }
}
