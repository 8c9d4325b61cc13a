//! Factorial experiments: 2 to 4 factors (content, timing, trigger), each with 2 to 5 levels,
//! the first its control. A user gets one level of every factor; each combination is a
//! *cell*, and the cells are the experiment's variants (key: the level keys joined by dots in
//! factor order; payload: an object with one member per factor). Cells are numbered in mixed
//! radix with the last factor varying fastest, as `stats::factorial::Design` numbers them.

use super::names::{FactorKey, LevelKey, VariantKey};
use super::payload::{Dimension, MAX_PAYLOAD_BYTES, json_type};
use super::personal_timing::PersonalPayload;
use super::text::has_nul;
use super::validation::{ValidationError, Violation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;

pub const MIN_FACTORS: usize = 2;
pub const MAX_FACTORS: usize = 4;
pub const MIN_LEVELS: usize = 2;
pub const MAX_LEVELS: usize = 5;
/// Exports give each factor a column named by its key, beside these.
const EXPORT_COLUMNS: &[&str] = &[
    "experiment",
    "user_id",
    "variant",
    "assigned_at",
    "propensity",
    "attributes",
    "converted",
    "converted_at",
    "value",
    "context",
    "event_id",
    "name",
    "occurred_at",
    "received_at",
    "after_assignment",
    "goal",
];

/// One factor of a factorial experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Factor {
    pub key: FactorKey,
    pub dimension: Dimension,
    /// 2 to 5 levels; the first is the factor's control.
    pub levels: Vec<Level>,
}

/// One level of a factor: what a user in it gets for that factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub key: LevelKey,
    #[serde(default)]
    pub payload: Value,
}

/// One combination of levels: a variant of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub key: VariantKey,
    /// `{factor key: level payload}`, in factor order.
    pub payload: Value,
}

/// Checks the factors and returns their cells, in cell order.
pub fn cells(factors: &[Factor]) -> Result<Vec<Cell>, ValidationError> {
    check(factors)?;
    let mut cells = vec![(Vec::<&str>::new(), Map::new())];
    for factor in factors {
        cells = cells
            .into_iter()
            .flat_map(|(keys, payload)| {
                factor.levels.iter().map(move |level| {
                    let mut keys = keys.clone();
                    keys.push(level.key.as_str());
                    let mut payload = payload.clone();
                    payload.insert(factor.key.to_string(), level.payload.clone());
                    (keys, payload)
                })
            })
            .collect();
    }
    cells
        .into_iter()
        .map(|(keys, payload)| {
            let key = keys.join(".");
            let key = VariantKey::parse(key).map_err(|e| e.at("factors"))?;
            Ok(Cell {
                key,
                payload: Value::Object(payload),
            })
        })
        .collect()
}

/// How many levels each factor has, in factor order.
pub fn design(factors: &[Factor]) -> Vec<usize> {
    factors.iter().map(|f| f.levels.len()).collect()
}

/// The level of every factor in cell `cell` (mixed radix, last factor fastest).
pub fn levels_of(factors: &[Factor], mut cell: usize) -> Vec<usize> {
    let mut levels = vec![0; factors.len()];
    for (slot, factor) in levels.iter_mut().zip(factors).rev() {
        *slot = cell % factor.levels.len();
        cell /= factor.levels.len();
    }
    levels
}

fn check(factors: &[Factor]) -> Result<(), ValidationError> {
    if !(MIN_FACTORS..=MAX_FACTORS).contains(&factors.len()) {
        return Err(ValidationError::new(
            "factors",
            Violation::Count {
                what: "factors",
                min: MIN_FACTORS,
                max: MAX_FACTORS,
                found: factors.len(),
            },
        ));
    }
    let mut keys = HashSet::new();
    for factor in factors {
        if !keys.insert(factor.key.as_str()) {
            return Err(ValidationError::new(
                "factors",
                Violation::Duplicate {
                    what: "factor key",
                    value: factor.key.to_string(),
                },
            ));
        }
        if EXPORT_COLUMNS.contains(&factor.key.as_str()) {
            return Err(ValidationError::new(
                "factors",
                Violation::ReservedColumn {
                    value: factor.key.to_string(),
                },
            ));
        }
        let field = format!("factors.{}.levels", factor.key);
        if !(MIN_LEVELS..=MAX_LEVELS).contains(&factor.levels.len()) {
            return Err(ValidationError::new(
                field,
                Violation::Count {
                    what: "levels",
                    min: MIN_LEVELS,
                    max: MAX_LEVELS,
                    found: factor.levels.len(),
                },
            ));
        }
        let mut levels = HashSet::new();
        for level in &factor.levels {
            if !levels.insert(level.key.as_str()) {
                return Err(ValidationError::new(
                    field,
                    Violation::Duplicate {
                        what: "level key",
                        value: level.key.to_string(),
                    },
                ));
            }
            check_payload(factor, level)?;
        }
        // An app reads one factor as an OpenFeature flag, whose type follows from its value.
        let types: HashSet<&str> = factor
            .levels
            .iter()
            .map(|l| json_type(&l.payload))
            .collect();
        if types.len() > 1 {
            return Err(ValidationError::new(field, Violation::MixedPayloadTypes));
        }
    }
    Ok(())
}

