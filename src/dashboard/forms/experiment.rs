//! The experiment forms: create (everything) and edit (what may change while running).

use super::numbers::{parse_count, parse_percent, percent_text};
use super::rows::FormData;
use super::rules::{condition_rows, json_of_others, read_rows, rows_and_json_rules};
use crate::domain::{
    Analysis, CupedDraft, Dimension, EventName, Experiment, ExperimentDraft, ExperimentKey,
    ExperimentMetrics, ExperimentPatch, Goal, GoalMetric, Guardrail, GuardrailAction, Kind, Layer,
    LayerKey, MetricKey, PinnedRule, PolicyKind, SegmentKey, Status, Targeting, ValidationError,
    VariantDraft, VariantKey, Violation,
};
use crate::templates::form_values::{
    ExperimentForm, FieldErrors, GOAL_INLINE, GOAL_LIBRARY, GuardrailRow, PinRow, VariantRow,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Reads the form as sent (rows in index order, blank rows kept).
pub fn read(form: &FormData) -> ExperimentForm {
    let mut variants = form.rows(
        "variant",
        |row: &mut VariantRow, column, value| match column {
            "key" => row.key = value.into(),
            "name" => row.name = value.into(),
            "payload" => row.payload = value.into(),
            "weight" => row.weight = value.into(),
            _ => {}
        },
    );
    if let Ok(control) = form.get("control").parse::<usize>()
        && let Some(row) = variants.get_mut(&control)
    {
        row.control = true;
    }
    let pins = form.rows("pin", |row: &mut PinRow, column, value| match column {
        "segment" => row.segment = value.into(),
        "variant" => row.variant = value.into(),
        _ => {}
    });
    let guardrails = form.rows(
        "guard",
        |row: &mut GuardrailRow, column, value| match column {
            "metric" => row.metric = value.into(),
            "threshold" => row.threshold = value.into(),
            "action" => row.action = value.into(),
            _ => {}
        },
    );
    ExperimentForm {
        key: form.get("key").into(),
        name: form.get("name").into(),
        description: form.get("description").into(),
        dimension: form.get("dimension").into(),
        kind: form.get("kind").into(),
        goal_source: match form.get("goal_source") {
            "" => GOAL_INLINE.into(),
            source => source.into(),
        },
        goal_event: form.get("goal_event").into(),
        goal_metric: form.get("goal_metric").into(),
        goal_key: form.get("goal_key").into(),
        secondary: form
            .all("secondary")
            .filter(|k| !k.trim().is_empty())
            .map(String::from)
            .collect(),
        guardrails: guardrails.into_values().collect(),
        metrics_shown: form.get("metrics_form") == "1",
        traffic: form.get("traffic").into(),
        floor: form.get("floor").into(),
        min_users_per_arm: form.get("min_users_per_arm").into(),
        analysis: form.get("analysis").into(),
        cuped: form.get("cuped").into(),
        min_runtime: form.get("min_runtime").into(),
        minimum_effect: form.get("minimum_effect").into(),
        context: form.get("context").into(),
        variants: variants.into_values().collect(),
        rules: read_rows(form, "rule"),
        targeting_json: form.get("targeting_json").into(),
        pins: pins.into_values().collect(),
        layer_key: form.get("layer_key").into(),
        layer_from: form.get("layer_from").into(),
        layer_to: form.get("layer_to").into(),
    }
}

/// The form of an existing experiment, for editing.
pub fn of_experiment(experiment: &Experiment) -> ExperimentForm {
    let spec = &experiment.spec;
    let layer = spec.layer.as_ref();
    ExperimentForm {
        key: spec.key.to_string(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        dimension: spec.dimension.as_str().into(),
        kind: spec.kind.as_str().into(),
        goal_source: if spec.metrics.goal.is_some() {
            GOAL_LIBRARY
        } else {
            GOAL_INLINE
        }
        .into(),
        goal_event: spec.goal.event.to_string(),
        goal_metric: spec.goal.metric.as_str().into(),
        goal_key: spec
            .metrics
            .goal
            .as_ref()
            .map_or(String::new(), |k| k.to_string()),
        secondary: spec
            .metrics
            .secondary
            .iter()
            .map(|k| k.to_string())
            .collect(),
        guardrails: spec
            .metrics
            .guardrails
            .iter()
            .map(|g| GuardrailRow {
                metric: g.metric.to_string(),
                threshold: percent_text(g.threshold),
                action: g.action.as_str().into(),
            })
            .collect(),
        metrics_shown: true,
        traffic: percent_text(spec.traffic),
        floor: if spec.policy == PolicyKind::Bandit {
            percent_text(spec.floor)
        } else {
            String::new()
        },
        min_users_per_arm: spec.min_users_per_arm.to_string(),
        analysis: spec.analysis.as_str().into(),
        cuped: match spec.cuped.lookback() {
            Some(d) => d.to_string(),
            None => CUPED_OFF.into(),
        },
        min_runtime: spec.min_runtime.to_string(),
        minimum_effect: percent_text(spec.minimum_effect),
        context: spec.context.join(", "),
        variants: spec
            .variants
            .iter()
            .map(|v| VariantRow {
                key: v.key.to_string(),
                name: v.name.clone(),
                payload: serde_json::to_string_pretty(&v.payload).unwrap_or_default(),
                weight: percent_text(v.weight),
                control: v.key == spec.control,
            })
            .collect(),
        rules: condition_rows(spec.targeting.rules()),
        targeting_json: json_of_others(spec.targeting.rules()),
        pins: spec
            .pinned_rules
            .iter()
            .map(|r| PinRow {
                segment: r.segment.to_string(),
                variant: r.variant.to_string(),
            })
            .collect(),
        layer_key: layer.map_or(String::new(), |l| l.key.to_string()),
        layer_from: layer.map_or(String::new(), |l| percent_text(l.from)),
        layer_to: layer.map_or(String::new(), |l| percent_text(l.to)),
    }
}

/// The draft to create, or every error found in the typed values. Blank rows must have been
/// removed (`compact`). Rules the domain checks (names, weights summing to 1, ...) are left to
/// `ExperimentDraft::validate`, whose error `refusal` places.
pub fn to_draft(form: &ExperimentForm) -> Result<ExperimentDraft, FieldErrors> {
    let mut errors = FieldErrors::default();
    let key = ExperimentKey::parse(form.key.trim())
        .map_err(|e| errors.add("key", e.violation.to_string()))
        .ok();
    let dimension = Dimension::parse(form.dimension.trim());
    if dimension.is_none() {
        errors.add("dimension", "choose content, timing or trigger");
    }
    let kind = Kind::parse(form.kind.trim());
    if kind.is_none() {
        errors.add("kind", "choose an A/B test or a bandit");
    }
    let from_library = form.goal_source == GOAL_LIBRARY;
    if !from_library && form.goal_source != GOAL_INLINE {
        errors.add(
            "goal_source",
            "choose an event typed here or a metric of the library",
        );
    }
    let goal_key = if from_library {
        library_goal(form, &mut errors)
    } else {
        None
    };
    let inline_goal = if from_library {
        None
    } else {
        inline_goal(form, &mut errors)
    };
    let mut metrics = declared_metrics(form, &mut errors);
    metrics.goal = goal_key;

    let mut variants = Vec::with_capacity(form.variants.len());
    let mut control = None;
    for (i, row) in form.variants.iter().enumerate() {
        let key = VariantKey::parse(row.key.trim())
            .map_err(|e| errors.add(format!("variant-{i}-key"), e.violation.to_string()))
            .ok();
        let payload = if row.payload.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str::<Value>(&row.payload).unwrap_or_else(|e| {
                errors.add(
                    format!("variant-{i}-payload"),
                    format!("not valid JSON: {e}"),
                );
                Value::Null
            })
        };
        let weight = match kind {
            Some(Kind::Ab) if !row.weight.trim().is_empty() => {
                percent(&format!("variant-{i}-weight"), &row.weight, &mut errors)
            }
            // A bandit allocates by itself: weights typed before switching kind are ignored.
            _ => None,
        };
        if let Some(key) = key {
            if row.control {
                control = Some(key.clone());
            }
            variants.push(VariantDraft {
                key,
                name: Some(row.name.trim().to_string()).filter(|n| !n.is_empty()),
                payload,
                weight,
            });
        }
    }
    if form.variants.len() < 2 {
        errors.add("variants", "an experiment needs at least 2 variants");
    }
    let targeting = targeting(form, &mut errors);
    let traffic = optional_percent("traffic", &form.traffic, &mut errors);
    let floor = match kind {
        Some(Kind::Bandit) => optional_percent("floor", &form.floor, &mut errors),
        _ => None,
    };
    let min_users_per_arm = optional_count(form, &mut errors);
    let analysis = analysis(form, &mut errors);
    let cuped = cuped(form);
    let (min_runtime, minimum_effect) = verdict_settings(form, &mut errors);
    let pinned_rules = pinned_rules(form, &mut errors);
    let layer = layer(form, &mut errors);

    let (Some(key), Some(dimension), Some(kind), Some(targeting)) =
        (key, dimension, kind, targeting)
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ExperimentDraft {
        key,
        name: form.name.trim().to_string(),
        description: form.description.trim().to_string(),
        dimension: Some(dimension),
        kind,
        // Factorial experiments are created through the API.
        policy: None,
        factors: Vec::new(),
        variants,
        control,
        goal: inline_goal,
        metrics,
        targeting,
        traffic,
        floor,
        min_users_per_arm,
        analysis,
        cuped,
        min_runtime,
        minimum_effect,
        pinned_rules,
        layer,
        context: form
            .context
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect(),
        // Segments as a context are set through the API.
        context_segments: Vec::new(),
    })
}

