#!/usr/bin/env python3
"""Reference values for the metric statistics (tests/stats/metrics_reference.rs).

How they were made, from the crate root:

    python3 -m venv target/refvenv
    target/refvenv/bin/pip install gbstats==0.8.0 statsmodels mpmath
    target/refvenv/bin/python tests/reference/make_metrics_reference.py > tests/reference/metrics.json

(committed with gbstats 0.8.0, statsmodels 0.15.0, scipy 1.17.1, numpy 1.26.4, mpmath 1.4.1;
the output is deterministic). Nothing here calls the Rust code:

- Ratio, mean and proportion metrics: GrowthBook's engine gbstats fed each arm's sufficient
  statistics (RatioStatistic of two SampleMeanStatistics, SampleMeanStatistic,
  ProportionStatistic), with the "relative" difference type; its EffectBayesianABTest with the
  default improper flat prior gives the lift, its credible interval and the chance to win
  (with `inverse=True` for a metric whose decrease is good), its TwoSidedTTest the p-value,
  the Welch degrees of freedom and the t confidence interval. gbstats forms the p-value as
  2 * (1 - t.cdf(|t|, dof)), whose absolute floor is ~1e-16; `p_value_sf` is the same
  statistic and dof through scipy's t.sf (accurate in the tail), for the relative check of
  small p-values.
- Always-valid analysis: gbstats' SequentialTwoSidedTTest (the asymptotic confidence sequence
  of Waudby-Smith et al. 2023 and its e-value p-value) at its defaults, alpha 0.05 and tuning
  N* = 5000, on the same statistics.
- CUPED: gbstats' RegressionAdjustedStatistic (post and pre ProportionStatistic or
  SampleMeanStatistic with the post-pre sum of products) through the same three tests, which
  pool theta over the two arms (compute_theta); simulated users with correlated pre and post
  values (numpy seed 2013).
- Multiple comparisons: statsmodels.stats.multitest.multipletests, methods fdr_bh and holm.
- Student t quantiles and tails at the degrees of freedom the tests reach (to 4e14): Newton
  on make_reference.py's series t_sf, 50 digits (tails at 160 digits, since t_sf forms them
  as a difference).
- Chance of harm of two Betas: P(p_T/p_C < 1 - t) or P(p_T/p_C > 1 + t) in 50-digit mpmath,
  the 1-D integral int f_C(x) F_T(r x) dx with the quadrature and incomplete beta of
  make_reference.py (Gauss-Legendre 48 vs 24 points agreeing to 1e-27).

Inputs are JSON numbers written with Python's repr (they round-trip exactly into f64), so the
Rust tests see the very values gbstats saw.
"""

import importlib.metadata
import json
import os
import sys

import numpy as np
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from scipy.stats import t as student_t
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as mr  # noqa: E402  (sets mpmath to 50 digits)
from mpmath import mpf  # noqa: E402


# ---------------------------------------------------------------------------
# Sufficient statistics
# ---------------------------------------------------------------------------

def ratio_sums_from_moments(n, mean_x, mean_y, sd_x, sd_y, corr):
    """(n, sum_x, sum_x_sq, sum_y, sum_y_sq, sum_xy) with the given sample moments."""
    return {
        "n": n,
        "sum_x": n * mean_x,
        "sum_x_sq": (n - 1) * sd_x ** 2 + n * mean_x ** 2,
        "sum_y": n * mean_y,
        "sum_y_sq": (n - 1) * sd_y ** 2 + n * mean_y ** 2,
        "sum_xy": (n - 1) * corr * sd_x * sd_y + n * mean_x * mean_y,
    }


