//! Peeking (Johari et al. 2017): an experiment looked at after every `step` users per arm, and
//! stopped the first time a rule declares a difference. Over many A/A runs, the share that
//! ever declares one is the rule's real false-positive rate; over A/B runs with a true lift,
//! its power. The rules are the server's own:
//!
//! - fixed: the two-proportion z-test's p-value below 0.05 (`frequentist`);
//! - sequential: the 95% confidence sequence of the lift excluding 0 once each arm has 30
//!   conversions and 30 non-conversions (`sequential`, the analysis an experiment with
//!   `"analysis": "sequential"` decides by);
//! - Bayesian: the verdict's rule, probability best ≥ 0.95 and expected loss ≤ 1% of the
//!   control's rate (`beta::prob_best_and_expected_loss`).

use crate::runs::{mean_and_se, parallel_map, run_rng};
use posterior::stats::beta::{self, BetaPosterior};
use posterior::stats::effect::{ArmMoments, RelativeEffect};
use posterior::stats::{frequentist, sequential};
use rand::RngExt;
use rand::rngs::SmallRng;

/// The share of runs in which each rule ever declared a difference (and in the right
/// direction, with a true lift), with standard errors.
#[derive(Clone, Debug)]
pub struct PeekingRow {
    pub scenario: String,
    pub runs: usize,
    pub fixed: (f64, f64),
    pub sequential: (f64, f64),
    pub bayesian: (f64, f64),
}

/// Which rules declared a difference in one run.
fn run(rate: f64, lift: f64, step: u64, max: u64, rng: &mut SmallRng) -> [bool; 3] {
    let rates = [rate, rate * (1.0 + lift)];
    let mut conversions = [0u64; 2];
    let mut declared = [false; 3];
    let mut n = 0;
    // A difference counts in the direction of the true lift (either one in an A/A).
    let right_way = |variant_better: bool| lift == 0.0 || variant_better;
    while n < max {
        n += step;
        for (arm, c) in conversions.iter_mut().enumerate() {
            *c += (0..step)
                .filter(|_| rng.random::<f64>() < rates[arm])
                .count() as u64;
        }
        let [a, b] = conversions;
        let variant_better = b > a;
        if !declared[0] && frequentist::two_proportion_p_value(n, a, n, b) < 0.05 {
            declared[0] = right_way(variant_better);
        }
        if !declared[1] {
            let effect = RelativeEffect::between(
                &ArmMoments::proportion(n, b),
                &ArmMoments::proportion(n, a),
            );
            let sequence =
                effect.and_then(|e| sequential::analyse(&e, 2 * n, 0.05, sequential::TUNING));
            // The server's data rule: both outcomes seen often enough in both arms.
            let enough = [a, b]
                .iter()
                .all(|&k| k.min(n - k) >= sequential::MIN_EVENTS_PER_ARM);
            if let Some(s) = sequence.filter(|s| enough && (s.lift.low > 0.0 || s.lift.high < 0.0))
            {
                declared[1] = right_way(s.lift.low > 0.0);
            }
        }
        if !declared[2] {
            let arms = [
                BetaPosterior::from_counts(n, a),
                BetaPosterior::from_counts(n, b),
            ];
            let (best, loss) = beta::prob_best_and_expected_loss(&arms);
            let leader = usize::from(best[1] > best[0]);
            if best[leader] >= 0.95 && loss[leader] <= 0.01 * arms[0].mean() {
                declared[2] = right_way(leader == 1);
            }
        }
        if declared.iter().all(|&d| d) {
            break;
        }
    }
    declared
}

/// `runs` experiments on a `rate` baseline with a relative `lift`, looked at after every
/// `step` users per arm up to `max`.
pub fn peeking(
    scenario: &str,
    runs: usize,
    rate: f64,
    lift: f64,
    step: u64,
    max: u64,
    seed: u64,
) -> PeekingRow {
    let setting = 5_000 + (lift * 1000.0) as u64;
    let declared = parallel_map(runs, |i| {
        let mut rng = run_rng(seed, setting, i);
        run(rate, lift, step, max, &mut rng)
    });
    let share = |rule: usize| {
        let hits: Vec<f64> = declared
            .iter()
            .map(|d| f64::from(u8::from(d[rule])))
            .collect();
        mean_and_se(&hits)
    };
    PeekingRow {
        scenario: scenario.to_string(),
        runs,
        fixed: share(0),
        sequential: share(1),
        bayesian: share(2),
    }
}

/// Markdown table for [`peeking`].
pub fn render_peeking(rows: &[PeekingRow]) -> String {
    let pct = |(m, se): (f64, f64)| format!("{:.1}% ± {:.1}", 100.0 * m, 100.0 * se);
    let mut out = String::from(
        "| scenario | runs | fixed p < 0.05 | sequential (95% confidence sequence) | Bayesian rule (P(best) ≥ 0.95, loss ≤ 1%) |\n\
         | --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.runs,
            pct(r.fixed),
            pct(r.sequential),
            pct(r.bayesian)
        ));
    }
    out
}

/// Guardrails in A/A tests: `runs` experiments with a guardrail rate of `rate` in both arms,
/// checked at every look (every `step` users per arm up to `max`) with the server's rule —
/// the 95% confidence sequence entirely beyond `threshold` on the bad side, once each arm has
/// 30 events of each outcome. Returns how many ever fired.
pub fn guardrail_aa(
    runs: usize,
    rate: f64,
    threshold: f64,
    step: u64,
    max: u64,
    seed: u64,
) -> usize {
    let fired = parallel_map(runs, |i| {
        let mut rng = run_rng(seed, 7_000, i);
        let mut counts = [0u64; 2];
        let mut n = 0;
        while n < max {
            n += step;
            for c in counts.iter_mut() {
                *c += (0..step).filter(|_| rng.random::<f64>() < rate).count() as u64;
            }
            let [a, b] = counts;
            if [a, b]
                .iter()
                .any(|&k| k.min(n - k) < sequential::MIN_EVENTS_PER_ARM)
            {
                continue;
            }
            let effect = RelativeEffect::between(
                &ArmMoments::proportion(n, b),
                &ArmMoments::proportion(n, a),
            );
            // The guardrail's bad side is an increase (an uninstall rate).
            if effect
                .and_then(|e| sequential::analyse(&e, 2 * n, 0.05, sequential::TUNING))
                .is_some_and(|s| s.lift.low > threshold)
            {
                return true;
            }
        }
        false
    });
    fired.into_iter().filter(|&f| f).count()
}