/// The goal typed in the form: an event and conversion or revenue.
fn inline_goal(form: &ExperimentForm, errors: &mut FieldErrors) -> Option<Goal> {
    let event = EventName::parse(form.goal_event.trim())
        .map_err(|e| {
            let message = if form.goal_event.trim().is_empty() {
                "name the event that counts as success, e.g. purchase".to_string()
            } else {
                e.violation.to_string()
            };
            errors.add("goal_event", message)
        })
        .ok();
    let metric = GoalMetric::parse(form.goal_metric.trim());
    if metric.is_none() {
        errors.add("goal_metric", "choose conversion or revenue");
    }
    Some(Goal {
        event: event?,
        metric: metric?,
        counting: Default::default(),
    })
}

/// The goal chosen from the library.
fn library_goal(form: &ExperimentForm, errors: &mut FieldErrors) -> Option<MetricKey> {
    MetricKey::parse(form.goal_key.trim())
        .map_err(|_| errors.add("goal_key", "choose the goal among the library's metrics"))
        .ok()
}

/// The secondary metrics ticked and the guardrail rows (rows must be compacted), without
/// the goal; errors by row.
fn declared_metrics(form: &ExperimentForm, errors: &mut FieldErrors) -> ExperimentMetrics {
    let mut metrics = ExperimentMetrics::default();
    for key in &form.secondary {
        match MetricKey::parse(key.trim()) {
            Ok(k) => metrics.secondary.push(k),
            Err(e) => errors.add("secondary", e.violation.to_string()),
        }
    }
    for (i, row) in form.guardrails.iter().enumerate() {
        let metric = MetricKey::parse(row.metric.trim())
            .map_err(|_| errors.add(format!("guard-{i}-metric"), "choose a metric"))
            .ok();
        let threshold = if row.threshold.trim().is_empty() {
            Some(0.0)
        } else {
            percent(&format!("guard-{i}-threshold"), &row.threshold, errors)
        };
        let action = match row.action.trim() {
            "" => Some(GuardrailAction::Alert),
            text => {
                let parsed = GuardrailAction::parse(text);
                if parsed.is_none() {
                    errors.add(format!("guard-{i}-action"), "choose alert, pause or drop");
                }
                parsed
            }
        };
        if let (Some(metric), Some(threshold), Some(action)) = (metric, threshold, action) {
            metrics.guardrails.push(Guardrail {
                metric,
                threshold,
                action,
            });
        }
    }
    metrics
}

