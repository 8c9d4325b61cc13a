//! The metric statistics against independent references (tests/reference/metrics.json, made
//! by tests/reference/make_metrics_reference.py): ratio, mean and proportion lifts, chances
//! to beat control and p-values against gbstats 0.8 (GrowthBook's engine) fed the same
//! sufficient statistics, to 1e-9 relative (the bar of issue 12); adjusted p-values against
//! statsmodels' `multipletests` to 1e-12; the exact chance of harm of two Betas against
//! 50-digit mpmath. No expected value here comes from this crate's own output.
//!
//! `cargo test --test stats metrics_reference -- --nocapture` prints the largest errors.

use posterior::stats::INTERVAL_LEVEL;
use posterior::stats::beta::BetaPosterior;
use posterior::stats::cuped::{self, CupedSums};
use posterior::stats::direction;
use posterior::stats::effect::{ArmMoments, RelativeEffect};
use posterior::stats::gaussian::{self, MeanPosterior};
use posterior::stats::multiple;
use posterior::stats::ratio::{self, RatioStats};
use posterior::stats::sequential;
use posterior::stats::special;
use serde_json::Value;

use super::support::{ErrorStats, load, num, nums};

/// The bar of issue 12 for everything compared with gbstats.
const GBSTATS_REL: f64 = 1e-9;
/// gbstats forms its p-value as 2·(1 − t.cdf), which cannot go below ~2.2e-16 or resolve
/// differences smaller than that: its p-value is matched to this absolute floor, and the
/// same statistic through scipy's t.sf (`p_value_sf`) to 1e-9 relative.
const GBSTATS_P_FLOOR: f64 = 4.5e-16;

fn cases<'a>(data: &'a Value, key: &str) -> &'a Vec<Value> {
    data[key].as_array().unwrap_or_else(|| panic!("{key}"))
}

fn ratio_stats(v: &Value) -> RatioStats {
    RatioStats {
        n: num(&v["n"]) as u64,
        sum_x: num(&v["sum_x"]),
        sum_x_sq: num(&v["sum_x_sq"]),
        sum_y: num(&v["sum_y"]),
        sum_y_sq: num(&v["sum_y_sq"]),
        sum_xy: num(&v["sum_xy"]),
    }
}

fn mean_posterior(v: &Value) -> MeanPosterior {
    MeanPosterior::from_sums(num(&v["n"]) as u64, num(&v["sum"]), num(&v["sum_sq"]))
}

/// One error tracker per quantity compared with gbstats.
struct EffectErrors {
    lift: ErrorStats,
    sd: ErrorStats,
    credible: ErrorStats,
    confidence: ErrorStats,
    chance: ErrorStats,
    p_value: ErrorStats,
    df: ErrorStats,
    sequential: ErrorStats,
    sequential_p: ErrorStats,
}

impl EffectErrors {
    fn new(family: &'static str) -> Self {
        let name = |what: &str| -> &'static str {
            Box::leak(format!("{family}: {what}").into_boxed_str())
        };
        EffectErrors {
            lift: ErrorStats::new(name("lift mean")),
            sd: ErrorStats::new(name("lift sd")),
            credible: ErrorStats::new(name("credible interval ends")),
            confidence: ErrorStats::new(name("t confidence interval ends")),
            chance: ErrorStats::new(name("chance to beat control")),
            p_value: ErrorStats::new(name("p-value (t.sf)")),
            df: ErrorStats::new(name("Welch dof")),
            sequential: ErrorStats::new(name("confidence sequence ends")),
            sequential_p: ErrorStats::new(name("always-valid p-value")),
        }
    }

    /// Compares an effect and its chance to beat control with one gbstats case.
    fn check(&mut self, effect: &RelativeEffect, chance: f64, case: &Value) {
        let name = case["name"].as_str().unwrap_or("?");
        let expect = |stats: &mut ErrorStats, got: f64, key: &str| {
            let (_, rel) = stats.add(got, num(&case[key]), name);
            assert!(
                rel < GBSTATS_REL,
                "{name}: {key}: got {got}, gbstats {}, rel {rel:e}",
                case[key]
            );
        };
        expect(&mut self.lift, effect.mean, "lift");
        expect(&mut self.sd, effect.sd, "lift_sd");
        let credible = effect.interval(INTERVAL_LEVEL);
        expect(&mut self.credible, credible.low, "credible_low");
        expect(&mut self.credible, credible.high, "credible_high");
        let confidence = effect.confidence_interval(INTERVAL_LEVEL);
        expect(&mut self.confidence, confidence.low, "confidence_low");
        expect(&mut self.confidence, confidence.high, "confidence_high");
        expect(&mut self.chance, chance, "chance_to_win");
        expect(&mut self.df, effect.df, "dof");
        let p = effect.p_value();
        expect(&mut self.p_value, p, "p_value_sf");
        let users = case["sequential_users"].as_u64().expect("sequential_users");
        let seq = sequential::analyse(effect, users, 0.05, sequential::TUNING).expect("sequential");
        expect(&mut self.sequential, seq.lift.low, "sequential_low");
        expect(&mut self.sequential, seq.lift.high, "sequential_high");
        expect(&mut self.sequential_p, seq.p_value, "sequential_p_value");
        let gbstats_p = num(&case["p_value"]);
        assert!(
            (p - gbstats_p).abs() <= GBSTATS_REL * gbstats_p + GBSTATS_P_FLOOR,
            "{name}: p-value {p} against gbstats' {gbstats_p}"
        );
    }

    fn report(&self) {
        for stats in [
            &self.lift,
            &self.sd,
            &self.credible,
            &self.confidence,
            &self.chance,
            &self.p_value,
            &self.df,
            &self.sequential,
            &self.sequential_p,
        ] {
            stats.report();
        }
    }
}

