//! Checks the statistics module against 50-digit mpmath references (tests/reference/*.json,
//! made by tests/reference/make_reference.py) and published numbers. No expected value
//! here comes from this crate's own output.
//!
//! `cargo test --test stats reference -- --nocapture` prints the maximum error per function.

use posterior::stats::beta::{self, BetaPosterior};
use posterior::stats::{frequentist, special, srm};
use serde_json::Value;

use super::support::{ErrorStats, load, num, nums};

fn beta_from_counts(v: &Value) -> BetaPosterior {
    let c = nums(v);
    BetaPosterior::from_counts(c[0] as u64, c[1] as u64)
}

fn beta_from_params(v: &Value) -> BetaPosterior {
    let c = nums(v);
    BetaPosterior::new(c[0], c[1])
}

#[test]
fn incomplete_beta_matches_mpmath() {
    let data = load("beta_special.json");
    let mut lower = ErrorStats::new("special::beta_reg I_x(a,b)");
    let mut upper = ErrorStats::new("special::beta_reg_complement 1-I_x(a,b)");
    for case in data["beta_reg"].as_array().unwrap() {
        let (a, b, x) = (num(&case["a"]), num(&case["b"]), num(&case["x"]));
        let ctx = format!("a={a} b={b} x={x}");
        let want = num(&case["value"]);
        let want_c = num(&case["complement"]);
        let (abs, rel) = lower.add(special::beta_reg(a, b, x), want, &ctx);
        assert!(
            abs < 5e-15 || rel < 1e-11,
            "I_x: {ctx}: abs {abs:e} rel {rel:e}"
        );
        let (abs, rel) = upper.add(special::beta_reg_complement(a, b, x), want_c, &ctx);
        assert!(
            abs < 5e-15 || rel < 1e-11,
            "1-I_x: {ctx}: abs {abs:e} rel {rel:e}"
        );
    }
    lower.report();
    upper.report();
}

#[test]
fn incomplete_beta_meets_statistics_md_points() {
    // The four points of statistics.md where the crates lose accuracy; 1e-13 or better here.
    let data = load("beta_special.json");
    let wanted = [
        (11.0, 91.0, 0.1),
        (1001.0, 9001.0, 0.1),
        (20001.0, 180001.0, 0.1),
        (500000.0, 500000.0, 0.5001),
    ];
    for case in data["beta_reg"].as_array().unwrap() {
        let (a, b, x) = (num(&case["a"]), num(&case["b"]), num(&case["x"]));
        if wanted.contains(&(a, b, x)) {
            let err = (special::beta_reg(a, b, x) - num(&case["value"])).abs();
            assert!(err < 1e-13, "a={a} b={b} x={x}: {err:e}");
        }
    }
}

#[test]
fn beta_density_and_quantile_match_mpmath() {
    let data = load("beta_special.json");
    let mut pdf = ErrorStats::new("special::beta_pdf");
    for case in data["beta_pdf"].as_array().unwrap() {
        let (a, b, x) = (num(&case["a"]), num(&case["b"]), num(&case["x"]));
        let (_, rel) = pdf.add(special::beta_pdf(x, a, b), num(&case["value"]), "pdf");
        assert!(rel < 1e-11, "pdf a={a} b={b} x={x}: rel {rel:e}");
    }
    pdf.report();
    let mut quantile = ErrorStats::new("special::beta_quantile");
    for case in data["beta_quantile"].as_array().unwrap() {
        let (p, a, b) = (num(&case["p"]), num(&case["a"]), num(&case["b"]));
        let (_, rel) = quantile.add(
            special::beta_quantile(p, a, b),
            num(&case["value"]),
            "quantile",
        );
        assert!(rel < 1e-12, "quantile p={p} a={a} b={b}: rel {rel:e}");
    }
    quantile.report();
}

#[test]
fn prob_greater_matches_exact_sums() {
    let data = load("prob_greater.json");
    for (group, tolerance) in [("small", 1e-12), ("large", 1e-9)] {
        let mut stats = ErrorStats::new(if group == "small" {
            "beta::prob_greater, counts <= 1e3"
        } else {
            "beta::prob_greater, counts <= 1e5"
        });
        for case in data[group].as_array().unwrap() {
            let (x, y) = (beta_from_counts(&case["x"]), beta_from_counts(&case["y"]));
            let want = num(&case["p"]);
            let ctx = format!("{:?} vs {:?}", case["x"], case["y"]);
            let (abs, _) = stats.add(beta::prob_greater(&x, &y), want, &ctx);
            assert!(abs <= tolerance, "{ctx}: {abs:e}");
            let (abs, _) = stats.add(beta::prob_greater(&y, &x), 1.0 - want, &ctx);
            assert!(abs <= tolerance, "reversed {ctx}: {abs:e}");
        }
        stats.report();
    }
}

