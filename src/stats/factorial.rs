//! Factorial (multivariate) experiments: several factors, each with levels (level 0 is the
//! factor's control); every user gets one level of every factor, and a *cell* is one
//! combination of levels.
//!
//! Two parts:
//! - Estimates: [`main_effects`] and [`interactions`] are linear contrasts of the cells'
//!   means, averaged with equal weights over the other factors' levels (the definition of
//!   statistics.md, "Factorial experiments"; Optimizely's "section rollups"). Equal weights,
//!   not weights by cell size: a bandit puts most users in a few cells, and weighting by
//!   size would make a main effect depend on where the bandit sent users. Cells are
//!   independent, so a contrast Σ w_c·m_c has variance Σ w_c²·v_c, and its interval is
//!   normal.
//! - Allocation: [`SharedModel`] is the bandit's model. Plain Thompson sampling over 16 or
//!   more cells learns each cell alone; the shared model lets a cell learn from every cell
//!   that shares a level with it (the main effects), while keeping each cell free to differ
//!   (the interactions), so that with much data each cell's own data decide.

use rand::Rng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::beta::BetaPosterior;
use super::gaussian::MeanPosterior;
use super::special::{norm_cdf, norm_quantile};
use super::thompson::effective_floor;

/// A full factorial design: how many levels each factor has, in factor order. Cells are
/// numbered in mixed radix with the last factor varying fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    levels: Vec<usize>,
    /// Stride of each factor in the cell number (the last factor's is 1).
    strides: Vec<usize>,
}

impl Design {
    /// Panics without a factor, or with a factor of fewer than 2 levels.
    pub fn new(levels: Vec<usize>) -> Design {
        assert!(!levels.is_empty(), "a factorial design needs a factor");
        assert!(
            levels.iter().all(|&l| l >= 2),
            "every factor needs at least 2 levels: {levels:?}"
        );
        let mut strides = vec![1; levels.len()];
        for f in (0..levels.len() - 1).rev() {
            strides[f] = strides[f + 1] * levels[f + 1];
        }
        Design { levels, strides }
    }

    pub fn factors(&self) -> usize {
        self.levels.len()
    }

    /// Levels per factor.
    pub fn levels(&self) -> &[usize] {
        &self.levels
    }

    /// Number of cells (the product of the levels).
    pub fn cells(&self) -> usize {
        self.strides[0] * self.levels[0]
    }

    /// Cell = Σ level_f × stride_f. Panics when a level is out of range.
    pub fn cell_of(&self, levels: &[usize]) -> usize {
        assert_eq!(levels.len(), self.levels.len(), "one level per factor");
        levels
            .iter()
            .zip(&self.levels)
            .zip(&self.strides)
            .map(|((&l, &count), &stride)| {
                assert!(l < count, "level {l} of a factor with {count} levels");
                l * stride
            })
            .sum()
    }

    /// The level of every factor in `cell`.
    pub fn levels_of(&self, cell: usize) -> Vec<usize> {
        assert!(cell < self.cells(), "cell {cell} of {}", self.cells());
        (0..self.factors()).map(|f| self.level(cell, f)).collect()
    }

    /// The level of factor `f` in `cell`.
    #[inline]
    pub fn level(&self, cell: usize, f: usize) -> usize {
        (cell / self.strides[f]) % self.levels[f]
    }
}

/// One cell's estimate of the metric's mean and the variance of that estimate (not per user).
/// A cell without data has an infinite variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellEstimate {
    pub mean: f64,
    pub variance: f64,
}

impl CellEstimate {
    /// A cell that carries no information.
    pub const NO_DATA: CellEstimate = CellEstimate {
        mean: 0.0,
        variance: f64::INFINITY,
    };

    /// A rate's cell from its users and conversions: the Beta(1 + c, 1 + n − c) posterior's
    /// mean and variance, or no data while the cell has no users (the uniform prior is not
    /// data, and would pull the shared model's main effects towards 0.5).
    pub fn from_counts(users: u64, conversions: u64) -> CellEstimate {
        if users == 0 {
            CellEstimate::NO_DATA
        } else {
            CellEstimate::from_beta(&BetaPosterior::from_counts(users, conversions))
        }
    }

    /// The Beta posterior's mean and variance.
    pub fn from_beta(p: &BetaPosterior) -> CellEstimate {
        CellEstimate {
            mean: p.mean(),
            variance: p.variance(),
        }
    }

    /// The mean and the variance of the mean; None while the posterior is not informative
    /// (fewer than 2 users).
    pub fn from_mean(p: &MeanPosterior) -> Option<CellEstimate> {
        p.is_informative().then(|| CellEstimate {
            mean: p.mean(),
            variance: p.variance_of_mean(),
        })
    }

    /// Finite mean and variance.
    pub fn has_data(&self) -> bool {
        self.mean.is_finite() && self.variance.is_finite()
    }
}

