//! The `results` data set: one row per variant with the figures of `/results`, the
//! experiment's repeated on each; then, for a contextual experiment over all time, one row per
//! context and variant (`segment` holds the context as JSON text; the variant rows leave it
//! empty). With a range, the figures are those of the users assigned in the hours that start
//! within it.
//!
//! Column names flatten the results' (`rate.low` → `rate_low`, the variant's `key` →
//! `variant`), each level in alphabetical order: the order analysts' scripts have always
//! seen (the columns were first taken from sorted JSON maps). An optional interval (`lift`,
//! `value_per_user`) is three columns when some row has it, one empty column otherwise.

use super::format::{Encoder, ExportFormat, number, time};
use super::paging::Sink;
use super::selection::Selection;
use crate::domain::{Experiment, PolicyKind, TimeRange};
use crate::engine::EngineError;
use crate::engine::context_results::{ContextResults, ContextVariant, PersonalizationValue};
use crate::engine::metric_results::{MetricResults, MetricVariant};
use crate::engine::metric_sums;
use crate::engine::policy::{ArmModel, OpenArms};
use crate::engine::results::{self, ExperimentResults, VariantResults};
use crate::stats::Interval;
use crate::store::export as rows;
use crate::store::{self, PeriodStats, VariantStats};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::pg::PgConnection;
use serde_json::Value;

/// An interval's name and its three columns, in the export's (alphabetical) order.
struct IntervalColumns {
    name: &'static str,
    parts: [&'static str; 3],
}

const LIFT: IntervalColumns = IntervalColumns {
    name: "lift",
    parts: ["lift_high", "lift_low", "lift_mean"],
};
const RATE: IntervalColumns = IntervalColumns {
    name: "rate",
    parts: ["rate_high", "rate_low", "rate_mean"],
};
const VALUE_PER_USER: IntervalColumns = IntervalColumns {
    name: "value_per_user",
    parts: [
        "value_per_user_high",
        "value_per_user_low",
        "value_per_user_mean",
    ],
};
const VALUE: IntervalColumns = IntervalColumns {
    name: "value",
    parts: ["value_high", "value_low", "value_mean"],
};
const GAIN: IntervalColumns = IntervalColumns {
    name: "personalization_gain",
    parts: [
        "personalization_gain_high",
        "personalization_gain_low",
        "personalization_gain_mean",
    ],
};

impl IntervalColumns {
    /// The three columns when some row has the interval, else the one (empty) column.
    fn columns(&self, some_row_has_it: bool) -> &[&'static str] {
        if some_row_has_it {
            &self.parts
        } else {
            std::slice::from_ref(&self.name)
        }
    }