#[test]
fn ratio_metrics_match_gbstats() {
    let data = load("metrics.json");
    let mut errors = EffectErrors::new("ratio");
    let mut arm = ErrorStats::new("ratio: R and per-user variance of an arm");
    let list = cases(&data, "ratio");
    assert!(list.len() >= 12);
    for case in list {
        let name = case["name"].as_str().unwrap();
        let (control, variant) = (ratio_stats(&case["control"]), ratio_stats(&case["variant"]));
        for (stats, key) in [(&control, "control"), (&variant, "variant")] {
            let (_, rel) = arm.add(stats.ratio(), num(&case[format!("{key}_ratio")]), name);
            assert!(rel < GBSTATS_REL, "{name}: {key} ratio");
            let want = num(&case[format!("{key}_per_user_variance")]);
            let (_, rel) = arm.add(stats.per_user_variance().unwrap(), want, name);
            assert!(rel < GBSTATS_REL, "{name}: {key} per-user variance");
            // the variance of R is the per-user one over n
            let (_, rel) = arm.add(stats.variance() * stats.n as f64, want, name);
            assert!(rel < GBSTATS_REL, "{name}: {key} variance of R");
        }
        let decrease_is_good = case["decrease_is_good"].as_bool().unwrap();
        let effect = ratio::lift(&variant, &control).expect("a lift");
        let chance = direction::chance_to_beat_ratio(&variant, &control, decrease_is_good);
        errors.check(&effect, chance, case);
        assert_eq!(ratio::p_value(&variant, &control), effect.p_value());
        if !decrease_is_good {
            assert_eq!(ratio::chance_to_beat(&variant, &control), chance);
        }
    }
    errors.report();
    arm.report();
}

#[test]
fn mean_metrics_match_gbstats() {
    let data = load("metrics.json");
    let mut errors = EffectErrors::new("mean");
    let mut legacy = ErrorStats::new("mean: gaussian::lift and chance_to_beat");
    for case in cases(&data, "mean") {
        let name = case["name"].as_str().unwrap();
        let (control, variant) = (
            mean_posterior(&case["control"]),
            mean_posterior(&case["variant"]),
        );
        let decrease_is_good = case["decrease_is_good"].as_bool().unwrap();
        let effect = gaussian::effect(&variant, &control).expect("an effect");
        let chance = direction::chance_to_beat_mean(&variant, &control, decrease_is_good);
        errors.check(&effect, chance, case);
        // the existing lift and chance to beat agree with gbstats as well
        let lift = gaussian::lift(&variant, &control, INTERVAL_LEVEL).unwrap();
        for (got, key) in [
            (lift.mean, "lift"),
            (lift.low, "credible_low"),
            (lift.high, "credible_high"),
        ] {
            let (_, rel) = legacy.add(got, num(&case[key]), name);
            assert!(rel < GBSTATS_REL, "{name}: gaussian::lift {key}");
        }
        if !decrease_is_good {
            let (_, rel) = legacy.add(
                gaussian::chance_to_beat(&variant, &control),
                num(&case["chance_to_win"]),
                name,
            );
            assert!(rel < GBSTATS_REL, "{name}: gaussian::chance_to_beat");
        }
    }
    errors.report();
    legacy.report();
}