/// An absolute effect in the metric's unit with its `level` (e.g. 0.95) interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub mean: f64,
    pub sd: f64,
    pub low: f64,
    pub high: f64,
}

impl Effect {
    /// P(effect > 0) under the normal posterior (a point mass when sd = 0).
    pub fn prob_above_zero(&self) -> f64 {
        if self.sd > 0.0 {
            norm_cdf(self.mean / self.sd)
        } else if self.mean > 0.0 {
            1.0
        } else if self.mean < 0.0 {
            0.0
        } else {
            0.5
        }
    }

    /// Whether the interval lies entirely on one side of 0.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The effect of one non-control level of one factor against the factor's control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MainEffect {
    pub factor: usize,
    pub level: usize,
    /// None when a cell it uses has no data.
    pub effect: Option<Effect>,
}

/// The two-way interaction of level a of factor f with level b of factor g.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub factors: (usize, usize),
    pub levels: (usize, usize),
    /// None when a cell it uses has no data.
    pub effect: Option<Effect>,
}

/// The contrast Σ w·m over `(cell, w)` of independent cells, with variance Σ w²·v and the
/// normal `level` interval. None when a cell with a non-zero weight has no data.
pub fn contrast(cells: &[CellEstimate], weights: &[(usize, f64)], level: f64) -> Option<Effect> {
    let mut mean = 0.0;
    let mut variance = 0.0;
    for &(c, w) in weights {
        if w == 0.0 {
            continue;
        }
        let cell = &cells[c];
        if !cell.has_data() {
            return None;
        }
        mean += w * cell.mean;
        variance += w * w * cell.variance;
    }
    let sd = variance.sqrt();
    let z = norm_quantile(0.5 * (1.0 + level.clamp(0.0, 1.0)));
    Some(Effect {
        mean,
        sd,
        low: mean - z * sd,
        high: mean + z * sd,
    })
}

/// The weights of the main effect of level `a` of factor `f`: +1/R on the cells at level a,
/// −1/R on those at level 0, R = the number of combinations of the other factors.
pub fn main_effect_weights(design: &Design, f: usize, a: usize) -> Vec<(usize, f64)> {
    let w = design.levels[f] as f64 / design.cells() as f64;
    (0..design.cells())
        .filter_map(|c| match design.level(c, f) {
            l if l == a => Some((c, w)),
            0 => Some((c, -w)),
            _ => None,
        })
        .collect()
}

/// The weights of the interaction of level a of factor f with level b of factor g:
/// (+1, −1, −1, +1)/R on the cells at (a, b), (a, 0), (0, b), (0, 0), R = the number of
/// combinations of the other factors.
pub fn interaction_weights(
    design: &Design,
    (f, g): (usize, usize),
    (a, b): (usize, usize),
) -> Vec<(usize, f64)> {
    let w = (design.levels[f] * design.levels[g]) as f64 / design.cells() as f64;
    (0..design.cells())
        .filter_map(|c| {
            let sign_f = match design.level(c, f) {
                l if l == a => 1.0,
                0 => -1.0,
                _ => return None,
            };
            let sign_g = match design.level(c, g) {
                l if l == b => 1.0,
                0 => -1.0,
                _ => return None,
            };
            Some((c, sign_f * sign_g * w))
        })
        .collect()
}

/// Main effect of every non-control level (level ≥ 1) of every factor against the factor's
/// control level, averaged with equal weights over the other factors' level combinations
/// (difference of marginal means over cells, unweighted by cell sizes). Order: factor, then level.
pub fn main_effects(design: &Design, cells: &[CellEstimate], level: f64) -> Vec<MainEffect> {
    assert_eq!(cells.len(), design.cells(), "one estimate per cell");
    let mut out = Vec::new();
    for f in 0..design.factors() {
        for a in 1..design.levels[f] {
            out.push(MainEffect {
                factor: f,
                level: a,
                effect: contrast(cells, &main_effect_weights(design, f, a), level),
            });
        }
    }
    out
}

/// Two-way interactions for each pair f < g and each non-control a of f, b of g:
/// average over the other factors of m(a,b) − m(a,0) − m(0,b) + m(0,0). Order: (f,g), then a, then b.
pub fn interactions(design: &Design, cells: &[CellEstimate], level: f64) -> Vec<Interaction> {
    assert_eq!(cells.len(), design.cells(), "one estimate per cell");
    let mut out = Vec::new();
    for f in 0..design.factors() {
        for g in f + 1..design.factors() {
            for a in 1..design.levels[f] {
                for b in 1..design.levels[g] {
                    let weights = interaction_weights(design, (f, g), (a, b));
                    out.push(Interaction {
                        factors: (f, g),
                        levels: (a, b),
                        effect: contrast(cells, &weights, level),
                    });
                }
            }
        }
    }
    out
}