#[test]
#[allow(clippy::excessive_precision)] // the published digits
fn prob_greater_reproduces_published_numbers() {
    // statistics.md: A = Beta(11, 91), B = Beta(16, 86): P(B > A) = 0.85328378993396613...;
    // A = Beta(1001, 9001), B = Beta(1101, 8901): 0.98945735443171401...
    let cases = [
        ((16.0, 86.0), (11.0, 91.0), 0.853_283_789_933_966_13),
        ((1101.0, 8901.0), (1001.0, 9001.0), 0.989_457_354_431_714_01),
    ];
    for ((ba, bb), (aa, ab), want) in cases {
        let p = beta::prob_greater(&BetaPosterior::new(ba, bb), &BetaPosterior::new(aa, ab));
        assert!((p - want).abs() < 1e-14, "{p} vs {want}");
    }
    let data = load("prob_greater.json");
    for case in data["published_beta"].as_array().unwrap() {
        let p = beta::prob_greater(&beta_from_params(&case["x"]), &beta_from_params(&case["y"]));
        assert!((p - num(&case["p"])).abs() < 1e-14);
    }
}

#[test]
fn prob_greater_stays_consistent_at_ten_million() {
    let cases = [
        ((10_000_000u64, 1_000_000u64), (10_000_000u64, 1_000_500u64)),
        ((10_000_000, 10), (10_000_000, 12)),
        ((10_000_000, 5_000_000), (9_000_000, 4_500_300)),
        ((10_000_000, 9_999_990), (10_000_000, 9_999_980)),
        ((10_000_000, 0), (20, 0)),
        ((10_000_000, 123_456), (9_876_543, 120_000)),
    ];
    for ((n1, c1), (n2, c2)) in cases {
        let x = BetaPosterior::from_counts(n1, c1);
        let y = BetaPosterior::from_counts(n2, c2);
        let p = beta::prob_greater(&x, &y);
        let q = beta::prob_greater(&y, &x);
        assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{p}");
        assert!(q.is_finite() && (0.0..=1.0).contains(&q), "{q}");
        assert!(
            (p + q - 1.0).abs() < 1e-9,
            "{n1},{c1} vs {n2},{c2}: {p} + {q}"
        );
    }
}

#[test]
fn prob_best_and_expected_loss_match_quadrature_references() {
    let data = load("multi_arm.json");
    let mut best = ErrorStats::new("beta::prob_best (2-5 arms)");
    let mut loss = ErrorStats::new("beta::expected_loss (2-5 arms)");
    for set in data["sets"].as_array().unwrap() {
        let arms: Vec<BetaPosterior> = set["arms"]
            .as_array()
            .unwrap()
            .iter()
            .map(beta_from_params)
            .collect();
        let pb = beta::prob_best(&arms);
        let total: f64 = pb.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "sum {total}");
        for (got, want) in pb.iter().zip(nums(&set["prob_best"])) {
            let (abs, _) = best.add(*got, want, "prob_best");
            assert!(abs < 1e-12, "prob_best {arms:?}: {abs:e}");
        }
        let el = beta::expected_loss(&arms);
        for (got, want) in el.iter().zip(nums(&set["expected_loss"])) {
            let (abs, _) = loss.add(*got, want, "expected_loss");
            assert!(abs < 1e-10, "expected_loss {arms:?}: {abs:e}");
        }
        // The results API computes both in one quadrature: same references, same bounds.
        let (pb2, el2) = beta::prob_best_and_expected_loss(&arms);
        for (got, want) in pb2.iter().zip(nums(&set["prob_best"])) {
            assert!((got - want).abs() < 1e-12, "combined prob_best {arms:?}");
        }
        for (got, want) in el2.iter().zip(nums(&set["expected_loss"])) {
            assert!(
                (got - want).abs() < 1e-10,
                "combined expected_loss {arms:?}"
            );
        }
    }
    best.report();
    loss.report();
}

