//! The create and edit forms: raw values as typed (so a refused form comes back exactly as it
//! was sent), their conversion into the domain's `ExperimentDraft` / `ExperimentPatch`, and
//! errors keyed by the form field they belong to.
//!
//! Field names: `key`, `name`, `description`, `dimension`, `kind`, `control`, `goal_event`,
//! `goal_metric`, `traffic`, `floor`, `min_users_per_arm`, `variant-{i}-{key,name,payload,weight}`,
//! `rule-{i}-{attribute,op,value}`. Group errors: `variants`, `weights`, `targeting`, `rule-{i}`.

use crate::domain::{Condition, MAX_VARIANTS, Rule};
use crate::domain::{
    Dimension, EventName, Experiment, ExperimentDraft, ExperimentKey, ExperimentPatch, Kind,
    Metric, Op, Targeting, ValidationError, VariantDraft, VariantKey,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Most rows a form may carry; indices beyond are ignored (a form is typed by a person).
const MAX_ROWS: usize = MAX_VARIANTS + 10;

/// A submitted `application/x-www-form-urlencoded` body, in order, repeated names kept.
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Result<FormData, String> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(FormData)
            .map_err(|e| format!("the form could not be read: {e}"))
    }

    /// The first value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// `(index, column, value)` of every field named `{prefix}-{index}-{column}`.
    fn rows<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (usize, &'a str, &'a str)> {
        self.0.iter().filter_map(move |(k, v)| {
            let rest = k.strip_prefix(prefix)?.strip_prefix('-')?;
            let (index, column) = rest.split_once('-')?;
            let index: usize = index.parse().ok()?;
            (index < MAX_ROWS).then_some((index, column, v.as_str()))
        })
    }

    /// The rows named `{prefix}-{index}-{column}` by index, each built by `set` from its
    /// columns (unknown columns are for `set` to ignore).
    fn rows_of<T: Default>(
        &self,
        prefix: &str,
        set: impl Fn(&mut T, &str, &str),
    ) -> BTreeMap<usize, T> {
        let mut rows: BTreeMap<usize, T> = BTreeMap::new();
        for (i, column, value) in self.rows(prefix) {
            set(rows.entry(i).or_default(), column, value);
        }
        rows
    }
}

/// Errors by field name; the first error of a field wins.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    /// One error, at `field`.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariantRow {
    pub key: String,
    pub name: String,
    /// JSON, as typed.
    pub payload: String,
    /// Percent, as typed.
    pub weight: String,
    pub control: bool,
}

impl VariantRow {
    fn is_blank(&self) -> bool {
        [&self.key, &self.name, &self.payload, &self.weight]
            .iter()
            .all(|s| s.trim().is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleRow {
    pub attribute: String,
    pub op: String,
    pub value: String,
}

impl RuleRow {
    fn is_blank(&self) -> bool {
        self.attribute.trim().is_empty() && self.value.trim().is_empty()
    }

    /// A blank row, its comparison preset to "is".
    fn spare() -> RuleRow {
        RuleRow {
            op: "eq".into(),
            ..RuleRow::default()
        }
    }

    fn from_condition(c: &Condition) -> RuleRow {
        RuleRow {
            attribute: c.attribute.clone(),
            op: op_name(c.op),
            value: rule_value_text(c.op, c.value.as_ref()),
        }
    }

    fn set(&mut self, column: &str, value: &str) {
        match column {
            "attribute" => self.attribute = value.into(),
            "op" => self.op = value.into(),
            "value" => self.value = value.into(),
            _ => {}
        }
    }
}

/// The condition rows as rules (JSON values), then the rules typed as JSON in `json_field`
/// (a list, or one rule); errors at `{prefix}-{i}-op`, `{prefix}-{i}-value` and `json_field`.
fn rows_and_json_rules(
    rows: &[RuleRow],
    prefix: &str,
    json: &str,
    json_field: &str,
    errors: &mut FieldErrors,
) -> Vec<Value> {
    let mut rules: Vec<Value> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Some(op) = parse_op(row.op.trim()) else {
            errors.add(format!("{prefix}-{i}-op"), "choose a comparison");
            continue;
        };
        match rule_value(op, &row.value) {
            Ok(value) => rules.push(
                serde_json::to_value(Condition {
                    attribute: row.attribute.trim().to_string(),
                    op,
                    value,
                })
                .expect("a condition serializes"),
            ),
            Err(message) => errors.add(format!("{prefix}-{i}-value"), message),
        }
    }
    if !json.trim().is_empty() {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Array(items)) => rules.extend(items),
            Ok(other) => rules.push(other),
            Err(e) => errors.add(json_field, format!("not valid JSON: {e}")),
        }
    }
    rules
}