/// The metrics an edit asks for, `None` when unchanged (or when the form had no metric
/// fields). The goal is read when `with_goal` (a draft's edit form); otherwise it stays.
fn changed_metrics(
    form: &ExperimentForm,
    current: &Experiment,
    with_goal: bool,
    errors: &mut FieldErrors,
) -> Option<ExperimentMetrics> {
    if !form.metrics_shown {
        return None;
    }
    let now = &current.spec.metrics;
    let mut metrics = declared_metrics(form, errors);
    metrics.goal = match with_goal {
        // An empty choice keeps the goal typed when the experiment was created.
        true if form.goal_key.trim().is_empty() => None,
        true => library_goal(form, errors),
        false => now.goal.clone(),
    };
    (metrics != *now).then_some(metrics)
}

/// The "edit metrics" form (of a stopped experiment, mostly) as a patch of the secondary
/// metrics and guardrails alone.
pub fn to_metrics_patch(
    form: &ExperimentForm,
    current: &Experiment,
) -> Result<ExperimentPatch, FieldErrors> {
    let mut errors = FieldErrors::default();
    let metrics = changed_metrics(form, current, false, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ExperimentPatch {
        metrics,
        ..ExperimentPatch::default()
    })
}

/// The changes an edit asks for. Only what may change while running is read: name,
/// description, traffic, targeting, weights (A/B) or floor (bandit), the minimum data, the
/// secondary metrics and guardrails (and the goal, in a draft).
pub fn to_patch(
    form: &ExperimentForm,
    current: &Experiment,
) -> Result<ExperimentPatch, FieldErrors> {
    let mut errors = FieldErrors::default();
    let spec = &current.spec;
    let targeting = targeting(form, &mut errors);
    let traffic = optional_percent("traffic", &form.traffic, &mut errors);
    let min_users_per_arm = optional_count(form, &mut errors);
    let analysis = analysis(form, &mut errors).filter(|a| *a != spec.analysis);
    // Only a changed window is sent: a new one recomputes the covariates.
    let cuped = cuped(form).filter(|c| c.validate().ok() != Some(spec.cuped));
    // Only what changed, so an untouched form never trips over rounding or spelling.
    let (min_runtime, minimum_effect) = verdict_settings(form, &mut errors);
    let min_runtime = min_runtime.filter(|t| *t != spec.min_runtime.to_string());
    let minimum_effect = minimum_effect.filter(|e| (e - spec.minimum_effect).abs() > 1e-12);
    let pinned_rules = pinned_rules(form, &mut errors);
    let layer = layer(form, &mut errors);
    let mut weights = None;
    let mut floor = None;
    match (spec.kind, spec.policy) {
        (Kind::Ab, _) => {
            let typed: HashMap<&str, &str> = form
                .variants
                .iter()
                .map(|v| (v.key.as_str(), v.weight.as_str()))
                .collect();
            let mut given = BTreeMap::new();
            for (i, v) in spec.variants.iter().enumerate() {
                let field = format!("variant-{i}-weight");
                let text = typed.get(v.key.as_str()).copied().unwrap_or("");
                if text.trim().is_empty() {
                    errors.add(field, "give every variant a weight");
                } else if let Some(w) = percent(&field, text, &mut errors) {
                    given.insert(v.key.clone(), w);
                }
            }
            // Only send weights that changed, so an untouched form never trips over rounding.
            let changed = spec.variants.iter().any(|v| {
                given
                    .get(&v.key)
                    .is_some_and(|w| (w - v.weight).abs() > 1e-9)
            });
            if changed {
                weights = Some(given);
            }
        }
        (_, PolicyKind::Bandit) => floor = optional_percent("floor", &form.floor, &mut errors),
        // A factorial split has no weights: each factor's levels are equally likely.
        (_, PolicyKind::Ab) => {}
    }
    let with_goal = current.status == Status::Draft;
    let metrics = changed_metrics(form, current, with_goal, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ExperimentPatch {
        name: Some(form.name.trim().to_string()),
        description: Some(form.description.trim().to_string()),
        traffic,
        targeting,
        weights,
        floor,
        min_users_per_arm,
        analysis,
        cuped,
        min_runtime,
        minimum_effect,
        pinned_rules: Some(pinned_rules),
        layer: Some(layer),
        metrics,
    })
}

