//! An experiment's CUPED setting: regression adjustment on each metric's value in a lookback
//! window before the user's assignment (see `stats::cuped`). On by default with 14 days.
//!
//! In JSON: `"cuped": {"lookback": "14d"}`, `"cuped": true` (the default window) or
//! `"cuped": false` (off).

use super::metric::Duration;
use super::validation::{ValidationError, Violation};
use serde::{Deserialize, Serialize};

/// The lookback window when none is given: two weeks see every weekday twice.
pub const DEFAULT_LOOKBACK_SECONDS: i64 = 14 * 86_400;
/// The longest lookback: older activity says little, and the pre-assignment read scans it.
pub const MAX_LOOKBACK_SECONDS: i64 = 90 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cuped {
    Off,
    Lookback(Duration),
}

impl Default for Cuped {
    fn default() -> Self {
        Cuped::Lookback(Duration::from_seconds(DEFAULT_LOOKBACK_SECONDS))
    }
}

impl Cuped {
    pub fn lookback(self) -> Option<Duration> {
        match self {
            Cuped::Off => None,
            Cuped::Lookback(d) => Some(d),
        }
    }

    /// From the stored column (`NULL`: off).
    pub fn from_seconds(seconds: Option<i64>) -> Cuped {
        seconds.map_or(Cuped::Off, |s| Cuped::Lookback(Duration::from_seconds(s)))
    }
}

impl Serialize for Cuped {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct On {
            lookback: Duration,
        }
        match self {
            Cuped::Off => s.serialize_bool(false),
            Cuped::Lookback(lookback) => On {
                lookback: *lookback,
            }
            .serialize(s),
        }
    }
}

/// The setting as submitted, before validation.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CupedDraft {
    /// `true`: on with the default lookback; `false`: off.
    Switch(bool),
    Settings {
        /// A duration such as `7d` or `72h` (at most 90 days).
        lookback: String,
    },
}

impl CupedDraft {
    pub fn validate(&self) -> Result<Cuped, ValidationError> {
        match self {
            CupedDraft::Switch(false) => Ok(Cuped::Off),
            CupedDraft::Switch(true) => Ok(Cuped::default()),
            CupedDraft::Settings { lookback } => {
                let field = "cuped.lookback";
                let d = Duration::parse(field, lookback)?;
                if d.seconds() > MAX_LOOKBACK_SECONDS {
                    return Err(ValidationError::new(
                        field,
                        Violation::OutOfRange {
                            min: 1.0,
                            max: MAX_LOOKBACK_SECONDS as f64,
                        },
                    ));
                }
                Ok(Cuped::Lookback(d))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Cuped, String> {
        let draft: CupedDraft = serde_json::from_value(v).map_err(|e| e.to_string())?;
        draft.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_form_and_writes_it_back() {
        assert_eq!(parse(json!(false)), Ok(Cuped::Off));
        assert_eq!(parse(json!(true)), Ok(Cuped::default()));
        let week = parse(json!({"lookback": "7d"})).unwrap();
        assert_eq!(week.lookback().unwrap().seconds(), 7 * 86_400);
        assert_eq!(
            serde_json::to_value(week).unwrap(),
            json!({"lookback": "7d"})
        );
        assert_eq!(serde_json::to_value(Cuped::Off).unwrap(), json!(false));
    }

    #[test]
    fn refuses_what_is_not_a_window() {
        assert!(
            parse(json!({"lookback": "abc"}))
                .unwrap_err()
                .contains("cuped.lookback")
        );
        assert!(
            parse(json!({"lookback": "91d"}))
                .unwrap_err()
                .contains("cuped.lookback")
        );
        assert!(parse(json!({"lookback": "0s"})).is_err());
        assert!(parse(json!({"window": "7d"})).is_err());
        assert!(parse(json!("7d")).is_err());
    }
}
