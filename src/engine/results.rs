//! Results of an experiment, computed from the stored sufficient statistics by `stats`.
//!
//! Everything here is read from aggregates (`variant_stats`, `period_stats`), never from a
//! scan of raw rows, so a results page costs the same at a thousand users as at ten million.

use super::cache::SummaryCache;
use super::context_results::{self, ContextResults, PersonalizationValue};
use super::error::OrMissing;
use super::factorial_results::{self, FactorEffects, InteractionEffect, Recommendation};
use super::history;
use super::metric_results::{self, GuardrailStatus, MetricResults, MetricVariant, SequentialLift};
use super::metric_sums::{self, Arms, Covariates, MetricInput};
pub use super::verdict::Verdict;
use super::verdict::{self, Facts, Judgement};
use super::{Engine, EngineError};
use crate::domain::{
    Analysis, Direction, Experiment, GoalMetric, INLINE_GOAL_KEY, Kind, MetricRole, MetricType,
    PolicyKind, Status,
};
use crate::stats::Interval;
use crate::stats::beta::{self, BetaPosterior};
use crate::stats::gaussian::{self, MeanPosterior};
use crate::stats::{frequentist, srm};
use crate::store::covariates::INLINE_GOAL_METRIC_ID;
use crate::store::metric_history::HistoryMark;
use crate::store::metric_sums::MetricSumRow;
use crate::store::{self, ContextStats, PeriodStats, VariantStats};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::sync::Arc;

/// The rules a verdict is judged by, returned with the results so readers know them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Thresholds {
    /// Credible intervals cover this much posterior probability.
    pub interval_level: f64,
    /// A leader becomes the winner once its probability of being best reaches this...
    pub probability_best: f64,
    /// ...and its expected loss falls below this fraction of the control's mean (rate or
    /// value per user): the "threshold of caring".
    pub expected_loss_relative: f64,
    /// Sample ratio mismatch is flagged below this p-value.
    pub srm_p_value: f64,
    /// Frequentist companion: two-sided p-values below this are marked significant.
    pub p_value: f64,
    /// No verdict before every arm has this many users.
    pub min_users_per_arm: u32,
}

/// `decision.outcome`: whether the chosen analysis names a winner yet (see `verdict` for
/// what to do about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Some arm has fewer users than the minimum-data rule asks.
    NotEnoughData,
    /// Enough data, but no arm is both likely best and cheap to ship.
    KeepRunning,
    /// The leader crossed both thresholds.
    Winner,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub outcome: Outcome,
    /// The arm most likely to be best.
    pub leader: String,
    /// Users still missing in the arm furthest from the minimum (0 once every arm has it).
    pub users_needed_per_arm: u64,
    /// The guardrail that keeps the leader from being called the winner although it wins
    /// the goal (the one it fails most surely).
    pub blocked_by: Option<GuardrailBlock>,
    /// What to do: `ship`, `roll_back`, `keep_running` or `no_difference`. A field of its own
    /// beside `outcome` because `outcome` is public (apps and scripts read `winner` and
    /// `not_enough_data` from it): `ship` also needs the minimum runtime, `roll_back` and
    /// `no_difference` are calls `outcome` never made.
    pub verdict: Verdict,
    /// The variant to ship; control for `roll_back`; `null` otherwise.
    pub variant: Option<String>,
    /// Why, in short sentences with their numbers.
    pub reasons: Vec<String>,
    /// The verdict in one sentence a marketer reads.
    pub summary: String,
    /// Days since the experiment started (until it stopped), fractional.
    pub runtime_days: f64,
    /// `keep_running`: about how many more users in total before the goal's interval settles
    /// (its half-width shrinks as 1/√users) and every variant has the minimum; `null` when
    /// unknown or for another verdict.
    pub users_needed: Option<u64>,
    /// `keep_running`: about how many days that takes at today's traffic (users assigned in
    /// the last 24 hours), and at least what the minimum runtime still asks; `null` when
    /// unknown or for another verdict.
    pub days_needed: Option<f64>,
}