/// Monte Carlo draws the server should give [`SharedModel::prob_best`] per refresh: the
/// probabilities then have a standard error of at most 0.005.
pub const PROB_BEST_DRAWS: usize = 10_000;

/// Prior sd of every coefficient, in units of the data's scale (√ of the mean of y² + v over
/// the cells with data): wide enough to say nothing, proper so that the marginal likelihood
/// that picks τ² exists and a design with empty cells still has a posterior.
const PRIOR_SD_SCALES: f64 = 10.0;
/// The τ² grid: 0, then τ² = base · 10^(k/4) for k in −24..=4, base = max(mean cell
/// variance, spread of the cells' means): from far below anything the data can tell from 0
/// to well above any interaction the data can show.
const GRID_LOW: i32 = -24;
const GRID_HIGH: i32 = 4;
const GRID_STEPS_PER_DECADE: f64 = 4.0;
/// Cell variances are floored at this fraction of the squared scale, so that a cell whose
/// variance is 0 (every user spent the same) keeps the weights finite.
const VARIANCE_FLOOR: f64 = 1e-14;

/// Cell means = intercept + main effects (weak prior) + a deviation from additivity per cell
/// (the interactions, shrunk toward 0 with variance τ², τ² chosen by maximizing the marginal
/// likelihood over a grid). With much data each cell's own data dominates, so the model is not biased
/// against a real interaction in the limit.
///
/// Model: each cell's estimate y_c ~ N(θ_c, v_c) (a cell with infinite variance carries no
/// data); θ_c = μ + Σ_f α_{f, l_f(c)} + u_c with u_c ~ N(0, τ²) (Gelman et al., "Bayesian
/// Data Analysis", 3rd ed., ch. 5 and 15: a hierarchical linear model). Every level of every
/// factor, the controls included, has its own coefficient with the same prior N(0, (10·s)²),
/// and so has the intercept (centred on the unweighted mean of the cells with data, s the
/// data's scale). That over-parametrizes the main effects, which the proper prior makes
/// harmless, and it keeps the cells exchangeable a priori: with treatment coding (controls
/// fixed at 0) a cell with more non-control levels would be a priori more extreme, and so
/// more often "best" before any data. At most 1 + 4·5 = 21 coefficients.
///
/// Given τ², y ~ N(Xβ, diag(v) + τ²I) after integrating u out, so β's posterior is Gaussian
/// (weighted least squares with the prior; a Cholesky factor of the P×P precision), and
/// θ_c | β, y_c is conjugate: mean (v_c·x_cβ + τ²·y_c)/(v_c + τ²), variance v_c·τ²/(v_c + τ²).
/// A cell's own data get the weight τ²/(τ² + v_c), which tends to 1 as its users grow for any
/// τ² > 0; τ² = 0 (the additive model) is chosen only while the data cannot tell an
/// interaction from noise. τ² is the maximum of the marginal likelihood (empirical Bayes,
/// type II maximum likelihood) over a log grid (0 and 29 values from 10⁻⁶ to 10 times the
/// larger of the mean cell variance and the spread of the cells' means); the marginal
/// likelihood comes from the determinant lemma and Woodbury's identity, so a fit costs
/// O(cells·F² + P³) per grid value, not O(cells³). [`TauChoice::Average`] instead draws τ²
/// from its grid posterior on every draw (the fully Bayesian treatment); the simulator
/// (docs/simulation.md, "Factorial bandit") found it no better (equal within about a
/// standard error in five scenarios, 6% more regret in one), so `fit` keeps the point estimate.
///
/// Measured in release (docs/simulation.md): `fit` 0.02 ms and `prob_best` with
/// [`PROB_BEST_DRAWS`] 2 ms for 16 cells; 0.5 ms and 45 ms for 625 cells.
///
/// How the server uses it: once per refresh (every second) `fit` from the cells' posteriors,
/// then `prob_best` over the cells still open; [`allocation`] adds the exploration floor,
/// and the hot path draws each new user's cell from that allocation ([`pick`], probability
/// matching). The logged propensity is then exactly the probability with which the cell was
/// drawn (the allocation itself is a Monte Carlo estimate of P(best), which does not make
/// the propensity inexact).
#[derive(Debug, Clone)]
pub struct SharedModel {
    design: Design,
    /// Coefficients: intercept, then every level of every factor.
    params: usize,
    /// Per cell, the indices of its 1 + F coefficients (flattened, 1 + F per cell).
    rows: Vec<usize>,
    /// The posterior given each τ² kept, with its posterior weight (one component, weight
    /// 1, for [`TauChoice::MaxLikelihood`]).
    components: Vec<Component>,
}

/// How [`SharedModel::fit_with`] treats τ².
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TauChoice {
    /// The τ² of the grid with the largest marginal likelihood (empirical Bayes).
    MaxLikelihood,
    /// Every τ² of the grid, weighted by its marginal likelihood (a log-uniform prior over
    /// the grid); each draw first draws τ². Kept for the simulator's comparison: it was no
    /// better than the point estimate (docs/simulation.md, "Factorial bandit").
    Average,
}