/// A domain refusal as the form shows it: at the field it belongs to, in the form's terms.
pub fn refusal(form: &ExperimentForm, e: &ValidationError) -> FieldErrors {
    FieldErrors::one(field_of(form, e), message_of(e))
}

/// The form field a domain error belongs to.
fn field_of(form: &ExperimentForm, e: &ValidationError) -> String {
    let field = e.field.as_str();
    if let Some(rest) = field.strip_prefix("variants.") {
        if let Some((key, column)) = rest.rsplit_once('.')
            && let Some(i) = form.variants.iter().position(|v| v.key.trim() == key)
        {
            return format!("variant-{i}-{column}");
        }
        return "variants".into();
    }
    if let Some(rest) = field.strip_prefix("targeting[") {
        // Rows come first, then the rules typed as JSON.
        return match rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) {
            Some(i) if i < form.rules.len() => format!("rule-{i}"),
            _ => "targeting_json".into(),
        };
    }
    if let Some((i, column)) = field
        .strip_prefix("rules[")
        .and_then(|rest| rest.split_once("]."))
    {
        return format!("pin-{i}-{column}");
    }
    if let Some(rest) = field.strip_prefix("metrics.") {
        return metric_field(form, rest);
    }
    match field {
        "variant" => "variants".into(),
        "rules" => "pins".into(),
        "goal" => "goal_source".into(),
        "layer" | "layer.key" => "layer".into(),
        other => other.into(),
    }
}