#[test]
fn expected_loss_reproduces_stucchio() {
    // Stucchio, "Bayesian A/B testing at VWO": X = Beta(53, 449), Y = Beta(41, 461):
    // E[max(X − Y, 0)] = 0.024729038514555...
    let x = BetaPosterior::new(53.0, 449.0);
    let y = BetaPosterior::new(41.0, 461.0);
    let el = beta::expected_loss(&[x, y]);
    assert!((el[1] - 0.024_729_038_514_555).abs() < 1e-14, "{}", el[1]);
    let data = load("multi_arm.json");
    assert!((el[1] - num(&data["stucchio"]["value"])).abs() < 1e-12);
}

#[test]
fn lift_interval_matches_ratio_quantiles() {
    let data = load("lift.json");
    let mut stats = ErrorStats::new("beta::lift (2.5%/97.5% ratio quantiles)");
    for case in data.as_array().unwrap() {
        let v = beta_from_params(&case["variant"]);
        let c = beta_from_params(&case["control"]);
        let lift = beta::lift(&v, &c, num(&case["level"]));
        let (_, rel) = stats.add(lift.mean, num(&case["mean"]), "mean");
        assert!(rel < 1e-14);
        for (got, key) in [(lift.low, "low"), (lift.high, "high")] {
            let want = num(&case[key]);
            let (abs, rel) = stats.add(got, want, key);
            assert!(
                abs < 1e-10 || rel < 1e-10,
                "{key} {v:?} {c:?}: got {got} want {want}"
            );
        }
    }
    stats.report();
}

#[test]
fn normal_functions_match_mpmath() {
    let data = load("normal.json");
    let mut cdf = ErrorStats::new("special::norm_cdf / norm_sf (relative)");
    for case in data["cdf"].as_array().unwrap() {
        let x = num(&case["x"]);
        let (_, rel) = cdf.add(special::norm_cdf(x), num(&case["cdf"]), "cdf");
        assert!(rel < 1e-14, "cdf({x}): rel {rel:e}");
        let (_, rel) = cdf.add(special::norm_sf(x), num(&case["sf"]), "sf");
        assert!(rel < 1e-14, "sf({x}): rel {rel:e}");
    }
    cdf.report();
    let mut q = ErrorStats::new("special::norm_quantile (relative)");
    for case in data["quantile"].as_array().unwrap() {
        let p = num(&case["p"]);
        let want = num(&case["value"]);
        let got = special::norm_quantile(p);
        let (abs, rel) = q.add(got, want, "quantile");
        // near p = 1 the input 1 − p itself carries a relative error ~1e-16/(1−p)
        let limit = if p > 0.5 { 1e-15 / (1.0 - p) } else { 1e-14 };
        assert!(rel < limit || abs < 1e-15, "quantile({p}): rel {rel:e}");
    }
    q.report();
}

#[test]
fn welch_and_t_distribution_match_mpmath() {
    let data = load("tests.json");
    let mut t_sf = ErrorStats::new("special::student_t_sf (relative)");
    for case in data["welch"]["t_sf"].as_array().unwrap() {
        let (t, df) = (num(&case["t"]), num(&case["df"]));
        let (_, rel) = t_sf.add(special::student_t_sf(t, df), num(&case["sf"]), "t_sf");
        // df ≥ 1e4 with t ≥ 4 (a = df/2 large, b = ½, x near 1) is the continued fraction's
        // ill-conditioned corner: ~1e-11 relative there, ~1e-15 elsewhere.
        assert!(rel < 1e-10, "t_sf({t}, {df}): rel {rel:e}");
    }
    t_sf.report();
    let mut welch = ErrorStats::new("frequentist::welch_p_value (relative)");
    for case in data["welch"]["welch"].as_array().unwrap() {
        let a = nums(&case["a"]);
        let b = nums(&case["b"]);
        let got = frequentist::welch_p_value(a[0] as u64, a[1], a[2], b[0] as u64, b[1], b[2]);
        let (_, rel) = welch.add(got, num(&case["p"]), "welch");
        assert!(rel < 1e-10, "welch {a:?} {b:?}: rel {rel:e}");
    }
    welch.report();
}

