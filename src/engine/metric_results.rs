//! The `metrics` of an experiment's results: every declared metric compared across variants
//! in its good direction, secondary metrics adjusted for multiple comparisons
//! (Benjamini–Hochberg over secondary metrics × variants), guardrails judged by their chance
//! of harm beyond the threshold.
//!
//! Conversion and retention use the exact Beta posteriors the goal uses; means the Gaussian
//! model (Welch's test); ratios the delta method with the numerator–denominator covariance
//! (gbstats' `RatioStatistic`).

use super::factorial_results::{FactorEffects, InteractionEffect};
use super::history::OverTimePoint;
use super::metric_sums::{Arms, Covariates, MetricInput};
use crate::domain::{Direction, Duration, MetricRole, MetricType};
use crate::stats::beta::{self, BetaPosterior};
use crate::stats::cuped::{self, CupedSums};
use crate::stats::effect::{ArmMoments, RelativeEffect};
use crate::stats::gaussian::{self, MeanPosterior};
use crate::stats::ratio::{self, RatioStats};
use crate::stats::{INTERVAL_LEVEL, Interval, direction, frequentist, multiple, sequential};
use serde::Serialize;

/// A guardrail's chance of harm beyond its threshold above this is a warning...
pub const GUARDRAIL_WARNING: f64 = 0.8;
/// ...and above this a failure: a variant failing a guardrail is not called a winner.
pub const GUARDRAIL_FAILING: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailStatus {
    Ok,
    Warning,
    Failing,
}

impl GuardrailStatus {
    pub fn of_harm(chance_of_harm: f64) -> GuardrailStatus {
        if chance_of_harm > GUARDRAIL_FAILING {
            GuardrailStatus::Failing
        } else if chance_of_harm > GUARDRAIL_WARNING {
            GuardrailStatus::Warning
        } else {
            GuardrailStatus::Ok
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailStatus::Ok => "ok",
            GuardrailStatus::Warning => "warning",
            GuardrailStatus::Failing => "failing",
        }
    }
}

/// One metric of `GET .../results`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricResults {
    /// The library key (`goal` for the inline goal `{"event", "metric"}`).
    pub key: String,
    pub name: String,
    pub role: MetricRole,
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    pub direction: Direction,
    /// Guardrails: the relative harm that matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Guardrails: the worst status over the variants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<GuardrailStatus>,
    /// The metric is being (re)computed from the raw rows: its figures are partial.
    pub computing: bool,
    /// CUPED: how the comparisons were adjusted for pre-assignment activity (`null`: not
    /// adjusted, e.g. a ratio or retention metric, CUPED off, or no pre-assignment data).
    pub cuped: Option<CupedAdjustment>,
    pub variants: Vec<MetricVariant>,
    /// The cumulative figures at the end of each day since the start, oldest first; the
    /// last is today's, from these results (see `engine::history`).
    pub over_time: Vec<OverTimePoint>,
    /// Factorial experiments: each factor's main effects (absolute, in the metric's unit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<FactorEffects>,
    /// Factorial experiments: the two-way interactions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interactions: Vec<InteractionEffect>,
}

/// A metric's CUPED adjustment: its lift, chance to beat control, p-values, sequential view,
/// chance of harm, probability best and expected loss come from the adjusted values; `value`
/// stays the observed one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CupedAdjustment {
    /// The window before each assignment the covariate covers, e.g. `14d`.
    #[schema(value_type = String)]
    pub lookback: Duration,
    /// The regression coefficient of the value on the covariate, pooled over the variants.
    pub theta: f64,
    /// The share of the per-user variance the adjustment removed (ρ²): intervals narrow by
    /// 1 − √(1 − this).
    pub variance_reduction: f64,
    /// Users with activity in the window (everyone else counts with a covariate of 0).
    pub users_with_pre_data: u64,
}

