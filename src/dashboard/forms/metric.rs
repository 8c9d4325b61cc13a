//! The metric form: one form for every type; only the chosen type's fields are read, so what
//! was typed in another type's fields (they all show without JavaScript) is no error.

use super::numbers::{parse_percent, percent_text};
use super::rows::FormData;
use crate::domain::{
    Cap, Direction, EventName, MeanOf, Metric, MetricDefinition, MetricDraft, MetricKey,
    MetricType, ValidationError, Violation,
};
use crate::templates::form_values::{FieldErrors, MetricForm};

pub fn read(form: &FormData) -> MetricForm {
    MetricForm {
        key: form.get("key").into(),
        name: form.get("name").into(),
        description: form.get("description").into(),
        metric_type: form.get("type").into(),
        event: form.get("event").into(),
        of: form.get("of").into(),
        cap_kind: form.get("cap_kind").into(),
        cap: form.get("cap").into(),
        numerator: form.get("numerator").into(),
        denominator: form.get("denominator").into(),
        from: form.get("from").into(),
        to: form.get("to").into(),
        window: form.get("window").into(),
        direction: form.get("direction").into(),
    }
}

/// The form of a metric of the library, for editing.
pub fn of_metric(metric: &Metric) -> MetricForm {
    let spec = &metric.spec;
    let mut form = MetricForm {
        key: spec.key.to_string(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        metric_type: spec.definition.metric_type().as_str().into(),
        event: spec
            .definition
            .event()
            .map_or(String::new(), |e| e.to_string()),
        window: spec.window.map_or(String::new(), |w| w.to_string()),
        direction: spec.direction.as_str().into(),
        ..MetricForm::default()
    };
    match &spec.definition {
        MetricDefinition::Conversion { .. } => {}
        MetricDefinition::Mean { of, cap, .. } => {
            form.of = of.as_str().into();
            (form.cap_kind, form.cap) = match cap {
                None => (String::new(), String::new()),
                Some(Cap::Value(v)) => ("value".into(), v.to_string()),
                Some(Cap::Percentile(q)) => ("percentile".into(), percent_text(*q)),
            };
        }
        MetricDefinition::Ratio {
            numerator,
            denominator,
        } => {
            form.numerator = numerator.to_string();
            form.denominator = denominator.to_string();
        }
        MetricDefinition::Retention { from, to, .. } => {
            form.from = from.to_string();
            form.to = to.to_string();
        }
    }
    form
}

/// The draft to submit, or the errors by field. The key is read only when `creating`.
/// Durations go to the domain as typed: it parses them and names the field it refuses.
pub fn to_draft(form: &MetricForm, creating: bool) -> Result<MetricDraft, FieldErrors> {
    let mut errors = FieldErrors::default();
    let key = if creating {
        MetricKey::parse(form.key.trim())
            .map_err(|e| errors.add("key", e.violation.to_string()))
            .ok()
    } else {
        None
    };
    let Some(kind) = MetricType::parse(form.metric_type.trim()) else {
        errors.add("type", "choose conversion, mean, ratio or retention");
        return Err(errors);
    };
    let direction = Direction::parse(form.direction.trim());
    if direction.is_none() {
        errors.add("direction", "choose whether higher or lower is better");
    }
    let typed = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
    let mut draft = MetricDraft {
        key,
        name: form.name.trim().to_string(),
        description: form.description.trim().to_string(),
        metric_type: kind,
        event: None,
        of: None,
        cap: None,
        numerator: None,
        denominator: None,
        from: None,
        to: None,
        window: typed(&form.window),
        direction,
    };
    if kind != MetricType::Ratio {
        draft.event = match form.event.trim() {
            "" => {
                errors.add("event", "name the event it counts, e.g. purchase");
                None
            }
            e => EventName::parse(e)
                .map_err(|e| errors.add("event", e.violation.to_string()))
                .ok(),
        };
    }
    match kind {
        MetricType::Conversion => {}
        MetricType::Mean => {
            draft.of = MeanOf::parse(form.of.trim());
            if draft.of.is_none() {
                errors.add("of", "choose the events' values or their number");
            }
            draft.cap = cap(form, &mut errors);
        }
        MetricType::Ratio => {
            let mut part = |field: &str, text: &str| {
                MetricKey::parse(text.trim())
                    .map_err(|_| errors.add(field, "choose a metric of the library"))
                    .ok()
            };
            draft.numerator = part("numerator", &form.numerator);
            draft.denominator = part("denominator", &form.denominator);
        }
        MetricType::Retention => {
            draft.from = typed(&form.from);
            draft.to = typed(&form.to);
        }
    }
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}

/// A mean's cap: a value per user, or a percentile typed in percent (99 → 0.99).
fn cap(form: &MetricForm, errors: &mut FieldErrors) -> Option<Cap> {
    let text = form.cap.trim();
    match (form.cap_kind.trim(), text) {
        ("", "") => None,
        ("", _) => {
            errors.add(
                "cap_kind",
                "choose whether the cap is a value or a percentile",
            );
            None
        }
        (_, "") => {
            errors.add("cap", "type the cap, or choose no cap");
            None
        }
        ("value", _) => match text.replace(',', ".").parse::<f64>() {
            Ok(v) if v.is_finite() => Some(Cap::Value(v)),
            _ => {
                errors.add("cap", format!("{text:?} is not a number"));
                None
            }
        },
        ("percentile", _) => parse_percent(text)
            .map(Cap::Percentile)
            .map_err(|_| errors.add("cap", "type a percentile such as 99"))
            .ok(),
        _ => {
            errors.add("cap_kind", "choose no cap, a value or a percentile");
            None
        }
    }
}

/// A domain refusal as the form shows it, at its field, in the form's terms.
pub fn refusal(e: &ValidationError) -> FieldErrors {
    let field = match e.field.as_str() {
        "cap.value" | "cap.percentile" => "cap",
        other => other,
    };
    let message = match (e.field.as_str(), &e.violation) {
        ("cap.percentile", Violation::OpenRange { .. }) => {
            "must be above 50 and below 100 (a percentile such as 99)".to_string()
        }
        ("cap.value", Violation::OpenRange { .. }) => "must be above 0".to_string(),
        (_, violation) => violation.to_string(),
    };
    FieldErrors::one(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> MetricForm {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        read(&FormData::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn only_the_chosen_types_fields_are_read() {
        let f = form(&[
            ("key", "revenue"),
            ("name", "Revenue per user"),
            ("type", "mean"),
            ("event", "purchase"),
            ("of", "value"),
            ("cap_kind", "percentile"),
            ("cap", "99"),
            ("numerator", "left-over"),
            ("from", "1d"),
            ("window", "7d"),
            ("direction", "increase"),
        ]);
        let spec = to_draft(&f, true).unwrap().validate(None).unwrap();
        assert_eq!(
            spec.definition,
            MetricDefinition::Mean {
                event: EventName::parse("purchase").unwrap(),
                of: MeanOf::Value,
                cap: Some(Cap::Percentile(0.99)),
            }
        );
        assert_eq!(spec.window.unwrap().to_string(), "7d");
    }

    #[test]
    fn a_metric_reads_back_as_the_same_form() {
        for pairs in [
            vec![
                ("type", "retention"),
                ("event", "open"),
                ("from", "1d"),
                ("to", "8d"),
            ],
            vec![
                ("type", "ratio"),
                ("numerator", "revenue"),
                ("denominator", "orders"),
            ],
            vec![
                ("type", "mean"),
                ("event", "buy"),
                ("of", "count"),
                ("cap_kind", "value"),
                ("cap", "500"),
            ],
            vec![
                ("type", "conversion"),
                ("event", "uninstall"),
                ("direction", "decrease"),
                ("window", "3d"),
            ],
        ] {
            let mut all = vec![("key", "m"), ("name", "M")];
            all.extend(pairs);
            if !all.iter().any(|(k, _)| *k == "direction") {
                all.push(("direction", "increase"));
            }
            let spec = to_draft(&form(&all), true).unwrap().validate(None).unwrap();
            let now = chrono::Utc::now();
            let metric = Metric {
                id: 1,
                spec: spec.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let again = to_draft(&of_metric(&metric), false)
                .unwrap()
                .validate(Some(&spec.key))
                .unwrap();
            assert_eq!(again, spec, "{all:?}");
        }
    }

    #[test]
    fn refusals_find_their_field() {
        let errors = to_draft(
            &form(&[
                ("key", "Bad Key"),
                ("type", "conversion"),
                ("direction", "up"),
            ]),
            true,
        )
        .unwrap_err();
        for field in ["key", "event", "direction"] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        let errors = to_draft(
            &form(&[
                ("key", "m"),
                ("type", "mean"),
                ("event", "buy"),
                ("of", "value"),
                ("cap_kind", "value"),
                ("cap", "lots"),
                ("direction", "increase"),
            ]),
            true,
        )
        .unwrap_err();
        assert!(errors.get("cap").is_some());
        let q = ValidationError::new(
            "cap.percentile",
            Violation::OpenRange { min: 0.5, max: 1.0 },
        );
        assert!(refusal(&q).get("cap").unwrap().contains("above 50"));
    }
}
