//! Factorial effects against an independent reference (tests/reference/factorial.json, made
//! by tests/reference/make_factorial_reference.py: a saturated weighted least-squares fit in
//! sum-to-zero coding, 50-digit mpmath), and the coverage of their 95% intervals over
//! simulated experiments whose true effects are known.
//!
//! `cargo test --test stats factorial -- --nocapture` prints the errors and coverages.

use posterior::stats::beta::BetaPosterior;
use posterior::stats::factorial::{self, CellEstimate, Design, Effect};
use posterior::stats::gaussian::MeanPosterior;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, Gamma};
use serde_json::Value;

use super::support::{ErrorStats, load, num};

const REFERENCE_REL: f64 = 1e-12;

fn check(stats: &mut ErrorStats, got: f64, want: &Value, context: &str) {
    let want = num(want);
    let (_, rel) = stats.add(got, want, context);
    assert!(
        rel < REFERENCE_REL,
        "{context}: {got} vs {want} (rel {rel:e})"
    );
}

fn check_effect(stats: &mut [ErrorStats; 4], got: Option<Effect>, want: &Value, context: &str) {
    match (got, want) {
        (None, Value::Null) => {}
        (Some(e), Value::Object(_)) => {
            check(&mut stats[0], e.mean, &want["mean"], context);
            check(&mut stats[1], e.sd, &want["sd"], context);
            check(&mut stats[2], e.low, &want["low"], context);
            check(&mut stats[3], e.high, &want["high"], context);
        }
        (got, want) => panic!("{context}: got {got:?}, want {want}"),
    }
}

fn reference_cells(case: &Value) -> Vec<CellEstimate> {
    case["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            if let Some(users) = c.get("users") {
                let users = users.as_u64().unwrap();
                let conversions = c["conversions"].as_u64().unwrap();
                CellEstimate::from_beta(&BetaPosterior::from_counts(users, conversions))
            } else if c["variance"].is_null() {
                CellEstimate::NO_DATA
            } else {
                CellEstimate {
                    mean: num(&c["mean"]),
                    variance: num(&c["variance"]),
                }
            }
        })
        .collect()
}

#[test]
fn effects_match_the_saturated_model_in_mpmath() {
    let data = load("factorial.json");
    let mut stats = [
        ErrorStats::new("factorial effect mean"),
        ErrorStats::new("factorial effect sd"),
        ErrorStats::new("factorial interval low"),
        ErrorStats::new("factorial interval high"),
    ];
    for case in data.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let levels: Vec<usize> = case["levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap() as usize)
            .collect();
        let design = Design::new(levels);
        let cells = reference_cells(case);
        let level = num(&case["level"]);
        let main = factorial::main_effects(&design, &cells, level);
        let want = case["main_effects"].as_array().unwrap();
        assert_eq!(main.len(), want.len(), "{name}");
        for (m, w) in main.iter().zip(want) {
            assert_eq!(m.factor as u64, w["factor"].as_u64().unwrap(), "{name}");
            assert_eq!(m.level as u64, w["level"].as_u64().unwrap(), "{name}");
            let context = format!("{name}: main effect {}:{}", m.factor, m.level);
            check_effect(&mut stats, m.effect, &w["effect"], &context);
        }
        let inter = factorial::interactions(&design, &cells, level);
        let want = case["interactions"].as_array().unwrap();
        assert_eq!(inter.len(), want.len(), "{name}");
        for (i, w) in inter.iter().zip(want) {
            let factors = (i.factors.0 as u64, i.factors.1 as u64);
            let levels = (i.levels.0 as u64, i.levels.1 as u64);
            let wf = &w["factors"];
            let wl = &w["levels"];
            assert_eq!(
                (factors, levels),
                (
                    (wf[0].as_u64().unwrap(), wf[1].as_u64().unwrap()),
                    (wl[0].as_u64().unwrap(), wl[1].as_u64().unwrap())
                ),
                "{name}"
            );
            let context = format!("{name}: interaction {factors:?} at {levels:?}");
            check_effect(&mut stats, i.effect, &w["effect"], &context);
        }
    }
    for s in &stats {
        s.report();
    }
}

/// True rates of a 2×2×2 experiment (content, timing, trigger), indexed [content][timing]
/// [trigger]: base 10%, content +2 points, timing +1, trigger 0, and content × timing +2.
fn true_rates() -> [[[f64; 2]; 2]; 2] {
    let mut r = [[[0.0; 2]; 2]; 2];
    for (a, plane) in r.iter_mut().enumerate() {
        for (b, row) in plane.iter_mut().enumerate() {
            for (c, rate) in row.iter_mut().enumerate() {
                let (a, b, c) = (a as f64, b as f64, c as f64);
                *rate = 0.10 + 0.02 * a + 0.01 * b + 0.0 * c + 0.02 * a * b;
            }
        }
    }
    r
}

/// True main effects (content, timing, trigger) and interactions (content×timing,
/// content×trigger, timing×trigger) of a 2×2×2 table by the definition: differences of
/// the averages over the other two factors, and differences of differences averaged over
/// the third factor. Independent of the code under test.
fn true_effects(m: &[[[f64; 2]; 2]; 2]) -> ([f64; 3], [f64; 3]) {
    let at = |f: usize, level: usize, i: usize, j: usize| -> f64 {
        // The cell with factor f at `level` and the other two at (i, j) in factor order.
        match f {
            0 => m[level][i][j],
            1 => m[i][level][j],
            _ => m[i][j][level],
        }
    };
    let mut main = [0.0; 3];
    for (f, out) in main.iter_mut().enumerate() {
        let mut sum = 0.0;
        for i in 0..2 {
            for j in 0..2 {
                sum += at(f, 1, i, j) - at(f, 0, i, j);
            }
        }
        *out = sum / 4.0;
    }
    let pair = |f: usize, g: usize, a: usize, b: usize, k: usize| -> f64 {
        let mut l = [k; 3];
        l[f] = a;
        l[g] = b;
        m[l[0]][l[1]][l[2]]
    };
    let mut inter = [0.0; 3];
    for (out, (f, g)) in inter.iter_mut().zip([(0, 1), (0, 2), (1, 2)]) {
        let mut sum = 0.0;
        for k in 0..2 {
            sum += pair(f, g, 1, 1, k) - pair(f, g, 1, 0, k) - pair(f, g, 0, 1, k)
                + pair(f, g, 0, 0, k);
        }
        *out = sum / 2.0;
    }
    (main, inter)
}