/// A guardrail the leader fails, and by how much.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuardrailBlock {
    pub metric: String,
    pub variant: String,
    /// The chance that the variant is worse than control by more than the threshold.
    pub chance_of_harm: f64,
    pub threshold: f64,
    /// The guardrail metric's lift over control, with its interval.
    pub lift: Option<Interval>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VariantResults {
    pub key: String,
    pub name: String,
    pub users: i64,
    /// Users with at least one attributed goal event.
    pub conversions: i64,
    /// Sum of attributed values (revenue metric).
    pub value_sum: f64,
    /// Share of new users the policy gives this variant now.
    pub weight: f64,
    /// Bandits: when a `drop` guardrail took this arm out (weight 0 from then on; its
    /// enrolled users keep it); `null` while it takes new users.
    pub dropped_at: Option<DateTime<Utc>>,
    /// Conversion rate: posterior mean and credible interval.
    pub rate: Interval,
    /// Revenue metric: value per user, posterior mean and credible interval.
    pub value_per_user: Option<Interval>,
    /// Relative lift of the goal metric over control (`null` for the control).
    pub lift: Option<Interval>,
    pub chance_to_beat_control: Option<f64>,
    pub probability_best: f64,
    /// Expected loss of shipping this variant: E[max over arms − this arm], in metric units
    /// (`null` while an arm has too little data for the revenue model).
    pub expected_loss: Option<f64>,
    /// Two-sided p-value against control (z-test for conversion, Welch for revenue).
    pub p_value: Option<f64>,
    /// Bandits: the rate re-weighted hour by hour to undo the bias of changing weights.
    pub period_weighted_mean: Option<f64>,
    /// Bandits: the relative lift of the period-weighted rates over control.
    pub period_weighted_lift: Option<f64>,
}

/// `GET /api/v1/experiments/{key}/results`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExperimentResults {
    pub experiment: String,
    pub status: String,
    pub kind: Kind,
    /// How new users are allocated: `ab` (fixed) or `bandit`.
    pub policy: PolicyKind,
    /// What decides the verdict: `bayesian` or `sequential` (both are always shown).
    pub analysis: Analysis,
    pub metric: GoalMetric,
    pub control: String,
    pub winner: Option<String>,
    pub srm_p_value: Option<f64>,
    pub sample_ratio_mismatch: bool,
    pub decision: Decision,
    pub thresholds: Thresholds,
    pub variants: Vec<VariantResults>,
    /// Current allocation, in variant order.
    pub weights: Vec<f64>,
    /// What was corrected and how, in plain words.
    pub notes: Vec<String>,
    pub computed_at: DateTime<Utc>,
    /// Contextual experiments: results per context, largest first (empty otherwise). Named
    /// `segments` in the API, from before contexts had their name.
    #[serde(rename = "segments")]
    pub contexts: Vec<ContextResults>,
    /// Contextual experiments: per-context winners against the single best variant.
    pub personalization: Option<PersonalizationValue>,
    /// Every metric of the experiment, the goal first, then guardrails, then secondary
    /// metrics (see `metric_results`).
    pub metrics: Vec<MetricResults>,
    /// Factorial experiments: the goal's main effects per factor (each metric has its own
    /// in `metrics`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<FactorEffects>,
    /// Factorial experiments: the goal's two-way interactions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interactions: Vec<InteractionEffect>,
    /// Factorial experiments: the combination the goal's figures recommend (`null` while a
    /// cell has no data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
}

/// One point of the series behind the charts: hours for the last two days, UTC days before.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    pub period_start: DateTime<Utc>,
    pub variant: String,
    pub users: i64,
    pub conversions: i64,
    pub value_sum: f64,
    /// The share of the period's new users the policy meant for this variant.
    pub weight: f64,
}

pub use crate::stats::INTERVAL_LEVEL;
pub const PROBABILITY_BEST_THRESHOLD: f64 = 0.95;
pub const EXPECTED_LOSS_RELATIVE_THRESHOLD: f64 = 0.01;
pub const SRM_THRESHOLD: f64 = srm::SRM_P_VALUE_THRESHOLD;
pub const P_VALUE_THRESHOLD: f64 = 0.05;

/// Results and hourly series of one experiment, from one read of its aggregates.
#[derive(Clone)]
pub struct Overview {
    pub experiment: Experiment,
    pub results: Arc<ExperimentResults>,
    pub series: Arc<Vec<SeriesPoint>>,
}

/// Computed overviews, kept until the experiment or its statistics change: the exact
/// summaries cost tens of milliseconds for many arms, and a dashboard asks often.
pub(super) type ResultsCache =
    SummaryCache<ResultsBasis, (Arc<ExperimentResults>, Arc<Vec<SeriesPoint>>)>;

/// What an overview is computed from: if these are unchanged, so is everything else (every
/// new user, conversion or erasure changes the per-variant totals).
#[derive(PartialEq)]
pub(super) struct ResultsBasis {
    version: i64,
    stats: Vec<VariantStats>,
    weights: Vec<f64>,
    metric_sums: Vec<MetricSumRow>,
    /// The minute, when a retention window closing changes the results.
    minute: Option<i64>,
    /// The metrics' history (`over_time`): a day written or moved changes it...
    history: HistoryMark,
    /// ...and so does midnight (UTC), when today's live point becomes a new day.
    live_day: Option<NaiveDate>,
    /// When the CUPED covariate sums were last read (by the background).
    covariates_read_at: Option<DateTime<Utc>>,
}