#[test]
fn z_test_matches_mpmath() {
    let data = load("tests.json");
    let mut z = ErrorStats::new("frequentist::two_proportion_p_value (relative)");
    for case in data["z_test"].as_array().unwrap() {
        let got = frequentist::two_proportion_p_value(
            num(&case["n_a"]) as u64,
            num(&case["c_a"]) as u64,
            num(&case["n_b"]) as u64,
            num(&case["c_b"]) as u64,
        );
        let (_, rel) = z.add(got, num(&case["p"]), "z");
        assert!(rel < 1e-12, "z-test {case}: rel {rel:e}");
    }
    z.report();
}

#[test]
fn chi_square_matches_mpmath() {
    let data = load("tests.json");
    let mut sf = ErrorStats::new("special::chi_square_sf (relative)");
    for case in data["chi_square"]["sf"].as_array().unwrap() {
        let (x, df) = (num(&case["x"]), num(&case["df"]));
        let (_, rel) = sf.add(special::chi_square_sf(x, df), num(&case["sf"]), "sf");
        assert!(rel < 1e-13, "chi2 sf({x}, {df}): rel {rel:e}");
    }
    sf.report();
    let mut p = ErrorStats::new("srm::chi_square_p_value (relative)");
    for case in data["chi_square"]["srm"].as_array().unwrap() {
        let got = srm::chi_square_p_value(&nums(&case["observed"]), &nums(&case["expected"]));
        let (_, rel) = p.add(got, num(&case["p"]), "srm");
        assert!(rel < 1e-12, "srm {case}: rel {rel:e}");
    }
    p.report();
}

#[test]
fn srm_threshold_matches_chi_square_critical_value() {
    // χ²₁ critical value 10.828 at p = 0.001 (statistics.md; standard tables: 10.8276).
    assert_eq!(srm::SRM_P_VALUE_THRESHOLD, 0.001);
    let p = special::chi_square_sf(10.828, 1.0);
    assert!((p - 0.001).abs() < 1e-6, "{p}");
    assert!(special::chi_square_sf(10.83, 1.0) < srm::SRM_P_VALUE_THRESHOLD);
    assert!(special::chi_square_sf(10.82, 1.0) > srm::SRM_P_VALUE_THRESHOLD);
    // 5000/5000 vs 5200/4800 at a 50/50 split: only the second is a mismatch
    assert!(!srm::is_mismatch(srm::chi_square_p_value(
        &[5000.0, 5000.0],
        &[0.5, 0.5]
    )));
    assert!(srm::is_mismatch(srm::chi_square_p_value(
        &[5200.0, 4800.0],
        &[0.5, 0.5]
    )));
}

#[test]
fn credible_interval_uses_exact_quantiles() {
    let data = load("beta_special.json");
    let find = |p: f64, a: f64, b: f64| {
        data["beta_quantile"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| num(&c["p"]) == p && num(&c["a"]) == a && num(&c["b"]) == b)
            .map(|c| num(&c["value"]))
            .expect("reference quantile")
    };
    let interval = BetaPosterior::new(11.0, 91.0).interval(0.95);
    assert!((interval.low - find(0.025, 11.0, 91.0)).abs() < 1e-15);
    assert!((interval.high - find(0.975, 11.0, 91.0)).abs() < 1e-15);
    assert!((interval.mean - 11.0 / 102.0).abs() < 1e-16);
}

#[test]
fn gamma_functions_match_mpmath() {
    // libm's lgamma is the one function we take from a crate; check it before building on it.
    let data = load("gamma.json");
    let mut lg = ErrorStats::new("special::ln_gamma (libm lgamma)");
    for case in data["ln_gamma"].as_array().unwrap() {
        let x = num(&case["x"]);
        let (abs, rel) = lg.add(special::ln_gamma(x), num(&case["value"]), "lgamma");
        assert!(
            abs < 1e-15 || rel < 4e-16,
            "lgamma({x}): abs {abs:e} rel {rel:e}"
        );
    }
    lg.report();
    let mut reg = ErrorStats::new("special::gamma_reg_pair P, Q (relative)");
    for case in data["gamma_reg"].as_array().unwrap() {
        let (a, x) = (num(&case["a"]), num(&case["x"]));
        let (p, q) = special::gamma_reg_pair(a, x);
        let (_, rel_p) = reg.add(p, num(&case["p"]), "P");
        let (_, rel_q) = reg.add(q, num(&case["q"]), "Q");
        assert!(
            rel_p < 1e-13 && rel_q < 1e-13,
            "a={a} x={x}: {rel_p:e} {rel_q:e}"
        );
    }
    reg.report();
}