/// The posterior given one τ².
#[derive(Debug, Clone)]
struct Component {
    tau2: f64,
    weight: f64,
    /// Posterior mean of the coefficients.
    beta_mean: Vec<f64>,
    /// Lower Cholesky factor of the coefficients' posterior precision (P×P, row-major).
    chol: Vec<f64>,
    /// Per cell: weight of the additive prediction (1 − τ²/(τ² + v_c)), the own data's part
    /// (τ²·y_c/(τ² + v_c), plus the centre) and the conditional sd of θ_c given β.
    additive_weight: Vec<f64>,
    own_part: Vec<f64>,
    conditional_sd: Vec<f64>,
}

/// Components whose weight is below this fraction of the largest are dropped.
const NEGLIGIBLE_WEIGHT: f64 = 1e-9;

impl SharedModel {
    /// Fits the model; cells with a non-finite mean or variance carry no data.
    pub fn fit(design: &Design, cells: &[CellEstimate]) -> SharedModel {
        SharedModel::fit_with(design, cells, TauChoice::MaxLikelihood)
    }

    /// [`SharedModel::fit`] with a choice of how τ² is treated.
    pub fn fit_with(design: &Design, cells: &[CellEstimate], choice: TauChoice) -> SharedModel {
        assert_eq!(cells.len(), design.cells(), "one estimate per cell");
        let factors = design.factors();
        let params = 1 + design.levels.iter().sum::<usize>();
        let mut offsets = Vec::with_capacity(factors);
        let mut next = 1;
        for &l in &design.levels {
            offsets.push(next);
            next += l;
        }
        let mut rows = Vec::with_capacity(design.cells() * (1 + factors));
        for c in 0..design.cells() {
            rows.push(0);
            for (f, &offset) in offsets.iter().enumerate() {
                rows.push(offset + design.level(c, f));
            }
        }

        let data: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].has_data()).collect();
        let n = data.len() as f64;
        let (centre, scale2, spread, mean_v) = if data.is_empty() {
            (0.0, 1.0, 0.0, 0.0)
        } else {
            let centre = data.iter().map(|&c| cells[c].mean).sum::<f64>() / n;
            let spread = data
                .iter()
                .map(|&c| (cells[c].mean - centre).powi(2))
                .sum::<f64>()
                / n;
            let mean_v = data.iter().map(|&c| cells[c].variance).sum::<f64>() / n;
            let scale2 = centre * centre + spread + mean_v;
            (
                centre,
                if scale2 > 0.0 { scale2 } else { 1.0 },
                spread,
                mean_v,
            )
        };
        let floor = VARIANCE_FLOOR * scale2;
        // Data cells: (cell, y − centre, v).
        let obs: Vec<(usize, f64, f64)> = data
            .iter()
            .map(|&c| (c, cells[c].mean - centre, cells[c].variance.max(floor)))
            .collect();
        let prior_precision = 1.0 / (PRIOR_SD_SCALES * PRIOR_SD_SCALES * scale2);

        let base = spread.max(mean_v).max(floor);
        let mut grid = vec![0.0];
        if !obs.is_empty() {
            grid.extend(
                (GRID_LOW..=GRID_HIGH).map(|k| base * 10f64.powf(k as f64 / GRID_STEPS_PER_DECADE)),
            );
        }
        let width = 1 + factors;
        let fits: Vec<(f64, Posterior)> = grid
            .iter()
            .map(|&tau2| {
                (
                    tau2,
                    Posterior::new(params, prior_precision, &obs, &rows, width, tau2),
                )
            })
            .collect();
        let top = fits
            .iter()
            .map(|(_, p)| p.log_marginal)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut kept: Vec<(f64, f64, Posterior)> = match choice {
            TauChoice::MaxLikelihood => {
                let (tau2, post) = fits
                    .into_iter()
                    .find(|(_, p)| p.log_marginal == top)
                    .expect("the grid is not empty");
                vec![(tau2, 1.0, post)]
            }
            TauChoice::Average => fits
                .into_iter()
                .map(|(tau2, p)| (tau2, (p.log_marginal - top).exp(), p))
                .filter(|(_, w, _)| *w >= NEGLIGIBLE_WEIGHT)
                .collect(),
        };
        let total: f64 = kept.iter().map(|(_, w, _)| w).sum();
        for k in &mut kept {
            k.1 /= total;
        }

        let cells_n = design.cells();
        let components = kept
            .into_iter()
            .map(|(tau2, weight, post)| {
                let mut additive_weight = vec![1.0; cells_n];
                let mut own_part = vec![centre; cells_n];
                let mut conditional_sd = vec![tau2.sqrt(); cells_n];
                for &(c, y, v) in &obs {
                    let k = tau2 / (tau2 + v);
                    additive_weight[c] = 1.0 - k;
                    own_part[c] = k * y + centre;
                    conditional_sd[c] = (tau2 * v / (tau2 + v)).sqrt();
                }
                // Cells without data: θ_c = centre + x_cβ + u_c, which own_part = centre and
                // additive_weight = 1 already say.
                Component {
                    tau2,
                    weight,
                    beta_mean: post.mean,
                    chol: post.chol,
                    additive_weight,
                    own_part,
                    conditional_sd,
                }
            })
            .collect();
        SharedModel {
            design: design.clone(),
            params,
            rows,
            components,
        }
    }

    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The variance of the deviations from additivity: the chosen one (0: the additive
    /// model), or its posterior mean over the grid with [`TauChoice::Average`].
    pub fn tau2(&self) -> f64 {
        self.components.iter().map(|k| k.weight * k.tau2).sum()
    }

    /// Posterior means of the cells.
    pub fn means(&self) -> Vec<f64> {
        (0..self.design.cells())
            .map(|c| {
                self.components
                    .iter()
                    .map(|k| k.weight * self.cell_value(k, c, &k.beta_mean))
                    .sum()
            })
            .collect()
    }

    /// θ_c's conditional mean given coefficients β.
    #[inline]
    fn cell_value(&self, k: &Component, c: usize, beta: &[f64]) -> f64 {
        let width = 1 + self.design.factors();
        let additive: f64 = self.rows[c * width..(c + 1) * width]
            .iter()
            .map(|&j| beta[j])
            .sum();
        k.additive_weight[c] * additive + k.own_part[c]
    }

    /// A component drawn by weight.
    #[inline]
    fn draw_component<R: Rng + ?Sized>(&self, rng: &mut R) -> &Component {
        if self.components.len() == 1 {
            return &self.components[0];
        }
        let u = rng.random::<f64>();
        let mut cumulative = 0.0;
        for k in &self.components {
            cumulative += k.weight;
            if u < cumulative {
                return k;
            }
        }
        self.components.last().expect("at least one component")
    }

    /// β = posterior mean + L⁻ᵀz, z standard normal (so that Cov = (LLᵀ)⁻¹).
    fn draw_beta<R: Rng + ?Sized>(&self, k: &Component, beta: &mut [f64], rng: &mut R) {
        let p = self.params;
        for b in beta.iter_mut() {
            *b = StandardNormal.sample(rng);
        }
        for i in (0..p).rev() {
            let s = (i + 1..p).fold(beta[i], |s, j| s - k.chol[j * p + i] * beta[j]);
            beta[i] = s / k.chol[i * p + i];
        }
        for (b, m) in beta.iter_mut().zip(&k.beta_mean) {
            *b += m;
        }
    }

    #[inline]
    fn draw_cell<R: Rng + ?Sized>(
        &self,
        k: &Component,
        c: usize,
        beta: &[f64],
        rng: &mut R,
    ) -> f64 {
        let sd = k.conditional_sd[c];
        let value = self.cell_value(k, c, beta);
        if sd > 0.0 {
            let z: f64 = StandardNormal.sample(rng);
            value + sd * z
        } else {
            value
        }
    }

    /// One joint posterior draw of every cell's mean.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let mut beta = vec![0.0; self.params];
        let k = self.draw_component(rng);
        self.draw_beta(k, &mut beta, rng);
        (0..self.design.cells())
            .map(|c| self.draw_cell(k, c, &beta, rng))
            .collect()
    }

    /// Probability each cell is best among `eligible` cells (0 for others), by `draws` Monte
    /// Carlo draws. Sums to 1 over the eligible cells (all 0 when none is). Panics when an
    /// eligible cell is out of range.
    pub fn prob_best<R: Rng + ?Sized>(
        &self,
        eligible: &[usize],
        draws: usize,
        rng: &mut R,
    ) -> Vec<f64> {
        let cells = self.design.cells();
        let mut out = vec![0.0; cells];
        assert!(
            eligible.iter().all(|&c| c < cells),
            "eligible cells out of range"
        );
        match eligible {
            [] => return out,
            [only] => {
                out[*only] = 1.0;
                return out;
            }
            _ => {}
        }
        if draws == 0 {
            return out;
        }
        let mut wins = vec![0u64; cells];
        let mut beta = vec![0.0; self.params];
        for _ in 0..draws {
            let k = self.draw_component(rng);
            self.draw_beta(k, &mut beta, rng);
            let mut best = eligible[0];
            let mut best_value = f64::NEG_INFINITY;
            for &c in eligible {
                let value = self.draw_cell(k, c, &beta, rng);
                if value > best_value {
                    best_value = value;
                    best = c;
                }
            }
            wins[best] += 1;
        }
        for (o, w) in out.iter_mut().zip(&wins) {
            *o = *w as f64 / draws as f64;
        }
        out
    }
}