impl Engine {
    pub async fn results(&self, key: &str) -> Result<ExperimentResults, EngineError> {
        Ok((*self.overview(key).await?.results).clone())
    }

    /// The hourly series of an experiment, oldest first.
    pub async fn series(&self, key: &str) -> Result<Vec<SeriesPoint>, EngineError> {
        Ok((*self.overview(key).await?.series).clone())
    }

    /// An experiment and its per-variant totals, read together: what decides whether a cached
    /// summary (results, off-policy estimates) is still current.
    pub(crate) async fn experiment_and_stats(
        &self,
        key: &str,
    ) -> Result<(Experiment, Vec<VariantStats>), EngineError> {
        let k = key.to_string();
        self.store()
            .run(move |conn| {
                let experiment = store::get_experiment(conn, &k)?;
                let stats = store::load_variant_stats(conn, Some(&[experiment.id]))?;
                Ok((experiment, stats))
            })
            .await
            .or_missing(EngineError::unknown_experiment(key))
    }

    pub async fn overview(&self, key: &str) -> Result<Overview, EngineError> {
        let k = key.to_string();
        let (experiment, stats, metric_sums, history) = self
            .store()
            .run(move |conn| {
                let experiment = store::get_experiment(conn, &k)?;
                let stats = store::load_variant_stats(conn, Some(&[experiment.id]))?;
                let sums = if experiment.spec.metrics.declared().is_empty() {
                    Vec::new()
                } else {
                    store::metric_sums::tracked_metric_sums(conn, experiment.id)?
                };
                // Only its mark: the rows themselves only when the results are computed.
                let history = if experiment.started_at.is_some() {
                    store::metric_history::mark(conn, experiment.id)?
                } else {
                    HistoryMark::default()
                };
                Ok((experiment, stats, sums, history))
            })
            .await
            .or_missing(EngineError::unknown_experiment(key))?;
        let weights = self
            .snapshot()
            .get(key)
            .map(|live| live.policy.allocation().to_vec())
            .unwrap_or_else(|| initial_weights(&experiment));
        let now = Utc::now();
        let covariate_sums = self.covariate_sums(experiment.id);
        let basis = ResultsBasis {
            version: experiment.version,
            stats,
            weights,
            // The verdict's runtime and today's traffic move with the clock while it runs.
            minute: (metric_sums::depend_on_time(&metric_sums)
                || matches!(experiment.status, Status::Running | Status::Paused))
            .then(|| now.timestamp() / 60),
            metric_sums,
            history,
            live_day: history::live_day(&experiment, now),
            covariates_read_at: covariate_sums.as_ref().map(|c| c.read_at),
        };
        if let Some((results, series)) = self
            .results_cache()
            .get(experiment.id, |cached, _| *cached == basis)
        {
            return Ok(Overview {
                experiment,
                results,
                series,
            });
        }
        let id = experiment.id;
        let contextual = !experiment.spec.context_names().is_empty();
        let (experiment, basis, periods, context_stats, (metrics, goal_covariates), history) = self
            .store()
            .run(move |conn| {
                let periods = store::load_period_stats(conn, id)?;
                // Per-context statistics change with the totals, so the cache check above
                // covers them too.
                let context_stats = if contextual {
                    store::load_context_stats(conn, Some(&[id]))?
                } else {
                    Vec::new()
                };
                // The library only now: a cached computation needs none of it.
                let library = store::metrics_by_key(conn)?;
                let metrics = metric_sums::load(
                    conn,
                    &experiment,
                    &library,
                    &basis.stats,
                    &basis.metric_sums,
                    covariate_sums.as_deref(),
                    now,
                )?;
                let history = if basis.history.rows > 0 {
                    store::metric_history::of_experiment(conn, id)?
                } else {
                    Vec::new()
                };
                let goal_covariates = covariate_sums
                    .as_ref()
                    .and_then(|c| c.of(&experiment, INLINE_GOAL_METRIC_ID))
                    .filter(|_| experiment.spec.metrics.goal.is_none());
                Ok((
                    experiment,
                    basis,
                    periods,
                    context_stats,
                    (metrics, goal_covariates),
                    history,
                ))
            })
            .await?;
        let (experiment, basis, results, series) = tokio::task::spawn_blocking(move || {
            let mut results = compute(
                &experiment,
                &basis.stats,
                &periods,
                basis.weights.clone(),
                &metrics,
                goal_covariates.as_ref(),
                now,
            );
            fill_contexts(&mut results, &experiment, &basis.stats, &context_stats);
            history::fill(&experiment, &history, &mut results.metrics, basis.live_day);
            let series = series(&experiment, &periods);
            (experiment, basis, Arc::new(results), Arc::new(series))
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        self.results_cache()
            .insert(experiment.id, basis, (results.clone(), series.clone()));
        Ok(Overview {
            experiment,
            results,
            series,
        })
    }
}

/// The weights of an experiment the snapshot does not hold: its initial ones, with the
/// arms a guardrail dropped at 0 and the others sharing their share.
fn initial_weights(experiment: &Experiment) -> Vec<f64> {
    let weights = experiment.spec.variants.iter().map(|v| v.weight);
    let dropped = experiment.dropped();
    if !dropped.contains(&true) {
        return weights.collect();
    }
    let open: f64 = weights
        .clone()
        .zip(&dropped)
        .filter(|(_, d)| !**d)
        .map(|(w, _)| w)
        .sum();
    weights
        .zip(&dropped)
        .map(|(w, d)| if *d || open <= 0.0 { 0.0 } else { w / open })
        .collect()
}

pub fn series(experiment: &Experiment, periods: &[PeriodStats]) -> Vec<SeriesPoint> {
    let key_of = |variant_id: i64| {
        experiment
            .variant_ids
            .iter()
            .position(|&id| id == variant_id)
            .map(|i| experiment.spec.variants[i].key.to_string())
    };
    let mut points = Vec::with_capacity(periods.len());
    for chunk in periods.chunk_by(|a, b| a.period_start == b.period_start) {
        let period_users: f64 = chunk.iter().map(|p| p.expected_users).sum();
        for p in chunk {
            if let Some(variant) = key_of(p.variant_id) {
                points.push(SeriesPoint {
                    period_start: p.period_start,
                    variant,
                    users: p.users,
                    conversions: p.conversions,
                    value_sum: p.value_sum,
                    weight: if period_users > 0.0 {
                        p.expected_users / period_users
                    } else {
                        0.0
                    },
                });
            }
        }
    }
    points
}

pub(crate) fn compute(
    experiment: &Experiment,
    stats: &[VariantStats],
    periods: &[PeriodStats],
    weights: Vec<f64>,
    metrics: &[MetricInput],
    goal_covariates: Option<&Covariates>,
    now: DateTime<Utc>,
) -> ExperimentResults {
    let spec = &experiment.spec;
    let ids = &experiment.variant_ids;
    let zero = |id: i64| VariantStats {
        variant_id: id,
        experiment_id: experiment.id,
        users: 0,
        conversions: 0,
        value_sum: 0.0,
        value_sum_sq: 0.0,
    };
    let stats: Vec<VariantStats> = ids
        .iter()
        .map(|&id| {
            stats
                .iter()
                .find(|s| s.variant_id == id)
                .copied()
                .unwrap_or_else(|| zero(id))
        })
        .collect();
    let users: Vec<u64> = stats.iter().map(|s| s.users.max(0) as u64).collect();
    let conversions: Vec<u64> = stats.iter().map(|s| s.conversions.max(0) as u64).collect();
    let control = spec.variant_index(spec.control.as_str()).unwrap_or(0);
    let k = ids.len();
    let rates: Vec<BetaPosterior> = (0..k)
        .map(|i| BetaPosterior::from_counts(users[i], conversions[i]))
        .collect();

    // The goal metric's model decides every comparison.
    let metric = match spec.goal.metric {
        GoalMetric::Conversion => conversion_metric(&rates, &users, &conversions, control),
        GoalMetric::Revenue => revenue_metric(&stats, control),
    };

    // Sample ratio mismatch against what the allocation intended, period by period.
    let expected: Vec<f64> = ids
        .iter()
        .map(|id| {
            periods
                .iter()
                .filter(|p| p.variant_id == *id)
                .map(|p| p.expected_users)
                .sum()
        })
        .collect();
    let observed: Vec<f64> = users.iter().map(|&n| n as f64).collect();
    let srm_p_value = (observed.iter().sum::<f64>() > 0.0 && expected.iter().sum::<f64>() > 0.0)
        .then(|| srm::chi_square_p_value(&observed, &expected));

    // Bandits: pooled means are biased when weights change (Simpson's paradox); weight hours
    // by their share of all users instead.
    let period_weighted = (spec.policy == PolicyKind::Bandit
        && spec.goal.metric == GoalMetric::Conversion)
        .then(|| period_weighted_rates(ids, periods));
    let mut notes = Vec::new();
    if period_weighted.is_some() {
        notes.push(
            "Bandit weights changed over time, so pooled rates mix hours in different proportions per arm \
             (Simpson's paradox). `period_weighted_mean` and `period_weighted_lift` are corrected: each period \
             (an hour over the last two days, a UTC day before) weighs by its share of all users. The other \
             figures use pooled counts."
                .to_string(),
        );
    }
    if spec.analysis == Analysis::Sequential {
        notes.push(
            "Sequential analysis decides: a variant wins once the 95% confidence sequence of its goal lift \
             (Waudby-Smith et al. 2023, tuned for 5,000 users) excludes no gain, which holds however often \
             the results are read. The Bayesian figures are shown beside it."
                .to_string(),
        );
    }
    if spec.goal.metric == GoalMetric::Revenue {
        notes.push(
            "Revenue: value per user modelled as Gaussian (mean, s²/n); lift by the delta method; \
             p-value by Welch's t-test."
                .to_string(),
        );
    }

    // The verdict: minimum data first, then probability best and expected loss.
    let fewest = users.iter().copied().min().unwrap_or(0);
    let needed = u64::from(spec.min_users_per_arm).saturating_sub(fewest);
    let mut leader = (0..k)
        .max_by(|&a, &b| metric.best[a].total_cmp(&metric.best[b]))
        .unwrap_or(control);
    let limit = EXPECTED_LOSS_RELATIVE_THRESHOLD * metric.means[control];
    let loss_ok = metric.loss[leader].is_some_and(|l| l <= limit);
    let mut bayesian_win = metric.best[leader] >= PROBABILITY_BEST_THRESHOLD && loss_ok;

    // Every metric, the inline goal (when the library gives none) first, from the figures
    // above.
    let variant_keys: Vec<String> = spec.variants.iter().map(|v| v.key.to_string()).collect();
    let mut metric_results =
        metric_results::compare(metrics, &variant_keys, control, INTERVAL_LEVEL);
    if spec.metrics.goal.is_none() {
        metric_results.insert(
            0,
            inline_goal(
                spec.goal.metric,
                &metric,
                &rates,
                &stats,
                &variant_keys,
                control,
            ),
        );
        // CUPED for the inline goal, from the assignment rows' figures above.
        if let Some(covariates) = goal_covariates {
            metric_results::apply_cuped(
                &mut metric_results[0],
                &Arms::of_goal(spec.goal.metric, ids, &stats),
                covariates,
                control,
                INTERVAL_LEVEL,
            );
        }
    }
    // Factorial experiments: every metric's effects from its cells (the observed values:
    // CUPED adjusts comparisons with control, not these).
    let mut recommendation = None;
    if !spec.factors.is_empty() {
        let inline = spec
            .metrics
            .goal
            .is_none()
            .then(|| Arms::of_goal(spec.goal.metric, ids, &stats));
        let arms = inline.iter().chain(metrics.iter().map(|m| &m.arms));
        for (m, arms) in metric_results.iter_mut().zip(arms) {
            let cells = factorial_results::cell_estimates(arms);
            let effects =
                factorial_results::effects(&spec.factors, &cells, m.direction, INTERVAL_LEVEL);
            if m.role == MetricRole::Goal {
                recommendation =
                    factorial_results::recommend(&spec.factors, &cells, &effects, m.direction);
            }
            (m.factors, m.interactions) = (effects.factors, effects.interactions);
        }
    }

    let adjusted: Vec<String> = metric_results
        .iter()
        .filter_map(|m| {
            let c = m.cuped.as_ref()?;
            Some(format!(
                "{} (variance −{:.0}%)",
                m.key,
                100.0 * c.variance_reduction
            ))
        })
        .collect();
    if !adjusted.is_empty() {
        notes.push(format!(
            "CUPED (Deng et al. 2013): adjusted for each user's activity in the {} before their assignment: {}. \
             Values are as observed; lifts, chances, p-values and confidence sequences use the adjusted values \
             (the estimate is unchanged on average, the intervals narrower).",
            spec.cuped.lookback().map(|d| d.to_string()).unwrap_or_default(),
            adjusted.join(", ")
        ));
    }

    // A goal adjusted by CUPED decides with its adjusted figures.
    if let Some((adjusted_leader, win)) = adjusted_goal(&metric_results[0], control) {
        (leader, bayesian_win) = (adjusted_leader, win);
    }

    // A leader that fails a guardrail is not the winner.
    // The chosen analysis decides: the Bayesian rule above, or the goal's confidence
    // sequences (valid however often results are read).
    let goal_wins = needed == 0
        && match spec.analysis {
            Analysis::Bayesian => bayesian_win,
            Analysis::Sequential => sequential_win(&metric_results[0], leader, control),
        };
    let blocked_by = goal_wins
        .then(|| guardrail_block(&metric_results, leader, spec.analysis))
        .flatten();
    let outcome = if needed > 0 {
        Outcome::NotEnoughData
    } else if goal_wins && blocked_by.is_none() {
        Outcome::Winner
    } else {
        Outcome::KeepRunning
    };
    let Judgement {
        verdict,
        variant,
        reasons,
        summary,
        runtime_days,
        users_needed,
        days_needed,
    } = verdict::judge(&Facts {
        spec,
        started_at: experiment.started_at,
        stopped_at: experiment.stopped_at,
        now,
        outcome,
        leader,
        control,
        needed_per_arm: needed,
        users: &users,
        best: &metric.best,
        recent_users: recent_users(periods, now),
        metrics: &metric_results,
    });

    let variants = spec
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let weighted = period_weighted.as_ref().and_then(|w| w[i]);
            let weighted_control = period_weighted.as_ref().and_then(|w| w[control]);
            VariantResults {
                key: v.key.to_string(),
                name: v.name.clone(),
                users: stats[i].users,
                conversions: stats[i].conversions,
                value_sum: stats[i].value_sum,
                weight: weights.get(i).copied().unwrap_or(0.0),
                dropped_at: experiment.dropped_at.get(i).copied().flatten(),
                rate: rates[i].interval(INTERVAL_LEVEL),
                value_per_user: metric.value_per_user.as_ref().map(|v| v[i]),
                lift: if i == control { None } else { metric.lift[i] },
                chance_to_beat_control: if i == control {
                    None
                } else {
                    Some(metric.chance[i])
                },
                probability_best: metric.best[i],
                expected_loss: metric.loss[i],
                p_value: if i == control {
                    None
                } else {
                    metric.p_value[i]
                },
                period_weighted_mean: weighted,
                period_weighted_lift: match (i == control, weighted, weighted_control) {
                    (false, Some(v), Some(c)) if c > 0.0 => Some(v / c - 1.0),
                    _ => None,
                },
            }
        })
        .collect();
    ExperimentResults {
        experiment: spec.key.to_string(),
        status: experiment.status.to_string(),
        kind: spec.kind,
        policy: spec.policy,
        analysis: spec.analysis,
        metric: spec.goal.metric,
        control: spec.control.to_string(),
        winner: experiment.winner.as_ref().map(|w| w.to_string()),
        srm_p_value,
        sample_ratio_mismatch: srm_p_value.is_some_and(srm::is_mismatch),
        decision: Decision {
            outcome,
            leader: spec.variants[leader].key.to_string(),
            users_needed_per_arm: needed,
            blocked_by,
            verdict,
            variant,
            reasons,
            summary,
            runtime_days,
            users_needed,
            days_needed,
        },
        thresholds: Thresholds {
            interval_level: INTERVAL_LEVEL,
            probability_best: PROBABILITY_BEST_THRESHOLD,
            expected_loss_relative: EXPECTED_LOSS_RELATIVE_THRESHOLD,
            srm_p_value: SRM_THRESHOLD,
            p_value: P_VALUE_THRESHOLD,
            min_users_per_arm: spec.min_users_per_arm,
        },
        variants,
        weights,
        notes,
        computed_at: now,
        contexts: Vec::new(),
        personalization: None,
        factors: metric_results[0].factors.clone(),
        interactions: metric_results[0].interactions.clone(),
        recommendation,
        metrics: metric_results,
    }
}