/// Rules that are not plain conditions, as the pretty JSON of their list ("" when none).
fn json_of_others<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> String {
    let others: Vec<&Rule> = rules
        .into_iter()
        .filter(|r| !matches!(r, Rule::Condition(_)))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        serde_json::to_string_pretty(&others).unwrap_or_default()
    }
}

/// The plain conditions among `rules`, as rows.
fn condition_rows<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<RuleRow> {
    rules
        .into_iter()
        .filter_map(|r| match r {
            Rule::Condition(c) => Some(RuleRow::from_condition(c)),
            _ => None,
        })
        .collect()
}

/// The create/edit form's values, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentForm {
    pub key: String,
    pub name: String,
    pub description: String,
    pub dimension: String,
    pub kind: String,
    pub goal_event: String,
    pub goal_metric: String,
    /// Percent of matching users enrolled.
    pub traffic: String,
    /// Bandits: percent per arm.
    pub floor: String,
    pub min_users_per_arm: String,
    /// Context attributes, separated by commas (fixed once created).
    pub context: String,
    pub variants: Vec<VariantRow>,
    pub rules: Vec<RuleRow>,
    /// More targeting rules as JSON (groups, segment references), added to the rows'.
    pub targeting_json: String,
    /// Pinned rules: segment key → variant key (`pin-{i}-{segment,variant}`).
    pub pins: Vec<PinRow>,
    /// The layer's key (empty: no layer) and its range in percent.
    pub layer_key: String,
    pub layer_from: String,
    pub layer_to: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PinRow {
    pub segment: String,
    pub variant: String,
}

impl PinRow {
    fn is_blank(&self) -> bool {
        self.segment.trim().is_empty() && self.variant.trim().is_empty()
    }
}

impl Default for ExperimentForm {
    /// A new experiment's form: two variant rows, the first the control, one targeting row.
    fn default() -> Self {
        ExperimentForm {
            key: String::new(),
            name: String::new(),
            description: String::new(),
            dimension: Dimension::Content.as_str().into(),
            kind: Kind::Ab.as_str().into(),
            goal_event: String::new(),
            goal_metric: Metric::Conversion.as_str().into(),
            traffic: "100".into(),
            floor: String::new(),
            min_users_per_arm: String::new(),
            context: String::new(),
            variants: vec![
                VariantRow {
                    control: true,
                    ..VariantRow::default()
                },
                VariantRow::default(),
            ],
            rules: vec![RuleRow::spare()],
            targeting_json: String::new(),
            pins: Vec::new(),
            layer_key: String::new(),
            layer_from: String::new(),
            layer_to: String::new(),
        }
    }
}

/// `0.5` → `"50"`, `0.3333` → `"33.33"`: a share shown as the percent a person would type.
pub fn percent_text(share: f64) -> String {
    let text = format!("{:.4}", share * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `"12.5"` or `"12.5 %"` → `0.125`.
fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches('%').trim();
    match t.replace(',', ".").parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x / 100.0),
        _ => Err(format!(
            "{text:?} is not a number; type a percentage such as 50"
        )),
    }
}

fn parse_count(text: &str) -> Result<u32, String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '_'))
        .collect();
    digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of users"))
}

/// A typed scalar: JSON when it reads as a JSON scalar (`42`, `true`, `"42"`), else the text.
fn scalar_from_text(text: &str) -> Value {
    let t = text.trim();
    match serde_json::from_str::<Value>(t) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::String(t.to_string()),
    }
}

/// The text that `scalar_from_text` reads back as `v`.
fn scalar_to_text(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.trim() == s
                && !s.contains(',')
                && matches!(scalar_from_text(s), Value::String(ref back) if back == s);
            if plain { s.clone() } else { v.to_string() }
        }
        other => other.to_string(),
    }
}