/// The form field of an error in the metrics (`goal`, `secondary[2]`,
/// `guardrails[0].threshold`, ...): the goal's select, the secondary metric's box, the
/// guardrail's row.
fn metric_field(form: &ExperimentForm, rest: &str) -> String {
    let index = |list: &str| {
        rest.strip_prefix(list)
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.split_once(']'))
            .and_then(|(i, tail)| Some((i.parse::<usize>().ok()?, tail)))
    };
    if rest == "goal" {
        return "goal_key".into();
    }
    if let Some((i, _)) = index("secondary") {
        return match form.secondary.get(i) {
            Some(key) => format!("secondary-{}", key.trim()),
            None => "secondary".into(),
        };
    }
    if let Some((i, tail)) = index("guardrails") {
        return match tail.strip_prefix('.') {
            Some(column @ ("metric" | "threshold" | "action")) if i < form.guardrails.len() => {
                format!("guard-{i}-{column}")
            }
            _ => "guardrails".into(),
        };
    }
    match rest {
        "secondary" => "secondary".into(),
        "guardrails" => "guardrails".into(),
        _ => "metrics".into(),
    }
}

/// A domain error's message in the form's terms: percentages where the form has them.
fn message_of(e: &ValidationError) -> String {
    match (e.field.as_str(), &e.violation) {
        ("weights", Violation::WeightsSum { sum }) => format!(
            "the weights must add up to 100%, not {}%",
            percent_text(*sum)
        ),
        ("weights", Violation::OutOfRange { .. }) => {
            "each weight must be between 0% and 100%".into()
        }
        ("traffic", Violation::OutOfRange { .. }) => "must be between 0% and 100%".into(),
        (f, Violation::OutOfRange { min, max }) if f.ends_with("].threshold") => format!(
            "must be between {}% and {}%",
            percent_text(*min),
            percent_text(*max)
        ),
        ("minimum_effect", Violation::MinimumEffect { max }) => format!(
            "the smallest lift that matters: above 0% and at most {}%",
            percent_text(*max)
        ),
        ("floor", Violation::FloorTooHigh { max, .. }) => format!(
            "must be between 0% and {}% (100% divided by the number of variants)",
            percent_text(*max)
        ),
        (_, violation) => violation.to_string(),
    }
}

fn percent(field: &str, text: &str, errors: &mut FieldErrors) -> Option<f64> {
    parse_percent(text).map_err(|m| errors.add(field, m)).ok()
}

fn optional_percent(field: &str, text: &str, errors: &mut FieldErrors) -> Option<f64> {
    if text.trim().is_empty() {
        return None;
    }
    percent(field, text, errors)
}

/// What the CUPED field says: `off`, a lookback, or nothing (the default). The domain checks
/// the lookback.
fn cuped(form: &ExperimentForm) -> Option<CupedDraft> {
    match form.cuped.trim() {
        "" => None,
        CUPED_OFF => Some(CupedDraft::Switch(false)),
        lookback => Some(CupedDraft::Settings {
            lookback: lookback.to_string(),
        }),
    }
}

/// The CUPED field's word for "no adjustment".
const CUPED_OFF: &str = "off";

/// The analysis picked (none picked: the default).
fn analysis(form: &ExperimentForm, errors: &mut FieldErrors) -> Option<Analysis> {
    let text = form.analysis.trim();
    if text.is_empty() {
        return None;
    }
    let parsed = Analysis::parse(text);
    if parsed.is_none() {
        errors.add("analysis", "pick bayesian or sequential");
    }
    parsed
}