#[test]
fn cuped_adjusted_effects_match_gbstats() {
    let data = load("metrics.json");
    let mut errors = EffectErrors::new("CUPED");
    let mut theta_errors = ErrorStats::new("CUPED: theta pooled over the arms");
    let sums = |v: &Value| CupedSums {
        n: v["n"].as_u64().unwrap(),
        y: num(&v["y"]),
        y_sq: num(&v["y_sq"]),
        x: num(&v["x"]),
        x_sq: num(&v["x_sq"]),
        xy: num(&v["xy"]),
    };
    let cases = cases(&data, "cuped");
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let kind = match case["kind"].as_str().unwrap() {
            "proportion" => cuped::Kind::Proportion,
            _ => cuped::Kind::Mean,
        };
        let (control, variant) = (sums(&case["control"]), sums(&case["variant"]));
        let theta = cuped::theta(kind, &[control, variant]);
        let (_, rel) = theta_errors.add(theta, num(&case["theta"]), name);
        assert!(
            rel < GBSTATS_REL,
            "{name}: theta {theta} against {}",
            case["theta"]
        );
        assert!(theta != 0.0, "{name}: the case must adjust");
        let effect = cuped::effect(kind, &variant, &control, theta).expect("an effect");
        let decrease_is_good = case["decrease_is_good"].as_bool().unwrap();
        errors.check(&effect, effect.chance_to_beat(decrease_is_good), case);
    }
    errors.report();
    theta_errors.report();
}

#[test]
fn proportion_effects_match_gbstats() {
    let data = load("metrics.json");
    let mut errors = EffectErrors::new("proportion");
    for case in cases(&data, "proportion") {
        let moments = |key: &str| {
            let c = nums(&case[key]);
            ArmMoments::proportion(c[0] as u64, c[1] as u64)
        };
        let effect =
            RelativeEffect::between(&moments("variant"), &moments("control")).expect("an effect");
        let chance = effect.chance_to_beat(case["decrease_is_good"].as_bool().unwrap());
        errors.check(&effect, chance, case);
    }
    errors.report();
}

#[test]
fn adjusted_p_values_match_statsmodels() {
    let data = load("metrics.json");
    let mut bh = ErrorStats::new("multiple::benjamini_hochberg");
    let mut holm = ErrorStats::new("multiple::holm");
    for case in cases(&data, "multiple") {
        let p = nums(&case["p"]);
        for (stats, got, key) in [
            (&mut bh, multiple::benjamini_hochberg(&p), "fdr_bh"),
            (&mut holm, multiple::holm(&p), "holm"),
        ] {
            let want = nums(&case[key]);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                let (_, rel) = stats.add(*g, *w, key);
                assert!(
                    rel < 1e-12,
                    "{key} of {p:?}: got {got:?}, statsmodels {want:?}"
                );
            }
        }
    }
    bh.report();
    holm.report();
}

#[test]
fn chance_of_harm_beta_matches_mpmath() {
    let data = load("metrics.json");
    let mut harm = ErrorStats::new("direction::chance_of_harm_beta");
    for case in cases(&data, "harm_beta") {
        let arm = |key: &str| {
            let c = nums(&case[key]);
            BetaPosterior::from_counts(c[0] as u64, c[1] as u64)
        };
        let got = direction::chance_of_harm_beta(
            &arm("variant"),
            &arm("control"),
            num(&case["threshold"]),
            case["decrease_is_good"].as_bool().unwrap(),
        );
        let (_, rel) = harm.add(got, num(&case["chance_of_harm"]), "harm");
        assert!(rel < 1e-12, "{case}: got {got}, rel {rel:e}");
    }
    harm.report();
}

#[test]
fn student_t_matches_mpmath_at_the_degrees_of_freedom_tests_reach() {
    let data = load("metrics.json");
    let mut quantile = ErrorStats::new("special::student_t_quantile");
    for case in data["student_t"]["quantile"].as_array().unwrap() {
        let (p, df) = (num(&case["p"]), num(&case["df"]));
        let got = special::student_t_quantile(p, df);
        let (_, rel) = quantile.add(got, num(&case["value"]), "quantile");
        assert!(
            rel < 1e-12,
            "t quantile p={p} df={df}: got {got}, rel {rel:e}"
        );
    }
    quantile.report();
    let mut sf = ErrorStats::new("special::student_t_sf at large df");
    for case in data["student_t"]["sf"].as_array().unwrap() {
        let (t, df) = (num(&case["t"]), num(&case["df"]));
        let got = special::student_t_sf(t, df);
        let (_, rel) = sf.add(got, num(&case["sf"]), "sf");
        assert!(rel < 1e-13, "t sf t={t} df={df}: got {got}, rel {rel:e}");
    }
    sf.report();
}
