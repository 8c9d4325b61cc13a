//! What the forms show: their values as text, exactly as typed (so a refused form comes back
//! as it was sent), and the errors by field. The dashboard reads them from a request and
//! turns them into domain drafts (`dashboard::forms`); the views only show them.

use crate::domain::{
    Dimension, Direction, GoalMetric, Kind, MAX_GUARDRAILS, MAX_VARIANTS, MeanOf, MetricType, Op,
};
use std::collections::BTreeMap;

/// Error messages by form field name; the first error of a field wins.
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
    pub fn is_blank(&self) -> bool {
        [&self.key, &self.name, &self.payload, &self.weight]
            .iter()
            .all(|s| s.trim().is_empty())
    }
}

/// A condition as typed: `{prefix}-{i}-{attribute,op,value}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleRow {
    pub attribute: String,
    /// The operator's JSON name (`eq`, `not_in`, ...).
    pub op: String,
    pub value: String,
}

impl RuleRow {
    pub fn is_blank(&self) -> bool {
        self.attribute.trim().is_empty() && self.value.trim().is_empty()
    }

    /// A blank row, its comparison preset to "is".
    pub fn spare() -> RuleRow {
        RuleRow {
            op: Op::Eq.as_str().into(),
            ..RuleRow::default()
        }
    }
}

/// A behavioral condition as typed: `{prefix}-{i}-{event,measure,op,value,window,or_never}`.
/// The measure (`count`, `value_sum`, `last_seen_before`, `last_seen_after`,
/// `days_since_first_seen`, `days_since_last_seen`) decides which other columns are read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BehaviorRow {
    pub event: String,
    pub measure: String,
    /// The operator's JSON name (`gte`, `lt`, ...).
    pub op: String,
    /// The number compared with, as typed.
    pub value: String,
    /// A duration as typed (`7d`).
    pub window: String,
    pub or_never: bool,
}

impl BehaviorRow {
    /// Nothing typed: the measure and comparison are selects that always have a value.
    pub fn is_blank(&self) -> bool {
        [&self.event, &self.value, &self.window]
            .iter()
            .all(|s| s.trim().is_empty())
    }

    /// A blank row, preset to "number of events, at least".
    pub fn spare() -> BehaviorRow {
        BehaviorRow {
            measure: "count".into(),
            op: Op::Gte.as_str().into(),
            ..BehaviorRow::default()
        }
    }
}

/// A pinned rule as typed: segment key → variant key (`pin-{i}-{segment,variant}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PinRow {
    pub segment: String,
    pub variant: String,
}

impl PinRow {
    pub fn is_blank(&self) -> bool {
        self.segment.trim().is_empty() && self.variant.trim().is_empty()
    }
}

/// A guardrail as typed: metric key and threshold in percent (`guard-{i}-{metric,threshold}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardrailRow {
    pub metric: String,
    pub threshold: String,
    /// `alert` or `pause`.
    pub action: String,
}

impl GuardrailRow {
    pub fn is_blank(&self) -> bool {
        self.metric.trim().is_empty() && self.threshold.trim().is_empty()
    }
}

/// Where an experiment's goal comes from: typed in the form, or a metric of the library.
pub const GOAL_INLINE: &str = "inline";
pub const GOAL_LIBRARY: &str = "library";