/// The coefficients' Gaussian posterior for one τ², with the log marginal likelihood of the
/// data (up to a constant that does not depend on τ²).
struct Posterior {
    mean: Vec<f64>,
    chol: Vec<f64>,
    log_marginal: f64,
}

impl Posterior {
    /// Precision A = I/σ₀² + Σ_c w_c x_c x_cᵀ and b = Σ_c w_c y_c x_c with w_c = 1/(v_c + τ²);
    /// mean A⁻¹b; log p(y | τ²) = −½[Σ ln(v_c + τ²) + ln|A| + Σ w_c y_c² − bᵀA⁻¹b] + const
    /// (the determinant lemma and Woodbury's identity on y ~ N(0, XΣ₀Xᵀ + diag(v) + τ²I),
    /// which keep the cost at O(cells·F² + P³) instead of O(cells³)).
    fn new(
        params: usize,
        prior_precision: f64,
        obs: &[(usize, f64, f64)],
        rows: &[usize],
        width: usize,
        tau2: f64,
    ) -> Posterior {
        let p = params;
        let mut a = vec![0.0; p * p];
        for i in 0..p {
            a[i * p + i] = prior_precision;
        }
        let mut b = vec![0.0; p];
        let mut log_det_lambda = 0.0;
        let mut quad = 0.0;
        for &(c, y, v) in obs {
            let total = v + tau2;
            let w = 1.0 / total;
            log_det_lambda += total.ln();
            quad += w * y * y;
            let row = &rows[c * width..(c + 1) * width];
            for &i in row {
                b[i] += w * y;
                for &j in row {
                    if j <= i {
                        a[i * p + j] += w;
                    }
                }
            }
        }
        let chol = cholesky(a, p);
        let mut g = b;
        forward_substitute(&chol, p, &mut g);
        let fit: f64 = g.iter().map(|x| x * x).sum();
        let log_det_a: f64 = (0..p).map(|i| 2.0 * chol[i * p + i].ln()).sum();
        let mut mean = g;
        back_substitute(&chol, p, &mut mean);
        Posterior {
            mean,
            chol,
            log_marginal: -0.5 * (log_det_lambda + log_det_a + quad - fit),
        }
    }
}

