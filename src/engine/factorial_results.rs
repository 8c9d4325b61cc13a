//! A factorial experiment's results, per metric: each factor's main effects (each level
//! against the factor's control level, averaged over the other factors' levels), the two-way
//! interactions (difference of differences), all absolute, in the metric's unit, from the
//! cells' estimates by `stats::factorial`; and the combination to recommend.

use super::metric_sums::Arms;
use crate::domain::factorial::{self, Factor};
use crate::domain::{Dimension, Direction};
use crate::stats::Interval;
use crate::stats::factorial::{self as model, CellEstimate, Design, Effect};
use serde::Serialize;

/// One factor's main effects.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FactorEffects {
    pub factor: String,
    pub dimension: Dimension,
    /// The factor's control level (its first), against which each other level is compared.
    pub control: String,
    /// Every level but the control, in the factor's order.
    pub levels: Vec<LevelEffect>,
}

/// One level's main effect against its factor's control level.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LevelEffect {
    pub level: String,
    /// The absolute difference in the metric's unit, with its 95% interval (`null` while a
    /// cell it averages over has no data).
    pub effect: Option<Interval>,
    /// The chance that the level beats the control level in the metric's good direction.
    pub chance_to_beat_control: Option<f64>,
}

/// The two-way interaction of one level of each of two factors: how much their combination
/// adds beyond the sum of their main effects (AB − A − B + control, averaged over the other
/// factors).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InteractionEffect {
    pub factors: [String; 2],
    pub levels: [String; 2],
    pub effect: Option<Interval>,
    /// The interval excludes 0: the two levels do not simply add up.
    pub credible: bool,
}

/// A metric's factorial figures.
#[derive(Debug, Clone, Default)]
pub struct FactorialResults {
    pub factors: Vec<FactorEffects>,
    pub interactions: Vec<InteractionEffect>,
}

/// The combination the results recommend for the goal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// The cell (a variant key: its levels joined by dots).
    pub variant: String,
    /// Why, in one sentence.
    pub reason: String,
}

/// Each cell's estimate of the metric's mean and of that estimate's variance.
pub fn cell_estimates(arms: &Arms) -> Vec<CellEstimate> {
    match arms {
        Arms::Proportions(counts) => counts
            .iter()
            .map(|&(n, c)| CellEstimate::from_counts(n, c.min(n)))
            .collect(),
        Arms::Means(arms) => arms
            .iter()
            .map(|a| CellEstimate::from_mean(a).unwrap_or(CellEstimate::NO_DATA))
            .collect(),
        Arms::Ratios(arms) => arms
            .iter()
            .map(|r| {
                let variance = r.variance();
                if r.is_informative() && variance.is_finite() {
                    CellEstimate {
                        mean: r.ratio(),
                        variance,
                    }
                } else {
                    CellEstimate::NO_DATA
                }
            })
            .collect(),
    }
}

/// Main effects and two-way interactions of a metric whose cells are `cells` (in the
/// experiment's variant order).
pub fn effects(
    factors: &[Factor],
    cells: &[CellEstimate],
    direction: Direction,
    level: f64,
) -> FactorialResults {
    let design = Design::new(factorial::design(factors));
    let interval = |e: &Effect| Interval {
        mean: e.mean,
        low: e.low,
        high: e.high,
    };
    let beats = |e: &Effect| match direction {
        Direction::Increase => e.prob_above_zero(),
        Direction::Decrease => 1.0 - e.prob_above_zero(),
    };
    let mut out: Vec<FactorEffects> = factors
        .iter()
        .map(|f| FactorEffects {
            factor: f.key.to_string(),
            dimension: f.dimension,
            control: f.levels[0].key.to_string(),
            levels: Vec::new(),
        })
        .collect();
    for main in model::main_effects(&design, cells, level) {
        out[main.factor].levels.push(LevelEffect {
            level: factors[main.factor].levels[main.level].key.to_string(),
            effect: main.effect.as_ref().map(interval),
            chance_to_beat_control: main.effect.as_ref().map(beats),
        });
    }
    let interactions = model::interactions(&design, cells, level)
        .into_iter()
        .map(|i| {
            let (f, g) = i.factors;
            let (a, b) = i.levels;
            InteractionEffect {
                factors: [factors[f].key.to_string(), factors[g].key.to_string()],
                levels: [
                    factors[f].levels[a].key.to_string(),
                    factors[g].levels[b].key.to_string(),
                ],
                effect: i.effect.as_ref().map(interval),
                credible: i.effect.is_some_and(|e| e.excludes_zero()),
            }
        })
        .collect();
    FactorialResults {
        factors: out,
        interactions,
    }
}

/// The chance a level must have of beating its control before the recommendation takes it.
pub const RECOMMEND_CHANCE: f64 = 0.95;

/// The combination to recommend for the goal: while no interaction is credible, each
/// factor's level with the largest main effect among those that beat its control with at
/// least 95% chance (else the control level), since effects then add up; once an interaction
/// is credible they do not, and the cell whose own estimate is best is recommended. `None`
/// while a cell has no data.
pub fn recommend(
    factors: &[Factor],
    cells: &[CellEstimate],
    results: &FactorialResults,
    direction: Direction,
) -> Option<Recommendation> {
    if cells.iter().any(|c| !c.has_data()) {
        return None;
    }
    let good = |x: f64| match direction {
        Direction::Increase => x,
        Direction::Decrease => -x,
    };
    let credible: Vec<&InteractionEffect> =
        results.interactions.iter().filter(|i| i.credible).collect();
    let (cell, reason) = if credible.is_empty() {
        let levels: Vec<usize> = results
            .factors
            .iter()
            .map(|f| {
                f.levels
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.chance_to_beat_control.unwrap_or(0.0) >= RECOMMEND_CHANCE)
                    .max_by(|(_, a), (_, b)| {
                        let gain = |l: &LevelEffect| good(l.effect.map_or(0.0, |e| e.mean));
                        gain(a).total_cmp(&gain(b))
                    })
                    .map_or(0, |(i, _)| i + 1)
            })
            .collect();
        let chosen: Vec<String> = levels
            .iter()
            .zip(&results.factors)
            .filter(|(l, _)| **l > 0)
            .map(|(l, f)| format!("{} = {}", f.factor, f.levels[l - 1].level))
            .collect();
        let reason = if chosen.is_empty() {
            "No level beats its factor's control with 95% chance yet, and no interaction is credible: keep every control level.".to_string()
        } else {
            format!(
                "No interaction is credible, so the effects add up: each factor's best level that beats its control with 95% chance ({}), the others at their control.",
                chosen.join(", ")
            )
        };
        (
            Design::new(factorial::design(factors)).cell_of(&levels),
            reason,
        )
    } else {
        let best = (0..cells.len())
            .max_by(|&a, &b| good(cells[a].mean).total_cmp(&good(cells[b].mean)))
            .unwrap_or(0);
        let named: Vec<String> = credible
            .iter()
            .map(|i| {
                format!(
                    "{} = {} × {} = {}",
                    i.factors[0], i.levels[0], i.factors[1], i.levels[1]
                )
            })
            .collect();
        (
            best,
            format!(
                "Credible interaction ({}): the levels do not simply add up, so the combination with the best estimate of its own.",
                named.join("; ")
            ),
        )
    };
    let levels = factorial::levels_of(factors, cell);
    Some(Recommendation {
        variant: factors
            .iter()
            .zip(&levels)
            .map(|(f, &l)| f.levels[l].key.as_str())
            .collect::<Vec<_>>()
            .join("."),
        reason,
    })
}