/// One metric in one variant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricVariant {
    pub key: String,
    /// Users compared (retention: those whose window has closed).
    pub users: i64,
    /// The metric (rate, value per user or ratio) with its 95% interval.
    pub value: Interval,
    /// Relative to control, with its 95% interval (`null` for the control).
    pub lift: Option<Interval>,
    /// In the metric's good direction (`null` for the control).
    pub chance_to_beat_control: Option<f64>,
    /// Two-sided, against control (`null` for the control).
    pub p_value: Option<f64>,
    /// Goal: the chance this variant is the best in the good direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability_best: Option<f64>,
    /// Goal: expected loss of shipping it, in metric units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_loss: Option<f64>,
    /// Secondary: Benjamini–Hochberg adjusted over secondary metrics × variants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value_adjusted: Option<f64>,
    /// Guardrails: the chance that the variant is worse than control by more than the
    /// threshold (relative, in the bad direction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chance_of_harm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<GuardrailStatus>,
    /// The always-valid analysis against control: a confidence sequence for the lift and its
    /// p-value, valid however often results are read (`null` for the control and without
    /// spread).
    pub sequential: Option<SequentialLift>,
}

/// A comparison valid at every look (see `stats::sequential`).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct SequentialLift {
    /// The lift with its 95% confidence sequence.
    pub lift: Interval,
    pub p_value: f64,
    /// Whether both arms have enough data for the sequence to decide (see
    /// `stats::sequential::MIN_EVENTS_PER_ARM`); shown either way.
    pub decisive: bool,
}

/// The comparisons of every metric; `variant_keys` in the experiment's order.
pub fn compare(
    inputs: &[MetricInput],
    variant_keys: &[String],
    control: usize,
    level: f64,
) -> Vec<MetricResults> {
    let mut out: Vec<MetricResults> = inputs
        .iter()
        .map(|input| compare_one(input, variant_keys, control, level))
        .collect();
    adjust_secondary(&mut out);
    out
}

fn compare_one(
    input: &MetricInput,
    variant_keys: &[String],
    control: usize,
    level: f64,
) -> MetricResults {
    let decrease = input.direction == Direction::Decrease;
    let goal = input.role == MetricRole::Goal;
    let guardrail = input.role == MetricRole::Guardrail;
    let mut cmp = Comparison::of(&input.arms, control, level, decrease, input.threshold, goal);
    let cuped = input.covariates.as_ref().and_then(|covariates| {
        cmp.adjust(
            &input.arms,
            covariates,
            control,
            level,
            decrease,
            input.threshold,
            goal,
        )
    });
    let variants: Vec<MetricVariant> = variant_keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let vs_control = |x: Option<f64>| if i == control { None } else { x };
            let harm = vs_control(cmp.harm.get(i).copied()).filter(|_| guardrail);
            MetricVariant {
                key: key.clone(),
                users: cmp.users[i] as i64,
                value: cmp.value[i],
                lift: if i == control { None } else { cmp.lift[i] },
                chance_to_beat_control: vs_control(Some(cmp.chance[i])),
                p_value: vs_control(cmp.p_value[i]),
                probability_best: cmp.best.as_ref().map(|b| b[i]),
                expected_loss: cmp.loss.as_ref().and_then(|l| l[i]),
                p_value_adjusted: None,
                chance_of_harm: harm,
                status: harm.map(GuardrailStatus::of_harm),
                sequential: if i == control {
                    None
                } else {
                    cmp.sequential[i]
                },
            }
        })
        .collect();
    MetricResults {
        key: input.key.clone(),
        name: input.name.clone(),
        role: input.role,
        metric_type: input.metric_type,
        direction: input.direction,
        threshold: guardrail.then_some(input.threshold),
        status: guardrail.then(|| {
            variants
                .iter()
                .filter_map(|v| v.status)
                .max()
                .unwrap_or(GuardrailStatus::Ok)
        }),
        computing: input.computing,
        cuped,
        variants,
        over_time: Vec::new(),
        factors: Vec::new(),
        interactions: Vec::new(),
    }
}