/// The inline goal `{"event", "metric"}` as a metric: the goal's figures of the top-level
/// fields.
fn inline_goal(
    goal: GoalMetric,
    comparison: &GoalComparison,
    rates: &[BetaPosterior],
    stats: &[VariantStats],
    variant_keys: &[String],
    control: usize,
) -> MetricResults {
    let variants = variant_keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let vs_control = |x: Option<f64>| if i == control { None } else { x };
            MetricVariant {
                key: key.clone(),
                users: stats[i].users,
                value: match &comparison.value_per_user {
                    Some(values) => values[i],
                    None => rates[i].interval(INTERVAL_LEVEL),
                },
                lift: if i == control {
                    None
                } else {
                    comparison.lift[i]
                },
                chance_to_beat_control: vs_control(Some(comparison.chance[i])),
                p_value: vs_control(comparison.p_value[i]),
                probability_best: Some(comparison.best[i]),
                expected_loss: comparison.loss[i],
                p_value_adjusted: None,
                chance_of_harm: None,
                status: None,
                sequential: if i == control {
                    None
                } else {
                    goal_sequential(goal, &stats[i], &stats[control])
                },
            }
        })
        .collect();
    MetricResults {
        key: INLINE_GOAL_KEY.to_string(),
        name: "Goal".to_string(),
        role: MetricRole::Goal,
        metric_type: match goal {
            GoalMetric::Conversion => MetricType::Conversion,
            GoalMetric::Revenue => MetricType::Mean,
        },
        direction: Direction::Increase,
        threshold: None,
        status: None,
        computing: false,
        // The inline goal has no library metric to read a covariate of.
        cuped: None,
        variants,
        over_time: Vec::new(),
        factors: Vec::new(),
        interactions: Vec::new(),
    }
}

