//! CUPED on simulated experiments: each user has a pre-assignment value x and a post value y
//! whose correlation is ρ; the variant multiplies the mean of y by 1 + lift. Each run's
//! relative lift is estimated twice with the server's functions, unadjusted
//! (`RelativeEffect::between`) and adjusted (`stats::cuped`, θ pooled over the arms), with
//! 95% intervals: over many runs, the mean estimate shows the bias (none expected), the mean
//! width the gain (1 − √(1 − ρ²) expected), and the coverage whether the intervals hold.

use crate::runs::{mean_and_se, parallel_map, run_rng};
use posterior::stats::INTERVAL_LEVEL;
use posterior::stats::cuped::{self, CupedSums};
use posterior::stats::effect::{ArmMoments, RelativeEffect};
use rand::RngExt;
use rand_distr::StandardNormal;

#[derive(Clone, Debug)]
pub struct CupedRow {
    pub scenario: String,
    pub runs: usize,
    pub rho: f64,
    pub lift: f64,
    /// Mean estimate (± s.e.), unadjusted and adjusted.
    pub estimate: [(f64, f64); 2],
    /// Mean interval width, unadjusted and adjusted.
    pub width: [f64; 2],
    /// Share of intervals that contain the true lift.
    pub coverage: [f64; 2],
}

/// `runs` experiments of `users` per arm; a share `with_history` of users has a
/// pre-assignment value (the others have x = 0, as users new to the app do).
pub fn cuped(
    scenario: &str,
    runs: usize,
    users: u64,
    rho: f64,
    lift: f64,
    with_history: f64,
    seed: u64,
) -> CupedRow {
    const MEAN: f64 = 10.0;
    const SD: f64 = 3.0;
    let outcomes = parallel_map(runs, |run| {
        let mut rng = run_rng(seed, 0xC0FED, run);
        let mut arms = [CupedSums::default(); 2];
        for (arm, sums) in arms.iter_mut().enumerate() {
            let mean = MEAN * if arm == 1 { 1.0 + lift } else { 1.0 };
            for _ in 0..users {
                let z_pre: f64 = rng.sample(StandardNormal);
                let z_post: f64 = rng.sample(StandardNormal);
                let y = mean + SD * (rho * z_pre + (1.0 - rho * rho).sqrt() * z_post);
                let x = if rng.random::<f64>() < with_history {
                    MEAN + SD * z_pre
                } else {
                    0.0
                };
                sums.n += 1;
                sums.y += y;
                sums.y_sq += y * y;
                sums.x += x;
                sums.x_sq += x * x;
                sums.xy += x * y;
            }
        }
        let moments = |s: &CupedSums| ArmMoments {
            n: s.n,
            mean: s.y / s.n as f64,
            variance: s.variance_y(cuped::Kind::Mean),
        };
        let plain =
            RelativeEffect::between(&moments(&arms[1]), &moments(&arms[0])).expect("an effect");
        let theta = cuped::theta(cuped::Kind::Mean, &arms);
        let adjusted = cuped::effect(cuped::Kind::Mean, &arms[1], &arms[0], theta)
            .expect("an adjusted effect");
        [plain, adjusted].map(|e| {
            let i = e.interval(INTERVAL_LEVEL);
            (e.mean, i.high - i.low, i.low <= lift && lift <= i.high)
        })
    });
    let column = |k: usize| -> ((f64, f64), f64, f64) {
        let estimates: Vec<f64> = outcomes.iter().map(|o| o[k].0).collect();
        let widths: Vec<f64> = outcomes.iter().map(|o| o[k].1).collect();
        let covered = outcomes.iter().filter(|o| o[k].2).count();
        (
            mean_and_se(&estimates),
            mean_and_se(&widths).0,
            covered as f64 / runs as f64,
        )
    };
    let (plain, adjusted) = (column(0), column(1));
    CupedRow {
        scenario: scenario.to_string(),
        runs,
        rho,
        lift,
        estimate: [plain.0, adjusted.0],
        width: [plain.1, adjusted.1],
        coverage: [plain.2, adjusted.2],
    }
}

pub fn render_cuped(rows: &[CupedRow]) -> String {
    let mut out = String::from(
        "| scenario | runs | true lift | estimate, unadjusted | estimate, CUPED | interval width, unadjusted | CUPED | narrower by | 1 − √(1 − ρ²) | coverage, unadjusted | CUPED |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let pct = |x: f64| format!("{:.2}%", 100.0 * x);
        let est = |(m, se): (f64, f64)| format!("{:+.3}% ± {:.3}", 100.0 * m, 100.0 * se);
        out.push_str(&format!(
            "| {} | {} | {:+.1}% | {} | {} | {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% |\n",
            r.scenario,
            r.runs,
            100.0 * r.lift,
            est(r.estimate[0]),
            est(r.estimate[1]),
            pct(r.width[0]),
            pct(r.width[1]),
            100.0 * (1.0 - r.width[1] / r.width[0]),
            100.0 * (1.0 - (1.0 - r.rho * r.rho).sqrt()),
            100.0 * r.coverage[0],
            100.0 * r.coverage[1],
        ));
    }
    out
}
