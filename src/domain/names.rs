//! Identifier newtypes: a value of one of these types has passed its format check.

use super::validation::{ValidationError, Violation};
use serde::{Deserialize, Serialize};
use std::fmt;

fn is_slug(s: &str, max: usize) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        })
}

/// A slug without dots: factor and level keys, which cell keys and OpenFeature flag keys join
/// with dots.
fn is_part(s: &str, max: usize) -> bool {
    is_slug(s, max) && !s.contains('.')
}

fn is_printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr, $rule:literal, schema($($schema:tt)*)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema($($schema)*)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                let check: fn(&str) -> bool = $check;
                if check(&value) {
                    Ok(Self(value))
                } else {
                    Err(ValidationError::new($field, Violation::Format { value, expected: $rule }))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(|e| serde::de::Error::custom(e.violation))
            }
        }
    };
}

string_newtype!(
    /// An experiment's unique slug, also its OpenFeature flag key.
    ExperimentKey, "key", |s| is_slug(s, 64),
    "use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")
);
string_newtype!(
    /// A variant's key, unique within its experiment.
    VariantKey, "variant", |s| is_slug(s, 64),
    "use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")
);
string_newtype!(
    /// A factor's key, unique within its factorial experiment (a member of each cell's payload,
    /// and the flag `{experiment}.{factor}` in OpenFeature).
    FactorKey, "key", |s| is_part(s, 32),
    "use 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$", example = "content")
);
string_newtype!(
    /// A level's key, unique within its factor (cell keys join one level of each factor with dots).
    LevelKey, "key", |s| is_part(s, 32),
    "use 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$", example = "discount")
);
/// Longest user id, in bytes.
pub const MAX_USER_ID: usize = 256;

string_newtype!(
    /// The app's identifier of a user (opaque to us).
    UserId, "user_id", |s| is_printable(s, MAX_USER_ID),
    "use 1 to 256 bytes without control characters",
    schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,256}$", example = "u-42")
);
string_newtype!(
    /// The name of a tracked event, matched against experiments' goals.
    EventName, "name", |s| is_printable(s, 128),
    "use 1 to 128 bytes without control characters",
    schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$", example = "purchase")
);
string_newtype!(
    /// A segment's unique slug, by which experiments reference it.
    SegmentKey, "segment", |s| is_slug(s, 64),
    "use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$", example = "returning-buyers")
);
string_newtype!(
    /// A metric's unique slug in the metric library, by which experiments reference it.
    MetricKey, "key", |s| is_slug(s, 64),
    "use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$", example = "purchase-rate")
);
string_newtype!(
    /// A mutual-exclusion layer's slug: experiments in one layer never share a user.
    LayerKey, "layer.key", |s| is_slug(s, 64),
    "use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
    schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$", example = "home-screen")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(ExperimentKey::parse("push-time").is_ok());
        assert!(ExperimentKey::parse("v2.banner_text").is_ok());
        assert!(ExperimentKey::parse("").is_err());
        assert!(ExperimentKey::parse("Push").is_err());
        assert!(ExperimentKey::parse("-x").is_err());
        assert!(ExperimentKey::parse("a b").is_err());
        assert!(ExperimentKey::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn user_ids() {
        assert!(UserId::parse("u-42").is_ok());
        assert!(UserId::parse("ünïcode@example.com").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a\nb").is_err());
        assert!(UserId::parse("x".repeat(257)).is_err());
    }
}