/// The minimum runtime as typed (the domain parses it) and the minimum effect from a
/// percentage; empty fields: the defaults (or, editing, unchanged).
fn verdict_settings(
    form: &ExperimentForm,
    errors: &mut FieldErrors,
) -> (Option<String>, Option<f64>) {
    let runtime = form.min_runtime.trim();
    let min_runtime = (!runtime.is_empty()).then(|| runtime.to_string());
    let minimum_effect = optional_percent("minimum_effect", &form.minimum_effect, errors);
    (min_runtime, minimum_effect)
}

fn optional_count(form: &ExperimentForm, errors: &mut FieldErrors) -> Option<u32> {
    if form.min_users_per_arm.trim().is_empty() {
        return None;
    }
    parse_count(&form.min_users_per_arm)
        .map_err(|m| errors.add("min_users_per_arm", m))
        .ok()
}

/// The targeting rows and JSON as targeting (rows must be compacted), errors by row.
fn targeting(form: &ExperimentForm, errors: &mut FieldErrors) -> Option<Targeting> {
    let rules = rows_and_json_rules(
        &form.rules,
        "rule",
        &form.targeting_json,
        "targeting_json",
        errors,
    );
    if !errors.is_empty() {
        return None;
    }
    Targeting::from_json(&Value::Array(rules))
        .map_err(|e| errors.add(field_of(form, &e), message_of(&e)))
        .ok()
}

/// The pinned rule rows as rules (rows must be compacted), errors by row.
fn pinned_rules(form: &ExperimentForm, errors: &mut FieldErrors) -> Vec<PinnedRule> {
    let mut rules = Vec::with_capacity(form.pins.len());
    for (i, pin) in form.pins.iter().enumerate() {
        let segment = SegmentKey::parse(pin.segment.trim())
            .map_err(|_| errors.add(format!("pin-{i}-segment"), "choose a segment"))
            .ok();
        let variant = VariantKey::parse(pin.variant.trim())
            .map_err(|_| errors.add(format!("pin-{i}-variant"), "choose a variant"))
            .ok();
        if let (Some(segment), Some(variant)) = (segment, variant) {
            rules.push(PinnedRule { segment, variant });
        }
    }
    rules
}