/// Cholesky factor L (lower, row-major) of a symmetric positive definite matrix given by its
/// lower triangle. The prior keeps the matrix positive definite; a pivot that rounding made
/// non-positive is clamped to a tiny positive value rather than producing NaN.
fn cholesky(mut a: Vec<f64>, p: usize) -> Vec<f64> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        let d = if d > 0.0 {
            d.sqrt()
        } else {
            f64::MIN_POSITIVE.sqrt()
        };
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
        for k in j + 1..p {
            a[j * p + k] = 0.0;
        }
    }
    a
}

/// Solves L x = b in place.
fn forward_substitute(l: &[f64], p: usize, x: &mut [f64]) {
    for i in 0..p {
        let mut s = x[i];
        for k in 0..i {
            s -= l[i * p + k] * x[k];
        }
        x[i] = s / l[i * p + i];
    }
}

/// Solves Lᵀ x = b in place.
fn back_substitute(l: &[f64], p: usize, x: &mut [f64]) {
    for i in (0..p).rev() {
        let mut s = x[i];
        for k in i + 1..p {
            s -= l[k * p + i] * x[k];
        }
        x[i] = s / l[i * p + i];
    }
}

/// The allocation with exploration floor φ over the eligible cells, as
/// [`super::thompson::allocation`] forms it: φ + (1 − Kφ)·P(best) for each of the K eligible
/// cells (φ clamped to [0, 1/K]), 0 for the others.
pub fn allocation(prob_best: &[f64], eligible: &[usize], floor: f64) -> Vec<f64> {
    let floor = effective_floor(floor, eligible.len());
    let spread = 1.0 - eligible.len() as f64 * floor;
    let mut out = vec![0.0; prob_best.len()];
    for &c in eligible {
        out[c] = floor + spread * prob_best[c];
    }
    out
}