/// Adjusts a metric already compared (the inline goal) for its pre-assignment covariate:
/// its comparisons against control, probability best and expected loss become the adjusted
/// ones, as [`compare`] makes them for a library metric.
pub fn apply_cuped(
    metric: &mut MetricResults,
    arms: &Arms,
    covariates: &Covariates,
    control: usize,
    level: f64,
) {
    let decrease = metric.direction == Direction::Decrease;
    let goal = metric.role == MetricRole::Goal;
    let threshold = metric.threshold.unwrap_or(0.0);
    let mut cmp = Comparison::of(arms, control, level, decrease, threshold, goal);
    let Some(adjustment) = cmp.adjust(arms, covariates, control, level, decrease, threshold, goal)
    else {
        return;
    };
    for (i, v) in metric.variants.iter_mut().enumerate() {
        v.probability_best = cmp.best.as_ref().map(|b| b[i]);
        v.expected_loss = cmp.loss.as_ref().and_then(|l| l[i]);
        if i == control {
            continue;
        }
        v.lift = cmp.lift[i];
        v.chance_to_beat_control = Some(cmp.chance[i]);
        v.p_value = cmp.p_value[i];
        v.sequential = cmp.sequential[i];
    }
    metric.cuped = Some(adjustment);
}

/// Benjamini–Hochberg over every (secondary metric, variant) p-value.
fn adjust_secondary(metrics: &mut [MetricResults]) {
    let family: Vec<(usize, usize, f64)> = metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == MetricRole::Secondary)
        .flat_map(|(mi, m)| {
            m.variants
                .iter()
                .enumerate()
                .filter_map(move |(vi, v)| v.p_value.map(|p| (mi, vi, p)))
        })
        .collect();
    let adjusted = multiple::benjamini_hochberg(&family.iter().map(|f| f.2).collect::<Vec<_>>());
    for ((mi, vi, _), q) in family.into_iter().zip(adjusted) {
        metrics[mi].variants[vi].p_value_adjusted = Some(q);
    }
}