    fn cells(&self, interval: Option<Interval>, row: &mut Row) {
        if let Some(i) = interval {
            let [high, low, mean] = self.parts;
            row.extend([
                (high, number(i.high)),
                (low, number(i.low)),
                (mean, number(i.mean)),
            ]);
        }
    }
}

/// A row's cells by column; a column without a cell is empty (null).
type Row = Vec<(&'static str, Value)>;

pub(super) fn write(
    conn: &mut PgConnection,
    selection: &Selection,
    weights: Option<Vec<f64>>,
    format: ExportFormat,
    sink: &mut dyn Sink,
) -> Result<u64, EngineError> {
    let range = selection.range;
    let results = compute(conn, selection.experiment, range, weights)?;
    // Metric rows only for an experiment with library metrics (the others' exports keep
    // their bytes) and over all time (per-user values have no range).
    let metrics: &[MetricResults] =
        if range.is_all() && !selection.experiment.spec.metrics.declared().is_empty() {
            &results.metrics
        } else {
            &[]
        };
    let columns = columns(&results, range, metrics);
    let rows = rows_of(&results, range, metrics);
    let mut encoder = Encoder::new(format, columns.clone());
    static EMPTY: Value = Value::Null;
    for row in &rows {
        debug_assert!(
            row.iter().all(|(name, _)| columns.contains(name)),
            "{row:?}"
        );
        encoder.write(columns.iter().map(|column| {
            row.iter()
                .find(|(name, _)| name == column)
                .map_or(&EMPTY, |(_, v)| v)
        }));
    }
    sink.send(encoder.take());
    Ok(rows.len() as u64)
}

/// The results as `/results` computes them; over a range, from the hours in it. `weights`
/// is the current allocation (recomputed from the statistics when `None`).
pub(super) fn compute(
    conn: &mut PgConnection,
    experiment: &Experiment,
    range: TimeRange,
    weights: Option<Vec<f64>>,
) -> Result<ExperimentResults, EngineError> {
    let (stats, periods) = if range.is_all() {
        (
            store::load_variant_stats(conn, Some(&[experiment.id]))?,
            store::load_period_stats(conn, experiment.id)?,
        )
    } else {
        let periods = rows::period_stats_in(conn, experiment.id, range)?;
        (cohort_stats(experiment, &periods), periods)
    };
    let weights = weights.unwrap_or_else(|| current_weights(experiment, &stats));
    // CUPED, read afresh (an export is rare, and must not depend on a background cache).
    let covariate_sums = if range.is_all() {
        let library = store::metrics_by_key(conn)?;
        metric_sums::CovariateSums::read(conn, experiment, &library)?
    } else {
        None
    };
    let goal_covariates = covariate_sums
        .as_ref()
        .and_then(|c| c.of(experiment, store::covariates::INLINE_GOAL_METRIC_ID))
        .filter(|_| experiment.spec.metrics.goal.is_none());
    // Metrics come from all-time per-user values: only without a range.
    let metrics = if range.is_all() && !experiment.spec.metrics.declared().is_empty() {
        let sums = store::metric_sums::tracked_metric_sums(conn, experiment.id)?;
        let library = store::metrics_by_key(conn)?;
        metric_sums::load(
            conn,
            experiment,
            &library,
            &stats,
            &sums,
            covariate_sums.as_ref(),
            Utc::now(),
        )?
    } else {
        Vec::new()
    };
    let mut computed = results::compute(
        experiment,
        &stats,
        &periods,
        weights,
        &metrics,
        goal_covariates.as_ref(),
        Utc::now(),
    );
    // Per-context rows come from all-time statistics: only without a range.
    if range.is_all() && !experiment.spec.context_names().is_empty() {
        let context_stats = store::load_context_stats(conn, Some(&[experiment.id]))?;
        results::fill_contexts(&mut computed, experiment, &stats, &context_stats);
    }
    Ok(computed)
}

fn columns(
    results: &ExperimentResults,
    range: TimeRange,
    metrics: &[MetricResults],
) -> Vec<&'static str> {
    let any_lift = results.variants.iter().any(|v| v.lift.is_some())
        || metrics
            .iter()
            .flat_map(|m| &m.variants)
            .any(|v| v.lift.is_some());
    let any_value_per_user = results.variants.iter().any(|v| v.value_per_user.is_some())
        || results
            .contexts
            .iter()
            .flat_map(|c| &c.variants)
            .any(|v| v.value_per_user.is_some());
    let mut columns = vec![
        "experiment",
        "variant",
        "computed_at",
        "control",
        "decision_leader",
        "decision_outcome",
        "decision_users_needed_per_arm",
        "kind",
        "metric",
    ];
    if results.personalization.is_some() {
        columns.extend([
            "personalization_best_single_rate",
            "personalization_best_single_variant",
            "personalization_draws",
        ]);
        columns.extend(GAIN.parts);
        columns.extend([
            "personalization_per_segment_rate",
            "personalization_prior_strength",
        ]);
    }
    columns.extend([
        "sample_ratio_mismatch",
        "srm_p_value",
        "status",
        "thresholds_expected_loss_relative",
        "thresholds_interval_level",
        "thresholds_min_users_per_arm",
        "thresholds_p_value",
        "thresholds_probability_best",
        "thresholds_srm_p_value",
        "winner",
    ]);
    columns.extend(range.from().map(|_| "from"));
    columns.extend(range.to().map(|_| "to"));
    columns.extend(["chance_to_beat_control", "conversions", "expected_loss"]);
    columns.extend(LIFT.columns(any_lift));
    columns.extend([
        "name",
        "p_value",
        "period_weighted_lift",
        "period_weighted_mean",
        "probability_best",
    ]);
    columns.extend(RATE.parts);
    columns.push("users");
    columns.extend(VALUE_PER_USER.columns(any_value_per_user));
    columns.extend(["value_sum", "weight"]);
    if !results.contexts.is_empty() {
        columns.extend(["segment", "segment_users", "segment_best"]);
    }
    if !metrics.is_empty() {
        columns.extend(METRIC_COLUMNS);
        columns.extend(VALUE.parts);
    }
    // Added after the others, so that the columns analysts' scripts know keep their places.
    columns.push("analysis");
    columns.extend(VERDICT_COLUMNS);
    columns.push("policy");
    if !results.factors.is_empty() {
        columns.extend(FACTORIAL_COLUMNS);
    }
    columns
}

/// A factorial experiment's goal effects (JSON text, as other lists) and recommendation,
/// after `policy`.
const FACTORIAL_COLUMNS: [&str; 4] = [
    "factors",
    "interactions",
    "recommendation_variant",
    "recommendation_reason",
];

/// The verdict (`decision.verdict` and what comes with it), after `analysis`.
const VERDICT_COLUMNS: [&str; 7] = [
    "decision_verdict",
    "decision_variant",
    "decision_summary",
    "decision_reasons",
    "decision_runtime_days",
    "decision_users_needed",
    "decision_days_needed",
];

/// The columns of the metric rows, after the others (the variant columns they share are
/// filled too: `variant`, `users`, `lift`, `chance_to_beat_control`, `p_value`,
/// `probability_best`, `expected_loss`).
const METRIC_COLUMNS: [&str; 9] = [
    "chance_of_harm",
    "guardrail_status",
    "metric_computing",
    "metric_direction",
    "metric_key",
    "metric_role",
    "metric_threshold",
    "metric_type",
    "p_value_adjusted",
];

fn rows_of(results: &ExperimentResults, range: TimeRange, metrics: &[MetricResults]) -> Vec<Row> {
    let experiment = Value::String(results.experiment.clone());
    let shared = experiment_cells(results, range);
    let variant_rows = results.variants.iter().map(|v| {
        let mut row = vec![("experiment", experiment.clone())];
        row.extend(shared.iter().cloned());
        variant_cells(v, &mut row);
        row
    });
    let context_rows = results.contexts.iter().flat_map(|c| {
        let experiment = &experiment;
        c.variants
            .iter()
            .map(move |v| context_variant_cells(experiment, c, v))
    });
    let metric_rows = metrics.iter().flat_map(|m| {
        let (experiment, shared) = (&experiment, &shared);
        m.variants.iter().map(move |v| {
            let mut row = vec![("experiment", experiment.clone())];
            row.extend(shared.iter().cloned());
            metric_cells(m, v, &mut row);
            row
        })
    });
    variant_rows
        .chain(context_rows)
        .chain(metric_rows)
        .collect()
}

fn metric_cells(m: &MetricResults, v: &MetricVariant, row: &mut Row) {
    row.extend([
        ("variant", Value::from(v.key.as_str())),
        ("users", Value::from(v.users)),
        ("chance_to_beat_control", optional(v.chance_to_beat_control)),
        ("p_value", optional(v.p_value)),
        ("probability_best", optional(v.probability_best)),
        ("expected_loss", optional(v.expected_loss)),
        ("chance_of_harm", optional(v.chance_of_harm)),
        (
            "guardrail_status",
            v.status.map_or(Value::Null, |s| Value::from(s.as_str())),
        ),
        ("metric_computing", Value::Bool(m.computing)),
        ("metric_direction", Value::from(m.direction.as_str())),
        ("metric_key", Value::from(m.key.as_str())),
        ("metric_role", Value::from(m.role.as_str())),
        ("metric_threshold", optional(m.threshold)),
        ("metric_type", Value::from(m.metric_type.as_str())),
        ("p_value_adjusted", optional(v.p_value_adjusted)),
    ]);
    LIFT.cells(v.lift, row);
    VALUE.cells(Some(v.value), row);
}

/// A list as one cell: its JSON text, object members in alphabetical order (as every
/// nested object of the export).
fn json_text(list: &impl serde::Serialize) -> String {
    serde_json::to_value(list).map_or_else(|_| String::new(), |v| v.to_string())
}

fn optional(x: Option<f64>) -> Value {
    x.map_or(Value::Null, number)
}

/// The experiment's figures, repeated on each variant row.
fn experiment_cells(r: &ExperimentResults, range: TimeRange) -> Row {
    let mut row: Row = vec![
        ("computed_at", results_time(r.computed_at)),
        ("control", Value::from(r.control.as_str())),
        ("decision_leader", Value::from(r.decision.leader.as_str())),
        ("decision_outcome", serde_name(r.decision.outcome)),
        (
            "decision_users_needed_per_arm",
            Value::from(r.decision.users_needed_per_arm),
        ),
        ("kind", Value::from(r.kind.as_str())),
        ("metric", Value::from(r.metric.as_str())),
        ("analysis", Value::from(r.analysis.as_str())),
        ("decision_verdict", Value::from(r.decision.verdict.as_str())),
        (
            "decision_variant",
            r.decision
                .variant
                .as_deref()
                .map_or(Value::Null, Value::from),
        ),
        ("decision_summary", Value::from(r.decision.summary.as_str())),
        (
            "decision_reasons",
            Value::String(serde_json::to_string(&r.decision.reasons).unwrap_or_default()),
        ),
        ("decision_runtime_days", number(r.decision.runtime_days)),
        (
            "decision_users_needed",
            r.decision.users_needed.map_or(Value::Null, Value::from),
        ),
        ("decision_days_needed", optional(r.decision.days_needed)),
        ("policy", Value::from(r.policy.as_str())),
    ];
    if !r.factors.is_empty() {
        row.extend([
            ("factors", Value::String(json_text(&r.factors))),
            ("interactions", Value::String(json_text(&r.interactions))),
        ]);
        if let Some(rec) = &r.recommendation {
            row.extend([
                ("recommendation_variant", Value::from(rec.variant.as_str())),
                ("recommendation_reason", Value::from(rec.reason.as_str())),
            ]);
        }
    }
    if let Some(p) = &r.personalization {
        personalization_cells(p, &mut row);
    }
    let t = &r.thresholds;
    row.extend([
        (
            "sample_ratio_mismatch",
            Value::Bool(r.sample_ratio_mismatch),
        ),
        ("srm_p_value", optional(r.srm_p_value)),
        ("status", Value::from(r.status.as_str())),
        (
            "thresholds_expected_loss_relative",
            number(t.expected_loss_relative),
        ),
        ("thresholds_interval_level", number(t.interval_level)),
        (
            "thresholds_min_users_per_arm",
            Value::from(t.min_users_per_arm),
        ),
        ("thresholds_p_value", number(t.p_value)),
        ("thresholds_probability_best", number(t.probability_best)),
        ("thresholds_srm_p_value", number(t.srm_p_value)),
        (
            "winner",
            r.winner.as_deref().map_or(Value::Null, Value::from),
        ),
    ]);
    row.extend(range.from().map(|t| ("from", time(t))));
    row.extend(range.to().map(|t| ("to", time(t))));
    row
}

fn personalization_cells(p: &PersonalizationValue, row: &mut Row) {
    row.extend([
        (
            "personalization_best_single_rate",
            number(p.best_single_rate),
        ),
        (
            "personalization_best_single_variant",
            Value::from(p.best_single_variant.as_str()),
        ),
        ("personalization_draws", Value::from(p.draws)),
        (
            "personalization_per_segment_rate",
            number(p.per_context_rate),
        ),
        (
            "personalization_prior_strength",
            Value::from(p.prior_strength),
        ),
    ]);
    GAIN.cells(Some(p.gain), row);
}

fn variant_cells(v: &VariantResults, row: &mut Row) {
    row.extend([
        ("chance_to_beat_control", optional(v.chance_to_beat_control)),
        ("conversions", Value::from(v.conversions)),
        ("expected_loss", optional(v.expected_loss)),
        ("variant", Value::from(v.key.as_str())),
        ("name", Value::from(v.name.as_str())),
        ("p_value", optional(v.p_value)),
        ("period_weighted_lift", optional(v.period_weighted_lift)),
        ("period_weighted_mean", optional(v.period_weighted_mean)),
        ("probability_best", number(v.probability_best)),
        ("users", Value::from(v.users)),
        ("value_sum", number(v.value_sum)),
        ("weight", number(v.weight)),
    ]);
    LIFT.cells(v.lift, row);
    RATE.cells(Some(v.rate), row);
    VALUE_PER_USER.cells(v.value_per_user, row);
}

fn context_variant_cells(experiment: &Value, c: &ContextResults, v: &ContextVariant) -> Row {
    let mut row = vec![
        ("experiment", experiment.clone()),
        (
            "segment",
            Value::String(Value::Object(c.context.clone()).to_string()),
        ),
        ("segment_users", Value::from(c.users)),
        ("segment_best", Value::Bool(v.key == c.best_variant)),
        ("conversions", Value::from(v.conversions)),
        ("variant", Value::from(v.key.as_str())),
        ("probability_best", number(v.probability_best)),
        ("users", Value::from(v.users)),
        ("value_sum", number(v.value_sum)),
    ];
    RATE.cells(Some(v.rate), &mut row);
    VALUE_PER_USER.cells(v.value_per_user, &mut row);
    row
}

/// A time as the results' JSON writes it (chrono's serde format: as many fractional digits as
/// it needs), not as the raw rows' cells do (always microseconds).
fn results_time(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A name as `/results` spells it (the outcome, the verdict): its serde name, so the two
/// cannot drift apart.
fn serde_name(name: impl serde::Serialize) -> Value {
    serde_json::to_value(name).unwrap_or(Value::Null)
}

/// Totals of the users assigned in the given hours, per variant.
fn cohort_stats(experiment: &Experiment, periods: &[PeriodStats]) -> Vec<VariantStats> {
    experiment
        .variant_ids
        .iter()
        .map(|&variant_id| {
            let mut s = VariantStats {
                variant_id,
                experiment_id: experiment.id,
                users: 0,
                conversions: 0,
                value_sum: 0.0,
                value_sum_sq: 0.0,
            };
            for p in periods.iter().filter(|p| p.variant_id == variant_id) {
                s.users += p.users;
                s.conversions += p.conversions;
                s.value_sum += p.value_sum;
                s.value_sum_sq += p.value_sum_sq;
            }
            s
        })
        .collect()
}

/// The allocation a new user would get now: fixed weights, or the bandit's Thompson
/// allocation over the current posteriors (what the server's snapshot holds).
fn current_weights(experiment: &Experiment, stats: &[VariantStats]) -> Vec<f64> {
    let spec = &experiment.spec;
    match spec.policy {
        PolicyKind::Ab => spec.variants.iter().map(|v| v.weight).collect(),
        // The live policy's rule: its goal's posteriors, without the arms a guardrail dropped.
        PolicyKind::Bandit => OpenArms::new(
            ArmModel::of_experiment(experiment, stats),
            &experiment.dropped(),
        )
        .allocation(spec.floor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::results::Outcome;
    use chrono::TimeZone;

    #[test]
    fn times_and_verdicts_are_spelled_as_in_the_results_json() {
        for nanos in [0, 120_000_000, 123_456_000, 123_456_789] {
            let t = Utc.timestamp_opt(1_767_225_600, nanos).unwrap();
            assert_eq!(results_time(t), serde_json::to_value(t).unwrap());
        }
        assert_eq!(serde_name(Outcome::NotEnoughData), "not_enough_data");
        assert_eq!(
            serde_name(results::Verdict::RollBack),
            results::Verdict::RollBack.as_str()
        );
    }
}