/// The create/edit form of an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentForm {
    pub key: String,
    pub name: String,
    pub description: String,
    pub dimension: String,
    pub kind: String,
    /// `GOAL_INLINE` (the event and metric below) or `GOAL_LIBRARY` (`goal_key`).
    pub goal_source: String,
    pub goal_event: String,
    pub goal_metric: String,
    /// The goal's library metric, by key.
    pub goal_key: String,
    /// Secondary metrics, by key (the boxes ticked).
    pub secondary: Vec<String>,
    pub guardrails: Vec<GuardrailRow>,
    /// Whether the submitted form had the metric fields: a form without them (a script's,
    /// an older page's) leaves the metrics as they are.
    pub metrics_shown: bool,
    /// Percent of matching users enrolled.
    pub traffic: String,
    /// Bandits: percent per arm.
    pub floor: String,
    pub min_users_per_arm: String,
    /// `bayesian` or `sequential`.
    pub analysis: String,
    /// CUPED lookback (`14d`), `off`, or empty for the default.
    pub cuped: String,
    /// A duration (`7d`; `0s`: none); empty: the default.
    pub min_runtime: String,
    /// Percent of relative lift that matters; empty: the default.
    pub minimum_effect: String,
    /// Context attributes, separated by commas (fixed once created).
    pub context: String,
    pub variants: Vec<VariantRow>,
    pub rules: Vec<RuleRow>,
    /// More targeting rules as JSON (groups, segment references), added to the rows'.
    pub targeting_json: String,
    pub pins: Vec<PinRow>,
    /// The layer's key (empty: no layer) and its range in percent.
    pub layer_key: String,
    pub layer_from: String,
    pub layer_to: String,
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
            goal_source: GOAL_INLINE.into(),
            goal_event: String::new(),
            goal_metric: GoalMetric::Conversion.as_str().into(),
            goal_key: String::new(),
            secondary: Vec::new(),
            guardrails: Vec::new(),
            metrics_shown: true,
            traffic: "100".into(),
            floor: String::new(),
            min_users_per_arm: String::new(),
            analysis: "bayesian".into(),
            cuped: String::new(),
            min_runtime: String::new(),
            minimum_effect: String::new(),
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

impl ExperimentForm {
    /// Drops blank rows (they are spare rows of the form, not input); the control stays marked.
    pub fn compact(&mut self) {
        self.variants.retain(|v| !v.is_blank());
        self.rules.retain(|r| !r.is_blank());
        self.pins.retain(|p| !p.is_blank());
        self.guardrails.retain(|g| !g.is_blank());
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

    /// One more blank pinned-rule row.
    pub fn with_spare_pin(mut self) -> Self {
        self.pins.push(PinRow::default());
        self
    }

    /// One more blank guardrail row, up to the most an experiment may have.
    pub fn with_spare_guardrail(mut self) -> Self {
        if self.guardrails.len() < MAX_GUARDRAILS {
            self.guardrails.push(GuardrailRow::default());
        }
        self
    }
}

/// The segment form: key, name, description, a top-level group (`all` or `any`) over rows of
/// conditions (`cond-{i}-{attribute,op,value}`) and of behavioral conditions
/// (`beh-{i}-{event,measure,op,value,window,or_never}`), plus nested groups as JSON
/// (`rule_json`).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentForm {
    pub key: String,
    pub name: String,
    pub description: String,
    /// `all` or `any`.
    pub group: String,
    pub conditions: Vec<RuleRow>,
    pub behaviors: Vec<BehaviorRow>,
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
            behaviors: vec![BehaviorRow::spare()],
            rule_json: String::new(),
        }
    }
}

impl SegmentForm {
    /// Drops blank rows, then pads both lists with `spare` blank ones each.
    pub fn with_spare_rows(mut self, spare: usize) -> Self {
        self.conditions.retain(|r| !r.is_blank());
        self.behaviors.retain(|r| !r.is_blank());
        for _ in 0..spare {
            self.conditions.push(RuleRow::spare());
            self.behaviors.push(BehaviorRow::spare());
        }
        self
    }
}

/// The metric form: the fields of every type, as typed; only the chosen type's are read.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricForm {
    pub key: String,
    pub name: String,
    pub description: String,
    /// `conversion`, `mean`, `ratio` or `retention`.
    pub metric_type: String,
    pub event: String,
    /// Mean: `value` or `count`.
    pub of: String,
    /// Mean: `` (no cap), `value` or `percentile`; `cap` is the value, or the percentile in
    /// percent (99).
    pub cap_kind: String,
    pub cap: String,
    /// Ratio: the parts' keys.
    pub numerator: String,
    pub denominator: String,
    /// Retention: durations as typed (`1d`, `8d`).
    pub from: String,
    pub to: String,
    pub window: String,
    /// `increase` or `decrease`.
    pub direction: String,
}

impl Default for MetricForm {
    fn default() -> Self {
        MetricForm {
            key: String::new(),
            name: String::new(),
            description: String::new(),
            metric_type: MetricType::Conversion.as_str().into(),
            event: String::new(),
            of: MeanOf::Value.as_str().into(),
            cap_kind: String::new(),
            cap: String::new(),
            numerator: String::new(),
            denominator: String::new(),
            from: String::new(),
            to: String::new(),
            window: String::new(),
            direction: Direction::Increase.as_str().into(),
        }
    }
}