/// The Bayesian rule on a CUPED-adjusted goal: its leader, and whether it wins (probability
/// best and expected loss against the control's observed mean); `None` when not adjusted.
fn adjusted_goal(goal: &MetricResults, control: usize) -> Option<(usize, bool)> {
    goal.cuped.as_ref()?;
    let best = |i: usize| goal.variants[i].probability_best.unwrap_or(0.0);
    let leader = (0..goal.variants.len()).max_by(|&a, &b| best(a).total_cmp(&best(b)))?;
    let limit = EXPECTED_LOSS_RELATIVE_THRESHOLD * goal.variants[control].value.mean.abs();
    let loss_ok = goal.variants[leader]
        .expected_loss
        .is_some_and(|l| l <= limit);
    Some((
        leader,
        best(leader) >= PROBABILITY_BEST_THRESHOLD && loss_ok,
    ))
}

/// Users assigned in the last 24 hours: today's traffic. Periods are hours over the last two
/// days, so this counts the 24 hourly periods that started within them.
fn recent_users(periods: &[PeriodStats], now: DateTime<Utc>) -> u64 {
    let since = now - chrono::TimeDelta::hours(24);
    periods
        .iter()
        .filter(|p| p.period_start >= since)
        .map(|p| p.users.max(0) as u64)
        .sum()
}

