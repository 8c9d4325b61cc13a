//! Consent: an attribute the operator names (`POSTERIOR_CONSENT_ATTRIBUTE`) says whether a
//! user agreed to take part. A user without consent gets no assignment and nothing of theirs
//! is stored.

use crate::domain::Attributes;
use serde_json::Value;

/// The operator's consent rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The attribute that carries consent, e.g. `consent`.
    pub attribute: String,
    /// Whether a user whose attributes lack it counts as not consenting (default: consenting).
    pub required: bool,
}

impl Consent {
    /// Whether a user with these attributes consents. Consent is `true`, `1`, or one of the
    /// strings `"true"`, `"1"`, `"yes"` (any case); any other value is no consent (privacy
    /// errs on the side of not storing). A missing attribute is consent unless `required`.
    pub fn allows(&self, attributes: &Attributes) -> bool {
        match attributes.get(&self.attribute) {
            None => !self.required,
            Some(value) => gives_consent(value),
        }
    }
}

fn gives_consent(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => {
            let s = s.trim();
            ["true", "1", "yes"]
                .iter()
                .any(|t| s.eq_ignore_ascii_case(t))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attributes(v: Value) -> Attributes {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn values_that_give_and_refuse_consent() {
        let rule = Consent {
            attribute: "consent".into(),
            required: false,
        };
        for yes in [
            json!(true),
            json!(1),
            json!("true"),
            json!("YES"),
            json!("1"),
        ] {
            assert!(
                rule.allows(&attributes(json!({ "consent": yes.clone() }))),
                "{yes}"
            );
        }
        for no in [
            json!(false),
            json!(0),
            json!("false"),
            json!("no"),
            json!("pending"),
            json!(2),
        ] {
            assert!(
                !rule.allows(&attributes(json!({ "consent": no.clone() }))),
                "{no}"
            );
        }
        assert!(rule.allows(&attributes(json!({"platform": "ios"}))));
        let required = Consent {
            required: true,
            ..rule
        };
        assert!(!required.allows(&attributes(json!({"platform": "ios"}))));
        assert!(required.allows(&attributes(json!({"consent": true}))));
    }
}
