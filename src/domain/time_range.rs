//! Time ranges of the exports and the audit log: `[from, to)`, either end open, parsed once at
//! the boundary (API query, command line), so no layer below sees one that ends before it starts.

use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// A half-open time range `[from, to)`; either end may be open; `from` is before `to`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

/// Which end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    From,
    To,
}

impl fmt::Display for RangeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RangeEnd::From => "from",
            RangeEnd::To => "to",
        })
    }
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "{end}: {text:?} is not a time: use RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)"
    )]
    NotATime { end: RangeEnd, text: String },
    #[error("from must be before to")]
    Backwards {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

impl TimeRange {
    /// All of time.
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, RangeError> {
        match (from, to) {
            (Some(from), Some(to)) if from >= to => Err(RangeError::Backwards { from, to }),
            _ => Ok(TimeRange { from, to }),
        }
    }

    /// Parses the ends as people type them: an RFC 3339 time (`2026-01-31T12:00:00Z`) or a
    /// date (`2026-01-31`, midnight UTC). A missing or empty end (a form's blank field) is open.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, RangeError> {
        let end = |text: Option<&str>, end: RangeEnd| {
            text.filter(|t| !t.is_empty())
                .map(|t| {
                    parse_time(t).ok_or_else(|| RangeError::NotATime {
                        end,
                        text: t.to_string(),
                    })
                })
                .transpose()
        };
        TimeRange::new(end(from, RangeEnd::From)?, end(to, RangeEnd::To)?)
    }

    /// The start (inclusive), if any.
    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    /// The end (exclusive), if any.
    pub fn to(&self) -> Option<DateTime<Utc>> {
        self.to
    }

    pub fn is_all(&self) -> bool {
        *self == TimeRange::ALL
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ends_are_times_or_dates() {
        let range = TimeRange::parse(Some("2026-01-31"), Some("2026-01-31T12:30:00+01:00"));
        assert_eq!(
            range.unwrap(),
            TimeRange::new(
                Some(Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap()),
                Some(Utc.with_ymd_and_hms(2026, 1, 31, 11, 30, 0).unwrap())
            )
            .unwrap()
        );
        assert_eq!(
            TimeRange::parse(None, Some("yesterday")),
            Err(RangeError::NotATime {
                end: RangeEnd::To,
                text: "yesterday".into()
            })
        );
        assert_eq!(
            TimeRange::parse(Some("soon"), None)
                .unwrap_err()
                .to_string(),
            "from: \"soon\" is not a time: use RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)"
        );
    }

    #[test]
    fn blank_ends_are_open() {
        assert!(TimeRange::parse(Some(""), Some("")).unwrap().is_all());
        assert!(TimeRange::parse(None, None).unwrap().is_all());
        let open_end = TimeRange::parse(Some("2026-01-01"), Some("")).unwrap();
        assert!(open_end.from().is_some() && open_end.to().is_none());
    }

    #[test]
    fn from_comes_before_to() {
        for (from, to) in [
            ("2026-02-01", "2026-01-01"),
            ("2026-01-01", "2026-01-01T00:00:00Z"),
        ] {
            let refused = TimeRange::parse(Some(from), Some(to)).unwrap_err();
            assert!(
                matches!(refused, RangeError::Backwards { .. }),
                "{from}..{to}"
            );
            assert_eq!(refused.to_string(), "from must be before to");
        }
        assert!(TimeRange::parse(Some("2026-01-01"), Some("2026-01-01T00:00:00.000001Z")).is_ok());
    }
}