/// A rule's value as typed: lists for `in`/`not_in` are comma-separated (or a JSON array).
fn rule_value(op: Op, text: &str) -> Result<Option<Value>, String> {
    let t = text.trim();
    match op {
        Op::Exists => match t.to_ascii_lowercase().as_str() {
            "" | "true" | "yes" => Ok(None),
            "false" | "no" => Ok(Some(Value::Bool(false))),
            _ => Err("leave empty (must exist) or type false (must be missing)".into()),
        },
        _ if t.is_empty() => Ok(None),
        Op::In | Op::NotIn if t.starts_with('[') => serde_json::from_str(t)
            .map(Some)
            .map_err(|e| format!("not a valid JSON list: {e}")),
        Op::In | Op::NotIn => Ok(Some(Value::Array(
            t.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(scalar_from_text)
                .collect(),
        ))),
        _ => Ok(Some(scalar_from_text(t))),
    }
}

fn rule_value_text(op: Op, value: Option<&Value>) -> String {
    match (op, value) {
        (_, None) => String::new(),
        // A comma inside an item would split it when read back: write such lists as JSON.
        (Op::In | Op::NotIn, Some(v @ Value::Array(items)))
            if items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.contains(','))) =>
        {
            v.to_string()
        }
        (Op::In | Op::NotIn, Some(Value::Array(items))) => items
            .iter()
            .map(scalar_to_text)
            .collect::<Vec<_>>()
            .join(", "),
        (_, Some(v)) => scalar_to_text(v),
    }
}

pub fn op_name(op: Op) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse_op(text: &str) -> Option<Op> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

/// Every operator, with the words the form shows for it.
pub const OPS: &[(&str, &str)] = &[
    ("eq", "is"),
    ("neq", "is not"),
    ("in", "is one of"),
    ("not_in", "is none of"),
    ("lt", "is less than"),
    ("lte", "is at most"),
    ("gt", "is greater than"),
    ("gte", "is at least"),
    ("exists", "exists"),
];