/// The layer fields as a layer (`None` when no key is typed).
fn layer(form: &ExperimentForm, errors: &mut FieldErrors) -> Option<Layer> {
    if form.layer_key.trim().is_empty() {
        return None;
    }
    let key = LayerKey::parse(form.layer_key.trim())
        .map_err(|e| errors.add("layer_key", e.violation.to_string()))
        .ok();
    let mut bound = |text: &str, field: &str| {
        if text.trim().is_empty() {
            errors.add(field, "type a percentage of the layer, e.g. 50");
            return None;
        }
        percent(field, text, errors)
    };
    let from = bound(&form.layer_from, "layer_from");
    let to = bound(&form.layer_to, "layer_to");
    Some(Layer {
        key: key?,
        from: from?,
        to: to?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> ExperimentForm {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        let mut f = read(&FormData::parse(body.as_bytes()).unwrap());
        f.compact();
        f
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("key", "push-time"),
            ("name", "Push send time"),
            ("dimension", "timing"),
            ("kind", "ab"),
            ("goal_event", "open"),
            ("goal_metric", "conversion"),
            ("traffic", "50"),
            ("variant-0-key", "morning"),
            ("variant-0-payload", r#"{"send_at_hour": 8}"#),
            ("variant-0-weight", "30"),
            ("variant-1-key", "evening"),
            ("variant-1-payload", r#"{"send_at_hour": 19}"#),
            ("variant-1-weight", "70"),
            ("variant-2-key", ""),
            ("control", "1"),
            ("rule-0-attribute", "platform"),
            ("rule-0-op", "in"),
            ("rule-0-value", "ios, android"),
            ("rule-1-attribute", ""),
            ("rule-1-op", "eq"),
            ("rule-1-value", ""),
        ]
    }

    #[test]
    fn a_filled_form_becomes_a_valid_draft() {
        let spec = to_draft(&form(&valid())).unwrap().validate().unwrap();
        assert_eq!(spec.control.as_str(), "evening");
        assert_eq!(spec.traffic, 0.5);
        assert_eq!(spec.variants[1].weight, 0.7);
        assert_eq!(spec.variants[0].payload, json!({"send_at_hour": 8}));
        assert_eq!(
            serde_json::to_value(&spec.targeting).unwrap(),
            json!([{"attribute": "platform", "op": "in", "value": ["ios", "android"]}])
        );
    }

    #[test]
    fn bad_json_is_reported_next_to_its_payload() {
        let mut pairs = valid();
        pairs[11] = ("variant-1-payload", "{send_at_hour: 19}");
        let errors = to_draft(&form(&pairs)).unwrap_err();
        assert!(errors.get("variant-1-payload").unwrap().contains("JSON"));
        assert!(errors.get("variant-0-payload").is_none());
    }

    #[test]
    fn domain_errors_find_their_field_and_the_forms_words() {
        let mut pairs = valid();
        pairs[12] = ("variant-1-weight", "60");
        let f = form(&pairs);
        let e = to_draft(&f).unwrap().validate().unwrap_err();
        assert_eq!(
            refusal(&f, &e).get("weights"),
            Some("the weights must add up to 100%, not 90%")
        );
        let mut pairs = valid();
        pairs[16] = ("rule-0-op", "gt");
        pairs[17] = ("rule-0-value", "");
        assert!(to_draft(&form(&pairs)).unwrap_err().get("rule-0").is_some());
        let floor = ValidationError::new(
            "floor",
            Violation::FloorTooHigh {
                arms: 3,
                max: 1.0 / 3.0,
            },
        );
        assert_eq!(
            refusal(&f, &floor).get("floor"),
            Some("must be between 0% and 33.3333% (100% divided by the number of variants)")
        );
        let name =
            ValidationError::new("variants.evening.name", Violation::Text { max_bytes: 200 });
        assert_eq!(
            refusal(&f, &name).get("variant-1-name"),
            Some("must be 1 to 200 bytes of text")
        );
    }

    #[test]
    fn an_experiment_reads_back_as_the_same_form() {
        let spec = to_draft(&form(&valid())).unwrap().validate().unwrap();
        let now = chrono::Utc::now();
        let experiment = Experiment {
            id: 1,
            spec,
            status: crate::domain::Status::Draft,
            winner: None,
            version: 1,
            variant_ids: vec![1, 2],
            dropped_at: vec![None, None],
            created_at: now,
            updated_at: now,
            started_at: None,
            stopped_at: None,
        };
        let f = of_experiment(&experiment);
        assert_eq!(f.traffic, "50");
        assert_eq!(f.variants[0].weight, "30");
        assert_eq!(f.rules[0].value, "ios, android");
        let patch = to_patch(&f, &experiment).unwrap();
        assert!(patch.weights.is_none(), "unchanged weights are not sent");
        let again = experiment.spec.patched(patch).unwrap();
        assert_eq!(again, experiment.spec);
    }

    #[test]
    fn metric_errors_find_their_box_or_row() {
        let mut pairs = valid();
        pairs.extend([
            ("secondary", "revenue"),
            ("secondary", "aov"),
            ("guard-0-metric", "uninstalls"),
            ("guard-0-threshold", "2"),
            ("guard-1-metric", ""),
            ("guard-1-threshold", ""),
        ]);
        let f = form(&pairs);
        assert_eq!(f.guardrails.len(), 1, "the blank row is dropped");
        let at = |field: &str| {
            let e = ValidationError::new(field, Violation::Nul);
            refusal(&f, &e).iter().next().unwrap().0.to_string()
        };
        assert_eq!(at("metrics.goal"), "goal_key");
        assert_eq!(at("metrics.secondary[1]"), "secondary-aov");
        assert_eq!(at("metrics.secondary[7]"), "secondary");
        assert_eq!(at("metrics.secondary"), "secondary");
        assert_eq!(at("metrics.guardrails[0].threshold"), "guard-0-threshold");
        assert_eq!(at("metrics.guardrails[0].metric"), "guard-0-metric");
        assert_eq!(at("metrics.guardrails[3].metric"), "guardrails");
        assert_eq!(at("metrics"), "metrics");
        let draft = to_draft(&f).unwrap();
        assert_eq!(draft.metrics.secondary.len(), 2);
        assert_eq!(draft.metrics.guardrails[0].threshold, 0.02);
    }
}