/// Whether a confidence sequence lies entirely on the side `direction` calls good.
pub(super) fn proven_better(lift: Interval, direction: Direction) -> bool {
    match direction {
        Direction::Increase => lift.low > 0.0,
        Direction::Decrease => lift.high < 0.0,
    }
}

/// Whether a confidence sequence lies entirely beyond `threshold` on the bad side: harm
/// beyond the threshold shown at its level.
pub fn proven_harm(lift: Interval, direction: Direction, threshold: f64) -> bool {
    match direction {
        Direction::Increase => lift.high < -threshold,
        Direction::Decrease => lift.low > threshold,
    }
}

/// The sequential rule: a leader other than control wins once its goal's confidence sequence
/// excludes no gain; control wins once every variant's shows a loss.
fn sequential_win(goal: &MetricResults, leader: usize, control: usize) -> bool {
    let better = |i: usize| {
        goal.variants[i]
            .sequential
            .is_some_and(|s| s.decisive && proven_better(s.lift, goal.direction))
    };
    let worse = |i: usize| {
        goal.variants[i]
            .sequential
            .is_some_and(|s| s.decisive && proven_harm(s.lift, goal.direction, 0.0))
    };
    if leader == control {
        (0..goal.variants.len())
            .filter(|&i| i != control)
            .all(worse)
    } else {
        better(leader)
    }
}