impl ExperimentForm {
    /// Reads the form as sent (rows in index order, blank rows kept).
    pub fn from_form(form: &FormData) -> ExperimentForm {
        let mut variants =
            form.rows_of(
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
        ExperimentForm {
            key: form.get("key").into(),
            name: form.get("name").into(),
            description: form.get("description").into(),
            dimension: form.get("dimension").into(),
            kind: form.get("kind").into(),
            goal_event: form.get("goal_event").into(),
            goal_metric: form.get("goal_metric").into(),
            traffic: form.get("traffic").into(),
            floor: form.get("floor").into(),
            min_users_per_arm: form.get("min_users_per_arm").into(),
            context: form.get("context").into(),
            variants: variants.into_values().collect(),
            rules: form.rows_of("rule", RuleRow::set).into_values().collect(),
            targeting_json: form.get("targeting_json").into(),
            pins: form
                .rows_of("pin", |row: &mut PinRow, column, value| match column {
                    "segment" => row.segment = value.into(),
                    "variant" => row.variant = value.into(),
                    _ => {}
                })
                .into_values()
                .collect(),
            layer_key: form.get("layer_key").into(),
            layer_from: form.get("layer_from").into(),
            layer_to: form.get("layer_to").into(),
        }
    }

    /// The form of an existing experiment, for editing.
    pub fn from_experiment(experiment: &Experiment) -> ExperimentForm {
        let spec = &experiment.spec;
        ExperimentForm {
            key: spec.key.to_string(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            dimension: spec.dimension.as_str().into(),
            kind: spec.kind.as_str().into(),
            goal_event: spec.goal.event.to_string(),
            goal_metric: spec.goal.metric.as_str().into(),
            traffic: percent_text(spec.traffic),
            floor: if spec.kind == Kind::Bandit {
                percent_text(spec.floor)
            } else {
                String::new()
            },
            min_users_per_arm: spec.min_users_per_arm.to_string(),
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
            layer_key: spec
                .layer
                .as_ref()
                .map_or(String::new(), |l| l.key.to_string()),
            layer_from: spec
                .layer
                .as_ref()
                .map_or(String::new(), |l| percent_text(l.from)),
            layer_to: spec
                .layer
                .as_ref()
                .map_or(String::new(), |l| percent_text(l.to)),
        }
    }

    /// Drops blank rows (they are spare rows of the form, not input); the control stays marked.
    pub fn compact(&mut self) {
        self.variants.retain(|v| !v.is_blank());
        self.rules.retain(|r| !r.is_blank());
        self.pins.retain(|p| !p.is_blank());
    }

    /// The pinned rule rows as rules (rows must be compacted), errors by row.
    fn pinned_rules(&self, errors: &mut FieldErrors) -> Vec<crate::domain::PinnedRule> {
        let mut rules = Vec::with_capacity(self.pins.len());
        for (i, pin) in self.pins.iter().enumerate() {
            let segment = crate::domain::SegmentKey::parse(pin.segment.trim())
                .map_err(|_| errors.add(format!("pin-{i}-segment"), "choose a segment"))
                .ok();
            let variant = VariantKey::parse(pin.variant.trim())
                .map_err(|_| errors.add(format!("pin-{i}-variant"), "choose a variant"))
                .ok();
            if let (Some(segment), Some(variant)) = (segment, variant) {
                rules.push(crate::domain::PinnedRule { segment, variant });
            }
        }
        rules
    }

    /// The layer fields as a layer (`None` when no key is typed).
    fn layer(&self, errors: &mut FieldErrors) -> Option<crate::domain::Layer> {
        if self.layer_key.trim().is_empty() {
            return None;
        }
        let key = crate::domain::LayerKey::parse(self.layer_key.trim())
            .map_err(|e| errors.add("layer_key", e.message))
            .ok();
        let bound = |text: &str, field: &str, errors: &mut FieldErrors| {
            if text.trim().is_empty() {
                errors.add(field, "type a percentage of the layer, e.g. 50");
                return None;
            }
            parse_percent(text).map_err(|m| errors.add(field, m)).ok()
        };
        let from = bound(&self.layer_from, "layer_from", errors);
        let to = bound(&self.layer_to, "layer_to", errors);
        Some(crate::domain::Layer {
            key: key?,
            from: from?,
            to: to?,
        })
    }

    /// One more blank pinned-rule row.
    pub fn with_spare_pin(mut self) -> Self {
        self.pins.push(PinRow::default());
        self
    }

    /// Pads with blank rows so a person can add a variant or a rule without JavaScript.
    pub fn with_spare_rows(mut self, variants: usize, rules: usize) -> Self {
        while self.variants.len() < 2 {
            self.variants.push(VariantRow::default());
        }
        for _ in 0..variants {
            if self.variants.len() < MAX_VARIANTS {
                self.variants.push(VariantRow::default());
            }
        }
        if !self.variants.iter().any(|v| v.control) {
            self.variants[0].control = true;
        }
        for _ in 0..rules {
            self.rules.push(RuleRow::spare());
        }
        self
    }

    fn kind(&self) -> Option<Kind> {
        Kind::parse(self.kind.trim())
    }

    /// The targeting rows as conditions (rows must be compacted), errors by row.
    fn targeting(&self, errors: &mut FieldErrors) -> Option<Targeting> {
        let rules = rows_and_json_rules(
            &self.rules,
            "rule",
            &self.targeting_json,
            "targeting_json",
            errors,
        );
        if !errors.is_empty() {
            return None;
        }
        match Targeting::from_json(&Value::Array(rules)) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.add(self.field_of(&e), self.message_of(&e));
                None
            }
        }
    }