/// Per variant, everything compared against control.
struct Comparison {
    users: Vec<u64>,
    value: Vec<Interval>,
    lift: Vec<Option<Interval>>,
    chance: Vec<f64>,
    p_value: Vec<Option<f64>>,
    harm: Vec<f64>,
    sequential: Vec<Option<SequentialLift>>,
    best: Option<Vec<f64>>,
    loss: Option<Vec<Option<f64>>>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Comparison {
    fn of(
        arms: &Arms,
        control: usize,
        level: f64,
        decrease: bool,
        threshold: f64,
        goal: bool,
    ) -> Self {
        match arms {
            Arms::Proportions(counts) => {
                Self::proportions(counts, control, level, decrease, threshold, goal)
            }
            Arms::Means(arms) => Self::means(arms, control, level, decrease, threshold, goal),
            Arms::Ratios(arms) => Self::ratios(arms, control, level, decrease, threshold, goal),
        }
    }

    fn proportions(
        counts: &[(u64, u64)],
        control: usize,
        level: f64,
        decrease: bool,
        threshold: f64,
        goal: bool,
    ) -> Self {
        let posts: Vec<BetaPosterior> = counts
            .iter()
            .map(|&(n, c)| BetaPosterior::from_counts(n, c))
            .collect();
        let c = &posts[control];
        let (best, loss) = if goal {
            // Best in the good direction: for a rate that should fall, the posteriors of 1 − p.
            let oriented: Vec<BetaPosterior> = if decrease {
                counts
                    .iter()
                    .map(|&(n, k)| BetaPosterior::from_counts(n, n - k))
                    .collect()
            } else {
                posts.clone()
            };
            let (best, loss) = beta::prob_best_and_expected_loss(&oriented);
            (Some(best), Some(loss.into_iter().map(finite).collect()))
        } else {
            (None, None)
        };
        Comparison {
            users: counts.iter().map(|c| c.0).collect(),
            value: posts.iter().map(|p| p.interval(level)).collect(),
            lift: posts
                .iter()
                .enumerate()
                .map(|(i, p)| (i != control).then(|| beta::lift(p, c, level)))
                .collect(),
            chance: posts
                .iter()
                .map(|p| direction::chance_to_beat_beta(p, c, decrease))
                .collect(),
            p_value: counts
                .iter()
                .map(|&(n, k)| {
                    Some(frequentist::two_proportion_p_value(
                        counts[control].0,
                        counts[control].1,
                        n,
                        k,
                    ))
                })
                .collect(),
            harm: posts
                .iter()
                .map(|p| direction::chance_of_harm_beta(p, c, threshold, decrease))
                .collect(),
            sequential: counts
                .iter()
                .map(|&rate| rates_sequential(rate, counts[control]))
                .collect(),
            best,
            loss,
        }
    }

    fn means(
        arms: &[MeanPosterior],
        control: usize,
        level: f64,
        decrease: bool,
        threshold: f64,
        goal: bool,
    ) -> Self {
        let c = &arms[control];
        let (best, loss) = if goal {
            let oriented: Vec<MeanPosterior> = arms.iter().map(|a| orient(a, decrease)).collect();
            best_and_loss(&oriented)
        } else {
            (None, None)
        };
        Comparison {
            users: arms.iter().map(|a| a.n).collect(),
            value: arms.iter().map(|a| a.interval(level)).collect(),
            lift: arms.iter().map(|a| gaussian::lift(a, c, level)).collect(),
            chance: arms
                .iter()
                .map(|a| direction::chance_to_beat_mean(a, c, decrease))
                .collect(),
            p_value: arms.iter().map(|a| gaussian::welch_p_value(a, c)).collect(),
            harm: arms
                .iter()
                .map(|a| direction::chance_of_harm_mean(a, c, threshold, decrease))
                .collect(),
            sequential: arms.iter().map(|a| means_sequential(a, c)).collect(),
            best,
            loss,
        }
    }

    fn ratios(
        arms: &[RatioStats],
        control: usize,
        level: f64,
        decrease: bool,
        threshold: f64,
        goal: bool,
    ) -> Self {
        let c = &arms[control];
        let (best, loss) = if goal {
            // The ratio's sampling distribution, normal with the delta-method variance.
            let normals: Vec<MeanPosterior> = arms
                .iter()
                .map(|a| {
                    let normal = match a.per_user_variance() {
                        Some(v) => {
                            MeanPosterior::with_known_variance(a.n, a.ratio() * a.n as f64, v)
                        }
                        None => MeanPosterior::from_sums(0, 0.0, 0.0),
                    };
                    orient(&normal, decrease)
                })
                .collect();
            best_and_loss(&normals)
        } else {
            (None, None)
        };
        Comparison {
            users: arms.iter().map(|a| a.n).collect(),
            value: arms.iter().map(|a| a.interval(level)).collect(),
            lift: arms
                .iter()
                .map(|a| ratio::lift(a, c).map(|e| e.interval(level)))
                .collect(),
            chance: arms
                .iter()
                .map(|a| direction::chance_to_beat_ratio(a, c, decrease))
                .collect(),
            p_value: arms
                .iter()
                .map(|a| ratio::lift(a, c).map(|e| e.p_value()))
                .collect(),
            harm: arms
                .iter()
                .map(|a| direction::chance_of_harm_ratio(a, c, threshold, decrease))
                .collect(),
            sequential: arms
                .iter()
                .map(|a| {
                    let decisive = a.n.min(c.n) >= sequential::MIN_EVENTS_PER_ARM;
                    sequential_lift(&ratio::lift(a, c)?, a.n + c.n, decisive)
                })
                .collect(),
            best,
            loss,
        }
    }
}

impl Comparison {
    /// Replaces the comparisons against control by their CUPED-adjusted versions (see
    /// `stats::cuped`), with one θ pooled over every variant; `None` (and nothing changed)
    /// for a ratio or retention metric, or when the covariate has no spread.
    #[allow(clippy::too_many_arguments)]
    fn adjust(
        &mut self,
        arms: &Arms,
        covariates: &Covariates,
        control: usize,
        level: f64,
        decrease: bool,
        threshold: f64,
        goal: bool,
    ) -> Option<CupedAdjustment> {
        let (kind, sums): (cuped::Kind, Vec<CupedSums>) = match arms {
            Arms::Proportions(counts) => (
                cuped::Kind::Proportion,
                counts
                    .iter()
                    .zip(&covariates.arms)
                    .map(|(&(n, c), x)| CupedSums {
                        n,
                        y: c as f64,
                        y_sq: c as f64,
                        x: x.x,
                        x_sq: x.x_sq,
                        xy: x.xy,
                    })
                    .collect(),
            ),
            Arms::Means(means) => (
                cuped::Kind::Mean,
                means
                    .iter()
                    .zip(&covariates.arms)
                    .map(|(m, x)| CupedSums {
                        n: m.n,
                        y: m.sum,
                        y_sq: m.sum_sq,
                        x: x.x,
                        x_sq: x.x_sq,
                        xy: x.xy,
                    })
                    .collect(),
            ),
            Arms::Ratios(_) => return None,
        };
        let theta = cuped::theta(kind, &sums);
        if theta == 0.0 {
            return None;
        }
        let c = &sums[control];
        let effects: Vec<Option<RelativeEffect>> = sums
            .iter()
            .map(|arm| cuped::effect(kind, arm, c, theta))
            .collect();
        let decisive = |arm: &CupedSums| match kind {
            cuped::Kind::Proportion => rate_decisive(arm.n, arm.y as u64),
            cuped::Kind::Mean => arm.n >= sequential::MIN_EVENTS_PER_ARM,
        };
        for (i, (arm, effect)) in sums.iter().zip(&effects).enumerate() {
            if i == control {
                continue;
            }
            self.lift[i] = effect.map(|e| e.interval(level));
            self.chance[i] = effect.map_or(0.5, |e| e.chance_to_beat(decrease));
            self.p_value[i] = effect.map(|e| e.p_value());
            self.harm[i] = effect.map_or(0.5, |e| e.chance_of_harm(threshold, decrease));
            self.sequential[i] =
                effect.and_then(|e| sequential_lift(&e, arm.n + c.n, decisive(arm) && decisive(c)));
        }
        if goal {
            let normals: Vec<MeanPosterior> = sums
                .iter()
                .map(|arm| {
                    let (mean, variance) = cuped::adjusted_arm(kind, arm, &sums, theta);
                    orient(
                        &MeanPosterior::with_known_variance(arm.n, mean * arm.n as f64, variance),
                        decrease,
                    )
                })
                .collect();
            (self.best, self.loss) = best_and_loss(&normals);
        }
        Some(CupedAdjustment {
            lookback: covariates.lookback,
            theta,
            variance_reduction: cuped::variance_reduction(kind, &sums, theta),
            users_with_pre_data: covariates.arms.iter().map(|a| a.users).sum(),
        })
    }
}

/// Probability best and expected loss of arms oriented so that larger is better.
fn best_and_loss(oriented: &[MeanPosterior]) -> (Option<Vec<f64>>, Option<Vec<Option<f64>>>) {
    (
        Some(gaussian::prob_best(oriented)),
        Some(
            gaussian::expected_loss(oriented)
                .into_iter()
                .map(finite)
                .collect(),
        ),
    )
}

/// The sequential view of a rate's lift, (users, conversions) of a variant against control's.
pub fn rates_sequential(variant: (u64, u64), control: (u64, u64)) -> Option<SequentialLift> {
    let effect = RelativeEffect::between(
        &ArmMoments::proportion(variant.0, variant.1),
        &ArmMoments::proportion(control.0, control.1),
    )?;
    let decisive = rate_decisive(variant.0, variant.1) && rate_decisive(control.0, control.1);
    sequential_lift(&effect, variant.0 + control.0, decisive)
}

/// The sequential view of a mean's lift.
pub fn means_sequential(
    variant: &MeanPosterior,
    control: &MeanPosterior,
) -> Option<SequentialLift> {
    let decisive = variant.n.min(control.n) >= sequential::MIN_EVENTS_PER_ARM;
    sequential_lift(
        &gaussian::effect(variant, control)?,
        variant.n + control.n,
        decisive,
    )
}

/// The always-valid view of an effect estimated from `users` users in the two arms, at the
/// 95% level with the default tuning.
pub fn sequential_lift(
    effect: &RelativeEffect,
    users: u64,
    decisive: bool,
) -> Option<SequentialLift> {
    sequential::analyse(effect, users, 1.0 - INTERVAL_LEVEL, sequential::TUNING).map(|s| {
        SequentialLift {
            lift: s.lift,
            p_value: s.p_value,
            decisive,
        }
    })
}

/// Whether a rate of `conversions` in `users` has enough of both outcomes for the sequence.
fn rate_decisive(users: u64, conversions: u64) -> bool {
    conversions.min(users.saturating_sub(conversions)) >= sequential::MIN_EVENTS_PER_ARM
}

/// The arm as "larger is better": negated when the metric should fall.
fn orient(arm: &MeanPosterior, decrease: bool) -> MeanPosterior {
    if decrease {
        MeanPosterior {
            sum: -arm.sum,
            ..*arm
        }
    } else {
        *arm
    }
}