def ratio_sums_from_users(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return {
        "n": int(len(x)),
        "sum_x": float(x.sum()),
        "sum_x_sq": float((x * x).sum()),
        "sum_y": float(y.sum()),
        "sum_y_sq": float((y * y).sum()),
        "sum_xy": float((x * y).sum()),
    }


def simulated_orders(rng, n, order_rate, orders_mean, order_value, value_sd):
    """Per-user revenue X and orders Y: a share of users orders, Poisson orders, each
    order's value log-normal around `order_value`."""
    buys = rng.random(n) < order_rate
    orders = np.where(buys, 1 + rng.poisson(orders_mean - 1, n), 0)
    sigma2 = np.log(1 + (value_sd / order_value) ** 2)
    revenue = np.array([
        rng.lognormal(np.log(order_value) - sigma2 / 2, np.sqrt(sigma2), k).sum() for k in orders
    ])
    return revenue, orders


def ratio_statistic(arm):
    return RatioStatistic(
        n=arm["n"],
        m_statistic=SampleMeanStatistic(n=arm["n"], sum=arm["sum_x"], sum_squares=arm["sum_x_sq"]),
        d_statistic=SampleMeanStatistic(n=arm["n"], sum=arm["sum_y"], sum_squares=arm["sum_y_sq"]),
        m_d_sum_of_products=arm["sum_xy"],
    )


# ---------------------------------------------------------------------------
# gbstats
# ---------------------------------------------------------------------------

def compare(stat_control, stat_variant, decrease_is_good):
    bayes = EffectBayesianABTest(
        stat_control, stat_variant, EffectBayesianConfig(inverse=decrease_is_good)
    ).compute_result()
    assert bayes.error_message is None, bayes.error_message
    freq_test = TwoSidedTTest(stat_control, stat_variant)
    freq = freq_test.compute_result()
    assert freq.error_message is None, freq.error_message
    assert bayes.expected == freq.expected
    dof = float(freq_test.dof)
    critical = float(freq_test.critical_value)
    # The always-valid analysis, at gbstats' defaults (alpha 0.05, tuning N* = 5000).
    sequential = SequentialTwoSidedTTest(stat_control, stat_variant).compute_result()
    assert sequential.error_message is None, sequential.error_message
    return {
        "sequential_users": int(stat_control.n + stat_variant.n),
        "sequential_low": float(sequential.ci[0]),
        "sequential_high": float(sequential.ci[1]),
        "sequential_p_value": float(sequential.p_value),
        "decrease_is_good": decrease_is_good,
        "lift": float(bayes.expected),
        "lift_sd": float(bayes.uplift.stddev),
        "credible_low": float(bayes.ci[0]),
        "credible_high": float(bayes.ci[1]),
        "chance_to_win": float(bayes.chance_to_win),
        "p_value": float(freq.p_value),
        "p_value_sf": float(2 * student_t.sf(abs(critical), dof)),
        "dof": dof,
        "confidence_low": float(freq.ci[0]),
        "confidence_high": float(freq.ci[1]),
    }


def ratio_case(name, control, variant, decrease_is_good=False):
    sc, sv = ratio_statistic(control), ratio_statistic(variant)
    out = {"name": name, "control": control, "variant": variant}
    for key, stat in (("control", sc), ("variant", sv)):
        out[key + "_ratio"] = float(stat.mean)
        out[key + "_per_user_variance"] = float(stat.variance)
    out.update(compare(sc, sv, decrease_is_good))
    return out


def ratio_cases():
    rng = np.random.default_rng(20240612)
    cases = []
    # small arms, simulated average order value, variant up
    c = simulated_orders(rng, 40, 0.5, 1.4, 50.0, 30.0)
    v = simulated_orders(rng, 35, 0.55, 1.5, 58.0, 30.0)
    cases.append(ratio_case("aov small n", ratio_sums_from_users(*c), ratio_sums_from_users(*v)))
    # medium arms, simulated, variant slightly down
    c = simulated_orders(rng, 2000, 0.2, 1.3, 40.0, 25.0)
    v = simulated_orders(rng, 2100, 0.21, 1.3, 38.5, 25.0)
    cases.append(ratio_case("aov medium n, down", ratio_sums_from_users(*c), ratio_sums_from_users(*v)))
    # a million users per arm, lift -1%
    cases.append(ratio_case(
        "aov 1e6 users, -1%",
        ratio_sums_from_moments(1_000_000, 12.0, 0.3, 60.0, 0.8, 0.6),
        ratio_sums_from_moments(1_000_003, 11.9, 0.3002, 61.0, 0.81, 0.6),
    ))
    # negative covariance between numerator and denominator
    cases.append(ratio_case(
        "negative covariance",
        ratio_sums_from_moments(5000, 3.0, 2.0, 4.0, 1.5, -0.4),
        ratio_sums_from_moments(5200, 3.2, 2.05, 4.1, 1.5, -0.35),
    ))
    # strongly correlated parts (the delta method's covariance term dominates)
    cases.append(ratio_case(
        "strong positive covariance",
        ratio_sums_from_moments(3000, 10.0, 2.0, 8.0, 1.6, 0.95),
        ratio_sums_from_moments(3000, 10.6, 2.0, 8.3, 1.6, 0.94),
    ))
    # revenue per session, many users, tiny lift (p-value far from 0)
    cases.append(ratio_case(
        "revenue per session, tiny lift",
        ratio_sums_from_moments(200_000, 1.8, 3.1, 9.0, 2.5, 0.3),
        ratio_sums_from_moments(199_000, 1.805, 3.1, 9.1, 2.5, 0.3),
    ))
    # a decrease-is-good ratio (support contacts per order) that went up: harm
    cases.append(ratio_case(
        "decrease is good, went up",
        ratio_sums_from_moments(8000, 0.12, 1.1, 0.4, 0.5, 0.2),
        ratio_sums_from_moments(8000, 0.135, 1.1, 0.42, 0.5, 0.2),
        decrease_is_good=True,
    ))
    # a decrease-is-good ratio that went down: a win
    cases.append(ratio_case(
        "decrease is good, went down",
        ratio_sums_from_moments(8000, 0.12, 1.1, 0.4, 0.5, 0.2),
        ratio_sums_from_moments(7900, 0.11, 1.1, 0.39, 0.5, 0.2),
        decrease_is_good=True,
    ))
    # unequal arms and unequal variances (Welch dof far from n_T + n_C - 2)
    cases.append(ratio_case(
        "unequal arms",
        ratio_sums_from_moments(1000, 5.0, 1.0, 2.0, 0.5, 0.5),
        ratio_sums_from_moments(9000, 5.5, 1.02, 9.0, 0.6, 0.1),
    ))
    # two users per arm: dof of a few, a wide t
    cases.append(ratio_case(
        "two users per arm",
        ratio_sums_from_users([10.0, 30.0], [1.0, 2.0]),
        ratio_sums_from_users([25.0, 45.0], [1.0, 3.0]),
    ))
    # a mostly-zero denominator (sessions with a purchase) and a large lift up
    x = np.concatenate([rng.exponential(30.0, 300), np.zeros(700)])
    y = np.concatenate([np.ones(300), np.zeros(700)])
    x2 = np.concatenate([rng.exponential(42.0, 320), np.zeros(680)])
    y2 = np.concatenate([np.ones(320), np.zeros(680)])
    cases.append(ratio_case("large lift up", ratio_sums_from_users(x, y), ratio_sums_from_users(x2, y2)))
    # very unbalanced small arms
    cases.append(ratio_case(
        "3 against 50 users",
        ratio_sums_from_users([4.0, 9.0, 2.0], [1.0, 2.0, 1.0]),
        ratio_sums_from_moments(50, 6.0, 1.5, 3.0, 0.7, 0.6),
    ))
    return cases


def mean_case(name, control, variant, decrease_is_good=False):
    def stat(arm):
        return SampleMeanStatistic(n=arm["n"], sum=arm["sum"], sum_squares=arm["sum_sq"])
    out = {"name": name, "control": control, "variant": variant}
    out.update(compare(stat(control), stat(variant), decrease_is_good))
    return out


def mean_sums(n, mean, sd):
    return {"n": n, "sum": n * mean, "sum_sq": (n - 1) * sd ** 2 + n * mean ** 2}


def mean_cases():
    return [
        mean_case("revenue per user, up", mean_sums(400, 10.0, 5.0), mean_sums(900, 10.3, 4.0)),
        mean_case("orders per user 1e6, down", mean_sums(1_000_000, 0.42, 1.1), mean_sums(999_000, 0.418, 1.1)),
        mean_case("small arms", mean_sums(6, 3.0, 2.0), mean_sums(9, 4.5, 1.0)),
        mean_case("latency, decrease is good", mean_sums(2500, 320.0, 80.0), mean_sums(2500, 312.0, 85.0),
                  decrease_is_good=True),
    ]


def proportion_case(name, control, variant, decrease_is_good=False):
    out = {"name": name, "control": list(control), "variant": list(variant)}
    sc = ProportionStatistic(n=control[0], sum=control[1])
    sv = ProportionStatistic(n=variant[0], sum=variant[1])
    out.update(compare(sc, sv, decrease_is_good))
    return out


def proportion_cases():
    return [
        proportion_case("conversion up", (1000, 100), (1000, 120)),
        proportion_case("conversion 1e6", (1_000_000, 50_000), (1_000_000, 50_600)),
        proportion_case("uninstalls, decrease is good", (5000, 60), (5100, 48), decrease_is_good=True),
    ]


def cuped_case(name, kind, control, variant, decrease_is_good=False):
    """CUPED: gbstats' RegressionAdjustedStatistic of a post statistic y and a pre statistic x
    per arm; its tests compute theta pooled over the two arms (compute_theta)."""
    def stat(arm):
        if kind == "proportion":
            post = ProportionStatistic(n=arm["n"], sum=arm["y"])
            pre = ProportionStatistic(n=arm["n"], sum=arm["x"])
        else:
            post = SampleMeanStatistic(n=arm["n"], sum=arm["y"], sum_squares=arm["y_sq"])
            pre = SampleMeanStatistic(n=arm["n"], sum=arm["x"], sum_squares=arm["x_sq"])
        return RegressionAdjustedStatistic(
            n=arm["n"], post_statistic=post, pre_statistic=pre,
            post_pre_sum_of_products=arm["xy"], theta=0)
    out = {"name": name, "kind": kind, "control": control, "variant": variant}
    sc, sv = stat(control), stat(variant)
    out.update(compare(sc, sv, decrease_is_good))
    # compare() made the tests set theta on the statistics
    out["theta"] = float(stat_theta(stat(control), stat(variant)))
    return out


def stat_theta(a, b):
    from gbstats.models.statistics import compute_theta
    return compute_theta(a, b)


def cuped_sums(rng, n, rho, lift, kind, base):
    """Sums of n users whose pre and post values correlate (about rho)."""
    z_pre = rng.standard_normal(n)
    z_post = rho * z_pre + np.sqrt(1 - rho ** 2) * rng.standard_normal(n)
    if kind == "proportion":
        x = (z_pre > 1.2).astype(float)
        y = (z_post > 1.2 - lift).astype(float)
    else:
        x = np.maximum(0.0, base + 4.0 * z_pre)
        y = np.maximum(0.0, base * (1 + lift) + 4.0 * z_post)
    return {"n": int(n), "y": float(y.sum()), "y_sq": float((y * y).sum()),
            "x": float(x.sum()), "x_sq": float((x * x).sum()), "xy": float((x * y).sum())}


def cuped_cases():
    rng = np.random.default_rng(2013)
    return [
        cuped_case("mean, rho 0.7", "mean", cuped_sums(rng, 4000, 0.7, 0.0, "mean", 10.0),
                   cuped_sums(rng, 4100, 0.7, 0.03, "mean", 10.0)),
        cuped_case("mean, rho 0.3, decrease is good", "mean", cuped_sums(rng, 900, 0.3, 0.0, "mean", 5.0),
                   cuped_sums(rng, 800, 0.3, -0.05, "mean", 5.0), decrease_is_good=True),
        cuped_case("conversion, rho 0.6", "proportion", cuped_sums(rng, 20000, 0.6, 0.0, "proportion", 0),
                   cuped_sums(rng, 20000, 0.6, 0.05, "proportion", 0)),
    ]


# ---------------------------------------------------------------------------
# statsmodels multipletests
# ---------------------------------------------------------------------------

def multiple_cases():
    rng = np.random.default_rng(7)
    inputs = [
        [0.01, 0.04, 0.03, 0.005, 0.2],
        [0.5],
        [],
        [0.0, 1.0, 0.0, 1.0],
        [0.02, 0.02, 0.02, 0.5, 0.02],  # ties
        [0.9, 0.7, 0.5, 0.3, 0.1],  # descending
        [1e-12, 3e-9, 0.0004, 0.049, 0.051, 0.3, 0.99],
        [0.04, 0.045, 0.048, 0.049],  # every adjustment capped or close
        [float(v) for v in rng.uniform(0, 1, 20)],
        [float(v) for v in np.concatenate([rng.uniform(0, 0.01, 10), rng.uniform(0, 1, 50)])],  # 20 metrics x 3
        [float(v) for v in rng.beta(0.3, 4.0, 37)],
    ]
    out = []
    for p in inputs:
        if p:
            bh = multipletests(p, method="fdr_bh")[1]
            holm = multipletests(p, method="holm")[1]
        else:
            bh, holm = [], []
        out.append({"p": p, "fdr_bh": [float(v) for v in bh], "holm": [float(v) for v in holm]})
    return out


# ---------------------------------------------------------------------------
# Chance of harm of two Betas (50 digits)
# ---------------------------------------------------------------------------

def ratio_cdf(variant, control, r):
    """P(p_T / p_C <= r) = int f_C(x) F_T(min(r x, 1)) dx, 50 digits."""
    v, c = mr.Arm(*variant), mr.Arm(*control)
    r = mpf(r)
    pts = set(mr.breakpoints([c]))
    pts.update(p / r for p in v.points() if 0 < p / r < 1)
    if 0 < 1 / r < 1:
        pts.add(1 / r)
    return mr.integrate(lambda x: c.pdf(x) * (mpf(1) if r * x >= 1 else v.cdf(r * x)), sorted(pts))


def harm_cases():
    out = []
    for control, variant, threshold, decrease_is_good in (
        ((1000, 100), (1000, 92), 0.02, False),  # purchases, increase is good
        ((5000, 50), (5000, 63), 0.05, True),  # uninstalls, decrease is good
    ):
        c, v = mr.counts_to_beta(*control), mr.counts_to_beta(*variant)
        t = mpf(threshold)
        if decrease_is_good:
            harm = 1 - ratio_cdf(v, c, 1 + t)
        else:
            harm = ratio_cdf(v, c, 1 - t)
        out.append({"control": list(control), "variant": list(variant), "threshold": threshold,
                    "decrease_is_good": decrease_is_good, "chance_of_harm": mr.s(harm)})
    return out


# ---------------------------------------------------------------------------
# Student t behind the p-values and confidence intervals (50 digits)
# ---------------------------------------------------------------------------

def t_pdf(t, df):
    t, df = mpf(t), mpf(df)
    return (1 + t * t / df) ** (-(df + 1) / 2) / (mr.sqrt(df) * mr.exp(mr.ln_beta(df / 2, mpf(1) / 2)))


def t_quantile(p, df):
    """Newton on P(T > t) = 1 - p from the normal quantile (t_sf of make_reference.py)."""
    p = mpf(p)
    t = -mr.sqrt(2) * mr.mp.erfinv(1 - 2 * p)
    for _ in range(200):
        step = (mr.t_sf(t, df) - (1 - p)) / -t_pdf(t, df)
        # keep Newton inside the domain for heavy tails
        t = t - step if abs(step) < 1 + abs(t) else t - (1 + abs(t)) * mr.mp.sign(step) / 2
        if abs(step) < mpf(10) ** -35 * max(1, abs(t)):
            break
    assert abs(mr.t_sf(t, df) - (1 - p)) < mpf(10) ** -30 * (1 - p)
    return t


def student_t_cases():
    quantile = [{"p": p, "df": df, "value": mr.s(t_quantile(p, df))}
                for p, df in ((0.975, 1.6252301177432293), (0.975, 2.5), (0.025, 10.0), (0.999999, 3.0),
                              (0.975, 1e6), (0.975, 2e8), (1e-12, 5.0), (0.6, 40.0), (0.995, 1e12),
                              (0.75, 1.0), (0.975, 4e14), (0.9, 0.5))]
    sf = []
    for df in (100.0, 1e4, 1e6, 2e8, 1e10, 1e12, 4e14):
        for t in (1.0, 3.0, 5.0, 8.0, 20.0):
            # t_sf takes the tail as 1 - (the other series): 160 digits keep 25 of them
            # down to tails of 1e-100
            with mr.mp.workdps(160):
                sf.append({"t": t, "df": df, "sf": mr.s(mr.t_sf(t, df))})
    return {"quantile": quantile, "sf": sf}


def main():
    payload = {
        "versions": {pkg: importlib.metadata.version(pkg)
                     for pkg in ("gbstats", "statsmodels", "scipy", "numpy", "mpmath")},
        "ratio": ratio_cases(),
        "mean": mean_cases(),
        "proportion": proportion_cases(),
        "cuped": cuped_cases(),
        "multiple": multiple_cases(),
        "harm_beta": harm_cases(),
        "student_t": student_t_cases(),
    }
    json.dump(payload, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