    /// The form field a domain error belongs to.
    pub fn field_of(&self, e: &ValidationError) -> String {
        let field = e.field.as_str();
        if let Some(rest) = field.strip_prefix("variants.") {
            if let Some((key, column)) = rest.rsplit_once('.')
                && let Some(i) = self.variants.iter().position(|v| v.key.trim() == key)
            {
                return format!("variant-{i}-{column}");
            }
            return "variants".into();
        }
        if let Some(rest) = field.strip_prefix("targeting[") {
            // Rows come first, then the rules typed as JSON.
            return match rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) {
                Some(i) if i < self.rules.len() => format!("rule-{i}"),
                _ => "targeting_json".into(),
            };
        }
        if let Some((i, column)) = field
            .strip_prefix("rules[")
            .and_then(|rest| rest.split_once("]."))
        {
            return format!("pin-{i}-{column}");
        }
        match field {
            "variant" => "variants".into(),
            "json" => "form".into(),
            "rules" => "pins".into(),
            "layer" | "layer.key" => "layer".into(),
            other => other.into(),
        }
    }

    /// A domain error's message in the form's terms (percentages where the form has them).
    pub fn message_of(&self, e: &ValidationError) -> String {
        let m = e.message.as_str();
        if e.field == "weights" {
            if let Some(sum) = m
                .strip_prefix("weights must sum to 1, not ")
                .and_then(|s| s.parse::<f64>().ok())
            {
                return format!(
                    "the weights must add up to 100%, not {}%",
                    percent_text(sum)
                );
            }
            if m.contains("between 0 and 1") {
                return "each weight must be between 0% and 100%".into();
            }
        }
        if e.field == "traffic" && m.contains("between 0 and 1") {
            return "must be between 0% and 100%".into();
        }
        if e.field == "floor"
            && let Some(max) = m
                .split(" = ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|x| x.parse::<f64>().ok())
        {
            return format!(
                "must be between 0% and {}% (100% divided by the number of variants)",
                percent_text(max)
            );
        }
        m.to_string()
    }

    /// The draft to create, or every error found in the typed values. Blank rows must have
    /// been removed (`compact`). Rules the domain checks (names, weights summing to 1, ...) are
    /// left to `ExperimentDraft::validate`, whose error `field_of` places.
    pub fn to_draft(&self) -> Result<ExperimentDraft, FieldErrors> {
        let mut errors = FieldErrors::default();
        let key = ExperimentKey::parse(self.key.trim())
            .map_err(|e| errors.add("key", e.message))
            .ok();
        let dimension = Dimension::parse(self.dimension.trim());
        if dimension.is_none() {
            errors.add("dimension", "choose content, timing or trigger");
        }
        let kind = self.kind();
        if kind.is_none() {
            errors.add("kind", "choose an A/B test or a bandit");
        }
        let event = EventName::parse(self.goal_event.trim())
            .map_err(|e| {
                let message = if self.goal_event.trim().is_empty() {
                    "name the event that counts as success, e.g. purchase".to_string()
                } else {
                    e.message
                };
                errors.add("goal_event", message)
            })
            .ok();
        let metric = Metric::parse(self.goal_metric.trim());
        if metric.is_none() {
            errors.add("goal_metric", "choose conversion or revenue");
        }

        let mut variants = Vec::with_capacity(self.variants.len());
        let mut control = None;
        for (i, row) in self.variants.iter().enumerate() {
            let key = VariantKey::parse(row.key.trim())
                .map_err(|e| errors.add(format!("variant-{i}-key"), e.message))
                .ok();
            let payload = if row.payload.trim().is_empty() {
                Value::Null
            } else {
                match serde_json::from_str::<Value>(&row.payload) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.add(
                            format!("variant-{i}-payload"),
                            format!("not valid JSON: {e}"),
                        );
                        Value::Null
                    }
                }
            };
            let weight = match kind {
                Some(Kind::Ab) if !row.weight.trim().is_empty() => parse_percent(&row.weight)
                    .map_err(|m| errors.add(format!("variant-{i}-weight"), m))
                    .ok(),
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
        if self.variants.len() < 2 {
            errors.add("variants", "an experiment needs at least 2 variants");
        }
        let targeting = self.targeting(&mut errors);
        let traffic = self.optional_percent("traffic", &self.traffic, &mut errors);
        let floor = match kind {
            Some(Kind::Bandit) => self.optional_percent("floor", &self.floor, &mut errors),
            _ => None,
        };
        let min_users_per_arm = self.optional_count(&mut errors);
        let rules = self.pinned_rules(&mut errors);
        let layer = self.layer(&mut errors);

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ExperimentDraft {
            key: key.expect("checked"),
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            dimension: dimension.expect("checked"),
            kind: kind.expect("checked"),
            variants,
            control,
            goal: crate::domain::Goal {
                event: event.expect("checked"),
                metric: metric.expect("checked"),
            },
            targeting: targeting.expect("checked"),
            traffic,
            floor,
            min_users_per_arm,
            pinned_rules: rules,
            layer,
            context: self
                .context
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    /// The changes an edit asks for. Only what may change while running is read: name,
    /// description, traffic, targeting, weights (A/B) or floor (bandit), the minimum data.
    pub fn to_patch(&self, current: &Experiment) -> Result<ExperimentPatch, FieldErrors> {
        let mut errors = FieldErrors::default();
        let spec = &current.spec;
        let targeting = self.targeting(&mut errors);
        let traffic = self.optional_percent("traffic", &self.traffic, &mut errors);
        let min_users_per_arm = self.optional_count(&mut errors);
        let rules = self.pinned_rules(&mut errors);
        let layer = self.layer(&mut errors);
        let mut weights = None;
        let mut floor = None;
        match spec.kind {
            Kind::Ab => {
                let mut given = BTreeMap::new();
                let typed: HashMap<&str, &str> = self
                    .variants
                    .iter()
                    .map(|v| (v.key.as_str(), v.weight.as_str()))
                    .collect();
                for (i, v) in spec.variants.iter().enumerate() {
                    let text = typed.get(v.key.as_str()).copied().unwrap_or("");
                    if text.trim().is_empty() {
                        errors.add(format!("variant-{i}-weight"), "give every variant a weight");
                        continue;
                    }
                    match parse_percent(text) {
                        Ok(w) => {
                            given.insert(v.key.clone(), w);
                        }
                        Err(m) => errors.add(format!("variant-{i}-weight"), m),
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
            Kind::Bandit => floor = self.optional_percent("floor", &self.floor, &mut errors),
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ExperimentPatch {
            name: Some(self.name.trim().to_string()),
            description: Some(self.description.trim().to_string()),
            traffic,
            targeting,
            weights,
            floor,
            min_users_per_arm,
            pinned_rules: Some(rules),
            layer: Some(layer),
        })
    }

    fn optional_percent(&self, field: &str, text: &str, errors: &mut FieldErrors) -> Option<f64> {
        if text.trim().is_empty() {
            return None;
        }
        parse_percent(text).map_err(|m| errors.add(field, m)).ok()
    }

    fn optional_count(&self, errors: &mut FieldErrors) -> Option<u32> {
        if self.min_users_per_arm.trim().is_empty() {
            return None;
        }
        parse_count(&self.min_users_per_arm)
            .map_err(|m| errors.add("min_users_per_arm", m))
            .ok()
    }
}

/// The segment form: key, name, description, a top-level group (`all` or `any`) over rows of
/// conditions (`cond-{i}-{attribute,op,value}`), plus nested groups as JSON (`rule_json`).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentForm {
    pub key: String,
    pub name: String,
    pub description: String,
    /// `all` or `any`.
    pub group: String,
    pub conditions: Vec<RuleRow>,
    pub rule_json: String,
}

impl Default for SegmentForm {
    fn default() -> Self {
        SegmentForm {
            key: String::new(),
            name: String::new(),
            description: String::new(),
            group: "all".into(),
            conditions: vec![RuleRow::spare(); 2],
            rule_json: String::new(),
        }
    }
}

impl SegmentForm {
    pub fn from_form(form: &FormData) -> SegmentForm {
        SegmentForm {
            key: form.get("key").into(),
            name: form.get("name").into(),
            description: form.get("description").into(),
            group: form.get("group").into(),
            conditions: form.rows_of("cond", RuleRow::set).into_values().collect(),
            rule_json: form.get("rule_json").into(),
        }
    }

    pub fn from_segment(segment: &crate::domain::Segment) -> SegmentForm {
        let spec = &segment.spec;
        let (group, children): (&str, Vec<&Rule>) = match &spec.rule {
            Rule::All(rules) => ("all", rules.iter().collect()),
            Rule::Any(rules) => ("any", rules.iter().collect()),
            other => ("all", vec![other]),
        };
        SegmentForm {
            key: spec.key.to_string(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            group: group.into(),
            conditions: condition_rows(children.iter().copied()),
            rule_json: json_of_others(children.iter().copied()),
        }
    }

    /// Drops blank rows, then pads with `spare` blank ones.
    pub fn with_spare_rows(mut self, spare: usize) -> Self {
        self.conditions.retain(|r| !r.is_blank());
        for _ in 0..spare {
            self.conditions.push(RuleRow::spare());
        }
        self
    }

    /// The draft to submit (blank rows must have been removed), or the errors by field.
    pub fn to_draft(&self, creating: bool) -> Result<crate::domain::SegmentDraft, FieldErrors> {
        let mut errors = FieldErrors::default();
        let key = if creating {
            crate::domain::SegmentKey::parse(self.key.trim())
                .map_err(|e| errors.add("key", e.message))
                .ok()
        } else {
            None
        };
        let group = match self.group.trim() {
            g @ ("all" | "any") => g,
            _ => {
                errors.add("group", "choose all or any");
                "all"
            }
        };
        let children = rows_and_json_rules(
            &self.conditions,
            "cond",
            &self.rule_json,
            "rule_json",
            &mut errors,
        );
        if children.is_empty() && errors.is_empty() {
            errors.add(
                "conditions",
                "give at least one condition (or a rule as JSON)",
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(crate::domain::SegmentDraft {
            key,
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            rule: serde_json::json!({ group: children }),
        })
    }

    /// The form field a domain error belongs to.
    pub fn field_of(&self, e: &ValidationError) -> String {
        let field = e.field.as_str();
        if let Some(rest) = field.strip_prefix("rule.") {
            // `rule.all[3]...`: rows come first, then the rules typed as JSON.
            let index = rest
                .split_once('[')
                .and_then(|(_, r)| r.split(']').next())
                .and_then(|i| i.parse::<usize>().ok());
            let whole_row = rest.ends_with(']') && rest.matches('[').count() == 1;
            return match index {
                Some(i) if i < self.conditions.len() && whole_row => format!("cond-{i}"),
                _ => "rule_json".into(),
            };
        }
        match field {
            "rule" => "conditions".into(),
            other => other.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> ExperimentForm {
        let body = serde_urlencoded::to_string(pairs).unwrap();
        let mut f = ExperimentForm::from_form(&FormData::parse(body.as_bytes()).unwrap());
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
        let spec = form(&valid()).to_draft().unwrap().validate().unwrap();
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
        let errors = form(&pairs).to_draft().unwrap_err();
        assert!(errors.get("variant-1-payload").unwrap().contains("JSON"));
        assert!(errors.get("variant-0-payload").is_none());
    }

    #[test]
    fn domain_errors_find_their_field() {
        let mut pairs = valid();
        pairs[12] = ("variant-1-weight", "60");
        let f = form(&pairs);
        let e = f.to_draft().unwrap().validate().unwrap_err();
        assert_eq!(f.field_of(&e), "weights");
        let mut pairs = valid();
        pairs[16] = ("rule-0-op", "gt");
        pairs[17] = ("rule-0-value", "");
        let f = form(&pairs);
        assert!(f.to_draft().unwrap_err().get("rule-0").is_some());
    }

    #[test]
    fn an_experiment_reads_back_as_the_same_form() {
        let spec = form(&valid()).to_draft().unwrap().validate().unwrap();
        let now = chrono::Utc::now();
        let experiment = Experiment {
            id: 1,
            spec,
            status: crate::domain::Status::Draft,
            winner: None,
            version: 1,
            variant_ids: vec![1, 2],
            created_at: now,
            updated_at: now,
            started_at: None,
            stopped_at: None,
        };
        let f = ExperimentForm::from_experiment(&experiment);
        assert_eq!(f.traffic, "50");
        assert_eq!(f.variants[0].weight, "30");
        assert_eq!(f.rules[0].value, "ios, android");
        let patch = f.to_patch(&experiment).unwrap();
        assert!(patch.weights.is_none(), "unchanged weights are not sent");
        let again = experiment.spec.patched(patch).unwrap();
        assert_eq!(again, experiment.spec);
    }

    #[test]
    fn scalars_round_trip() {
        for v in [
            json!("ios"),
            json!("42"),
            json!(42),
            json!(true),
            json!("a, b"),
            json!(" x"),
        ] {
            assert_eq!(scalar_from_text(&scalar_to_text(&v)), v, "{v}");
        }
    }
}