/// The always-valid comparison of the inline goal in one variant against control.
fn goal_sequential(
    goal: GoalMetric,
    variant: &VariantStats,
    control: &VariantStats,
) -> Option<SequentialLift> {
    let n = |s: &VariantStats| s.users.max(0) as u64;
    match goal {
        GoalMetric::Conversion => {
            let rate = |s: &VariantStats| (n(s), s.conversions.max(0) as u64);
            metric_results::rates_sequential(rate(variant), rate(control))
        }
        GoalMetric::Revenue => {
            let arm =
                |s: &VariantStats| MeanPosterior::from_sums(n(s), s.value_sum, s.value_sum_sq);
            metric_results::means_sequential(&arm(variant), &arm(control))
        }
    }
}

/// Whether `v` fails the guardrail `m` by the chosen analysis: its status is failing
/// (Bayesian), or its confidence sequence shows harm beyond the threshold (sequential).
pub(super) fn fails_guardrail(m: &MetricResults, v: &MetricVariant, analysis: Analysis) -> bool {
    m.role == MetricRole::Guardrail
        && match analysis {
            Analysis::Bayesian => v.status == Some(GuardrailStatus::Failing),
            Analysis::Sequential => v
                .sequential
                .is_some_and(|s| proven_harm(s.lift, m.direction, m.threshold.unwrap_or(0.0))),
        }
}

/// The guardrail the variant at `leader` fails most surely, if any.
fn guardrail_block(
    metrics: &[MetricResults],
    leader: usize,
    analysis: Analysis,
) -> Option<GuardrailBlock> {
    metrics
        .iter()
        .filter_map(|m| {
            let v = m.variants.get(leader)?;
            fails_guardrail(m, v, analysis).then(|| GuardrailBlock {
                metric: m.key.clone(),
                variant: v.key.clone(),
                chance_of_harm: v.chance_of_harm.unwrap_or(1.0),
                threshold: m.threshold.unwrap_or(0.0),
                lift: v.lift,
            })
        })
        .max_by(|a, b| a.chance_of_harm.total_cmp(&b.chance_of_harm))
}