fn check_payload(factor: &Factor, level: &Level) -> Result<(), ValidationError> {
    let field = format!("factors.{}.levels.{}.payload", factor.key, level.key);
    if has_nul(&level.payload) {
        return Err(ValidationError::new(field, Violation::Nul));
    }
    let len = serde_json::to_vec(&level.payload).map_or(usize::MAX, |b| b.len());
    // The cell's payload holds one level of each factor: a quarter each keeps it in bounds.
    let max_bytes = MAX_PAYLOAD_BYTES / MAX_FACTORS;
    if len > max_bytes {
        return Err(ValidationError::new(
            field,
            Violation::TooLong {
                what: "level payloads (as JSON)",
                len,
                max_bytes,
            },
        ));
    }
    if PersonalPayload::parse(&field, &level.payload)?.is_some()
        && factor.dimension != Dimension::Timing
    {
        return Err(ValidationError::new(field, Violation::PersonalTimingOnly));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn factors(v: Value) -> Vec<Factor> {
        serde_json::from_value(v).unwrap()
    }

    fn two_by_three() -> Vec<Factor> {
        factors(json!([
            {"key": "content", "dimension": "content",
             "levels": [{"key": "plain", "payload": "Hi"}, {"key": "discount", "payload": "10% off"}]},
            {"key": "timing", "dimension": "timing",
             "levels": [{"key": "morning", "payload": 8}, {"key": "noon", "payload": 12},
                        {"key": "evening", "payload": 19}]}
        ]))
    }

    #[test]
    fn cells_are_every_combination_with_the_last_factor_fastest() {
        let cells = cells(&two_by_three()).unwrap();
        let keys: Vec<&str> = cells.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "plain.morning",
                "plain.noon",
                "plain.evening",
                "discount.morning",
                "discount.noon",
                "discount.evening"
            ]
        );
        assert_eq!(
            cells[5].payload,
            json!({"content": "10% off", "timing": 19})
        );
        assert_eq!(levels_of(&two_by_three(), 5), [1, 2]);
        assert_eq!(levels_of(&two_by_three(), 1), [0, 1]);
        assert_eq!(design(&two_by_three()), [2, 3]);
    }

    #[test]
    fn refusals_name_the_field() {
        let field = |f: Vec<Factor>| cells(&f).unwrap_err().field;
        let mut one = two_by_three();
        one.truncate(1);
        assert_eq!(field(one), "factors");
        let mut dup = two_by_three();
        dup[1].key = dup[0].key.clone();
        assert_eq!(field(dup), "factors");
        let mut few = two_by_three();
        few[1].levels.truncate(1);
        assert_eq!(field(few), "factors.timing.levels");
        let mut mixed = two_by_three();
        mixed[0].levels[1].payload = json!(10);
        let err = cells(&mixed).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.violation),
            ("factors.content.levels", Violation::MixedPayloadTypes)
        );
        let mut personal = two_by_three();
        personal[0].levels[1].payload = json!({"best_hour_of": "open"});
        personal[0].levels[0].payload = json!({"text": "Hi"});
        assert_eq!(field(personal), "factors.content.levels.discount.payload");
        assert!(
            serde_json::from_value::<Vec<Factor>>(
                json!([{"key": "a.b", "dimension": "content", "levels": []}])
            )
            .is_err()
        );
    }
}