/// The table in the code's cell order: content slowest, trigger fastest.
fn flatten(m: &[[[f64; 2]; 2]; 2]) -> Vec<f64> {
    m.iter().flatten().flatten().copied().collect()
}

/// Runs `experiments` simulated experiments, `estimate` making one cell's estimate from its
/// true mean; returns the coverage of the main effects' and interactions' 95% intervals.
fn coverage(
    experiments: usize,
    truth: &[[[f64; 2]; 2]; 2],
    mut estimate: impl FnMut(f64, &mut StdRng) -> CellEstimate,
    seed: u64,
) -> (f64, f64) {
    let design = Design::new(vec![2, 2, 2]);
    let (main_truth, inter_truth) = true_effects(truth);
    let means = flatten(truth);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut main_hits, mut inter_hits, mut main_n, mut inter_n) = (0, 0, 0, 0);
    let covers = |e: Option<Effect>, truth: f64| {
        let e = e.expect("every cell has data");
        e.low <= truth && truth <= e.high
    };
    for _ in 0..experiments {
        let cells: Vec<CellEstimate> = means.iter().map(|&m| estimate(m, &mut rng)).collect();
        for m in factorial::main_effects(&design, &cells, 0.95) {
            main_n += 1;
            main_hits += usize::from(covers(m.effect, main_truth[m.factor]));
        }
        for (i, truth) in factorial::interactions(&design, &cells, 0.95)
            .into_iter()
            .zip(inter_truth)
        {
            inter_n += 1;
            inter_hits += usize::from(covers(i.effect, truth));
        }
    }
    (
        main_hits as f64 / main_n as f64,
        inter_hits as f64 / inter_n as f64,
    )
}

const EXPERIMENTS: usize = 500;
const USERS_PER_CELL: u64 = 2_000;

#[test]
fn conversion_intervals_cover_the_true_effects() {
    let truth = true_rates();
    let (main, inter) = true_effects(&truth);
    // The definition on this table, worked by hand: content (2 + 4)/2 points, timing
    // (1 + 3)/2, trigger 0; content × timing 2 points, the others 0.
    let expected_main = [0.03, 0.02, 0.0];
    let expected_inter = [0.02, 0.0, 0.0];
    for (got, want) in main
        .iter()
        .zip(expected_main)
        .chain(inter.iter().zip(expected_inter))
    {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
    let (main_cov, inter_cov) = coverage(
        EXPERIMENTS,
        &truth,
        |rate, rng| {
            let conversions = Binomial::new(USERS_PER_CELL, rate).unwrap().sample(rng);
            CellEstimate::from_beta(&BetaPosterior::from_counts(USERS_PER_CELL, conversions))
        },
        20110101,
    );
    eprintln!(
        "COVERAGE | conversion 2×2×2, {EXPERIMENTS} experiments × {USERS_PER_CELL} users per cell | main effects {main_cov:.4} | interactions {inter_cov:.4} |"
    );
    assert!((0.93..=0.97).contains(&main_cov), "main effects {main_cov}");
    assert!(
        (0.93..=0.97).contains(&inter_cov),
        "interactions {inter_cov}"
    );
}

#[test]
fn value_intervals_cover_the_true_effects() {
    // Revenue-like values: a quarter of users buy, for a Gamma(2) amount; the cell's mean
    // value per user is 20 + 1·content + 0.5·timing − 0.3·trigger + 0.8·content × trigger.
    let mut truth = [[[0.0; 2]; 2]; 2];
    for (a, plane) in truth.iter_mut().enumerate() {
        for (b, row) in plane.iter_mut().enumerate() {
            for (c, mean) in row.iter_mut().enumerate() {
                let (a, b, c) = (a as f64, b as f64, c as f64);
                *mean = 20.0 + a + 0.5 * b - 0.3 * c + 0.8 * a * c;
            }
        }
    }
    let buy = 0.25;
    let (main_cov, inter_cov) = coverage(
        EXPERIMENTS,
        &truth,
        |mean, rng| {
            let amount = Gamma::new(2.0, mean / buy / 2.0).unwrap();
            let mut p = MeanPosterior::from_sums(0, 0.0, 0.0);
            for _ in 0..USERS_PER_CELL {
                let value = if rng.random::<f64>() < buy {
                    amount.sample(rng)
                } else {
                    0.0
                };
                p.update(value);
            }
            CellEstimate::from_mean(&p).unwrap()
        },
        20110102,
    );
    eprintln!(
        "COVERAGE | value per user 2×2×2, {EXPERIMENTS} experiments × {USERS_PER_CELL} users per cell | main effects {main_cov:.4} | interactions {inter_cov:.4} |"
    );
    assert!((0.93..=0.97).contains(&main_cov), "main effects {main_cov}");
    assert!(
        (0.93..=0.97).contains(&inter_cov),
        "interactions {inter_cov}"
    );
}