/// The comparisons of one goal metric, per variant (index = variant position).
struct GoalComparison {
    /// Posterior mean of the metric (rate, or value per user).
    means: Vec<f64>,
    value_per_user: Option<Vec<Interval>>,
    lift: Vec<Option<Interval>>,
    chance: Vec<f64>,
    best: Vec<f64>,
    loss: Vec<Option<f64>>,
    p_value: Vec<Option<f64>>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn conversion_metric(
    rates: &[BetaPosterior],
    users: &[u64],
    conversions: &[u64],
    control: usize,
) -> GoalComparison {
    let c = &rates[control];
    // Two cores' worth of quadrature: the lifts on a second thread, the rest on this one
    // (a page with ten variants would otherwise take twice as long).
    // Two cores' worth of quadrature: half the lifts on a second thread, the other half
    // with everything else on this one (a page of ten variants would take twice as long).
    let lift_of = |i: usize| (i != control).then(|| beta::lift(&rates[i], c, INTERVAL_LEVEL));
    let k = rates.len();
    let (lift, (best, loss, chance)) = std::thread::scope(|scope| {
        let evens = scope.spawn(|| {
            (0..k)
                .step_by(2)
                .map(|i| (i, lift_of(i)))
                .collect::<Vec<_>>()
        });
        let odds: Vec<_> = (1..k).step_by(2).map(|i| (i, lift_of(i))).collect();
        let (best, loss) = beta::prob_best_and_expected_loss(rates);
        let chance = rates
            .iter()
            .map(|r| beta::prob_greater(r, c))
            .collect::<Vec<_>>();
        let mut lifts = vec![None; k];
        for (i, l) in evens.join().expect("lift thread").into_iter().chain(odds) {
            lifts[i] = l;
        }
        (lifts, (best, loss, chance))
    });
    GoalComparison {
        means: rates.iter().map(BetaPosterior::mean).collect(),
        value_per_user: None,
        lift,
        chance,
        best,
        loss: loss.into_iter().map(finite).collect(),
        p_value: (0..rates.len())
            .map(|i| {
                Some(frequentist::two_proportion_p_value(
                    users[control],
                    conversions[control],
                    users[i],
                    conversions[i],
                ))
            })
            .collect(),
    }
}

fn revenue_metric(stats: &[VariantStats], control: usize) -> GoalComparison {
    let arms: Vec<MeanPosterior> = stats
        .iter()
        .map(|s| MeanPosterior::from_sums(s.users.max(0) as u64, s.value_sum, s.value_sum_sq))
        .collect();
    let c = &arms[control];
    GoalComparison {
        means: arms.iter().map(MeanPosterior::mean).collect(),
        value_per_user: Some(arms.iter().map(|a| a.interval(INTERVAL_LEVEL)).collect()),
        lift: arms
            .iter()
            .map(|a| gaussian::lift(a, c, INTERVAL_LEVEL))
            .collect(),
        chance: arms
            .iter()
            .map(|a| gaussian::chance_to_beat(a, c))
            .collect(),
        best: gaussian::prob_best(&arms),
        loss: gaussian::expected_loss(&arms)
            .into_iter()
            .map(finite)
            .collect(),
        p_value: arms.iter().map(|a| gaussian::welch_p_value(a, c)).collect(),
    }
}

/// Each arm's conversion rate with hours weighted by their share of all users.
fn period_weighted_rates(ids: &[i64], periods: &[PeriodStats]) -> Vec<Option<f64>> {
    let table: Vec<Vec<(u64, u64)>> = periods
        .chunk_by(|a, b| a.period_start == b.period_start)
        .map(|hour| {
            ids.iter()
                .map(|id| {
                    hour.iter()
                        .find(|p| p.variant_id == *id)
                        .map_or((0, 0), |p| {
                            (p.users.max(0) as u64, p.conversions.max(0) as u64)
                        })
                })
                .collect()
        })
        .collect();
    beta::period_weighted_rates(ids.len(), &table)
}

/// Adds the results per context, the value of personalization and a note on how they are
/// computed (nothing for an experiment without a context).
pub fn fill_contexts(
    results: &mut ExperimentResults,
    experiment: &Experiment,
    pooled: &[VariantStats],
    stats: &[ContextStats],
) {
    if experiment.spec.context_names().is_empty() {
        return;
    }
    (results.contexts, results.personalization) =
        context_results::contexts(experiment, pooled, stats);
    results.notes.push(context_results::note(experiment));
}