/// Draws a cell from an allocation (probability matching): the first cell whose cumulative
/// share exceeds a uniform draw, the last cell with a positive share against rounding.
pub fn pick<R: Rng + ?Sized>(allocation: &[f64], rng: &mut R) -> usize {
    let total: f64 = allocation.iter().sum();
    let u = rng.random::<f64>() * total;
    let mut cumulative = 0.0;
    let mut last = 0;
    for (c, &share) in allocation.iter().enumerate() {
        if share <= 0.0 {
            continue;
        }
        cumulative += share;
        last = c;
        if u < cumulative {
            return c;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn est(mean: f64, variance: f64) -> CellEstimate {
        CellEstimate { mean, variance }
    }

    #[test]
    fn cells_round_trip_through_levels() {
        let design = Design::new(vec![2, 3, 4]);
        assert_eq!(design.cells(), 24);
        assert_eq!(design.factors(), 3);
        assert_eq!(design.levels(), &[2, 3, 4]);
        // The last factor varies fastest.
        assert_eq!(design.cell_of(&[0, 0, 1]), 1);
        assert_eq!(design.cell_of(&[0, 1, 0]), 4);
        assert_eq!(design.cell_of(&[1, 0, 0]), 12);
        assert_eq!(design.cell_of(&[1, 2, 3]), 23);
        for c in 0..design.cells() {
            assert_eq!(design.cell_of(&design.levels_of(c)), c);
        }
    }

    #[test]
    #[should_panic(expected = "at least 2 levels")]
    fn a_factor_needs_two_levels() {
        Design::new(vec![2, 1]);
    }

    #[test]
    fn effects_of_a_two_by_two_by_hand() {
        // Cells (A, B): 00, 01, 10, 11.
        let design = Design::new(vec![2, 2]);
        let cells = [
            est(0.10, 1e-4),
            est(0.11, 2e-4),
            est(0.13, 3e-4),
            est(0.16, 4e-4),
        ];
        let main = main_effects(&design, &cells, 0.95);
        assert_eq!(main.len(), 2);
        // A: ((0.13 − 0.10) + (0.16 − 0.11))/2 = 0.04, variance (1+2+3+4)e-4/4 = 2.5e-4.
        let a = main[0].effect.unwrap();
        assert_eq!((main[0].factor, main[0].level), (0, 1));
        assert!((a.mean - 0.04).abs() < 1e-15);
        assert!((a.sd - 2.5e-4f64.sqrt()).abs() < 1e-15);
        assert!((a.high - a.mean - 1.959963984540054 * a.sd).abs() < 1e-15);
        // B: ((0.11 − 0.10) + (0.16 − 0.13))/2 = 0.02.
        let b = main[1].effect.unwrap();
        assert_eq!((main[1].factor, main[1].level), (1, 1));
        assert!((b.mean - 0.02).abs() < 1e-15);
        // AB: 0.16 − 0.13 − 0.11 + 0.10 = 0.02, variance 10e-4.
        let ab = interactions(&design, &cells, 0.95);
        assert_eq!(ab.len(), 1);
        assert_eq!((ab[0].factors, ab[0].levels), ((0, 1), (1, 1)));
        let e = ab[0].effect.unwrap();
        assert!((e.mean - 0.02).abs() < 1e-15);
        assert!((e.sd - 1e-3f64.sqrt()).abs() < 1e-15);
        assert!(e.prob_above_zero() > 0.5 && !e.excludes_zero());
    }

    #[test]
    fn effects_of_a_two_by_three_by_hand() {
        // Cells (A, B), B fastest: 00, 01, 02, 10, 11, 12; variance 1 each.
        let design = Design::new(vec![2, 3]);
        let means = [1.0, 2.0, 4.0, 3.0, 5.0, 4.0];
        let cells: Vec<_> = means.iter().map(|&m| est(m, 1.0)).collect();
        let main = main_effects(&design, &cells, 0.95);
        let got: Vec<(usize, usize, f64, f64)> = main
            .iter()
            .map(|m| {
                let e = m.effect.unwrap();
                (m.factor, m.level, e.mean, e.sd * e.sd)
            })
            .collect();
        // A1: ((3−1) + (5−2) + (4−4))/3 = 5/3, variance 6·(1/3)² = 2/3.
        // B1: ((2−1) + (5−3))/2 = 3/2; B2: ((4−1) + (4−3))/2 = 2; variance 4·(1/2)² = 1.
        let want = [
            (0, 1, 5.0 / 3.0, 2.0 / 3.0),
            (1, 1, 1.5, 1.0),
            (1, 2, 2.0, 1.0),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.0, g.1), (w.0, w.1));
            assert!((g.2 - w.2).abs() < 1e-14, "{g:?} vs {w:?}");
            assert!((g.3 - w.3).abs() < 1e-14, "{g:?} vs {w:?}");
        }
        // A1×B1: 5 − 3 − 2 + 1 = 1; A1×B2: 4 − 3 − 4 + 1 = −2; variance 4.
        let inter = interactions(&design, &cells, 0.95);
        assert_eq!(inter.len(), 2);
        assert_eq!(inter[0].levels, (1, 1));
        assert_eq!(inter[1].levels, (1, 2));
        assert!((inter[0].effect.unwrap().mean - 1.0).abs() < 1e-14);
        let e = inter[1].effect.unwrap();
        assert!((e.mean + 2.0).abs() < 1e-14);
        assert!((e.sd - 2.0).abs() < 1e-14);
    }

    #[test]
    fn an_effect_needs_data_in_every_cell_it_uses() {
        let design = Design::new(vec![2, 3]);
        let mut cells = vec![est(0.1, 1e-4); 6];
        cells[2] = CellEstimate::NO_DATA; // A0, B2
        let main = main_effects(&design, &cells, 0.95);
        // A uses every cell; B1 does not use B2's cells; B2 does.
        assert!(main[0].effect.is_none());
        assert!(main[1].effect.is_some());
        assert!(main[2].effect.is_none());
        let inter = interactions(&design, &cells, 0.95);
        assert!(inter[0].effect.is_some());
        assert!(inter[1].effect.is_none());
        cells[2] = est(f64::NAN, 1e-4);
        assert!(main_effects(&design, &cells, 0.95)[2].effect.is_none());
        let unknown = CellEstimate::from_mean(&MeanPosterior::from_sums(1, 3.0, 9.0));
        assert!(unknown.is_none());
    }

    /// Cells from exact rates with a tiny variance (a lot of data).
    fn cells_with(rates: &[f64], variance: f64) -> Vec<CellEstimate> {
        rates.iter().map(|&m| est(m, variance)).collect()
    }

    #[test]
    fn additive_truth_with_much_data_gives_the_cells_data() {
        let design = Design::new(vec![2, 2, 2]);
        let rates: Vec<f64> = (0..8)
            .map(|c| {
                let l = design.levels_of(c);
                0.10 + 0.02 * l[0] as f64 + 0.01 * l[1] as f64 - 0.005 * l[2] as f64
            })
            .collect();
        let model = SharedModel::fit(&design, &cells_with(&rates, 1e-8));
        for (m, r) in model.means().iter().zip(&rates) {
            assert!((m - r).abs() < 1e-6, "{m} vs {r}");
        }
        assert_eq!(model.tau2(), 0.0, "additive data need no interaction");
    }

    #[test]
    fn a_strong_interaction_with_much_data_still_finds_the_best_cell() {
        // Content and timing each help alone but hurt together: the additive model would
        // pick (1, 1, ·); the truth's best is (1, 0, 1).
        let design = Design::new(vec![2, 2, 2]);
        let rates: Vec<f64> = (0..8)
            .map(|c| {
                let l = design.levels_of(c);
                let (a, b, t) = (l[0] as f64, l[1] as f64, l[2] as f64);
                0.10 + 0.02 * a + 0.015 * b + 0.005 * t - 0.03 * a * b
            })
            .collect();
        let cells = cells_with(&rates, 1e-7);
        let model = SharedModel::fit(&design, &cells);
        assert!(model.tau2() > 0.0);
        let best = design.cell_of(&[1, 0, 1]);
        let means = model.means();
        for (m, r) in means.iter().zip(&rates) {
            assert!((m - r).abs() < 1e-3, "{m} vs {r}");
        }
        let mut rng = StdRng::seed_from_u64(7);
        let all: Vec<usize> = (0..8).collect();
        let p = model.prob_best(&all, 4_000, &mut rng);
        assert!(p[best] > 0.9, "{p:?}");
        let averaged = SharedModel::fit_with(&design, &cells, TauChoice::Average);
        assert!(averaged.tau2() > 0.0);
        let p = averaged.prob_best(&all, 4_000, &mut rng);
        assert!(p[best] > 0.9, "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn prob_best_sums_to_one_over_the_eligible_cells() {
        let design = Design::new(vec![2, 3]);
        let cells = vec![
            est(0.10, 1e-4),
            est(0.11, 1e-4),
            CellEstimate::NO_DATA,
            est(0.12, 2e-4),
            est(0.10, 1e-4),
            est(0.11, 1e-4),
        ];
        let model = SharedModel::fit(&design, &cells);
        let mut rng = StdRng::seed_from_u64(1);
        let eligible = [0, 2, 3, 5];
        let p = model.prob_best(&eligible, 1_000, &mut rng);
        let total: f64 = eligible.iter().map(|&c| p[c]).sum();
        assert!((total - 1.0).abs() < 1e-12, "{p:?}");
        assert_eq!(p[1] + p[4], 0.0);
        assert_eq!(model.prob_best(&[4], 10, &mut rng)[4], 1.0);
        // Floor and probability matching.
        let alloc = allocation(&p, &eligible, 0.01);
        assert!((alloc.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(eligible.iter().all(|&c| alloc[c] >= 0.01));
        for _ in 0..100 {
            assert!(eligible.contains(&pick(&alloc, &mut rng)));
        }
    }

    #[test]
    fn without_data_the_cells_are_alike() {
        let design = Design::new(vec![2, 2, 2]);
        let model = SharedModel::fit(&design, &[CellEstimate::NO_DATA; 8]);
        let mut rng = StdRng::seed_from_u64(3);
        let all: Vec<usize> = (0..8).collect();
        let p = model.prob_best(&all, 20_000, &mut rng);
        for share in p {
            assert!((share - 0.125).abs() < 0.02, "{share}");
        }
        assert_eq!(model.sample(&mut rng).len(), 8);
    }
}
