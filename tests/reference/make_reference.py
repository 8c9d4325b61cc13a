#!/usr/bin/env python3
"""Reference values for tests/stats_reference.rs, computed with mpmath at 50 digits.

How they were made: `python3 tests/reference/make_reference.py` (from the crate root, with
mpmath 1.3) regenerates every tests/reference/*.json file, identically. It takes about ten
minutes on two cores with gmpy2 installed (`pip install gmpy2`, which mpmath then uses; it
is optional, without it the run is about five times slower). Nothing here calls the Rust
code: every number comes from the formulas below, evaluated in 50-digit arithmetic
(mp.dps = 50), so the tests never compare the code with its own output.

Methods (all in 50-digit arithmetic):
- I_x(a, b): the hypergeometric series I_x(a,b) = x^a y^b / (a B(a,b)) * sum_n (a+b)_n/(a+1)_n x^n
  (Abramowitz & Stegun 26.5.4 with 15.1.1), all terms positive, summed for (a, b, x) or for
  (b, a, 1 - x) (I_x(a,b) = 1 - I_y(b,a)), whichever needs fewer terms. mpmath's own
  betainc fails to converge at a, b ~ 1e5, which is why we sum the series ourselves.
- P(X > Y) for integer Beta parameters: Evan Miller's exact sum ("Formulas for Bayesian A/B
  testing"), P(B > A) = sum_{i<alpha_B} B(alpha_A+i, beta_A+beta_B) /
  ((beta_B+i) B(1+i, beta_B) B(alpha_A, beta_A)), summed by exact term ratios; it reproduces
  the two published values of statistics.md (asserted).
- P(best), expected loss, lift quantiles: the 1-D integrals, with the CDFs from the series
  above, by 48-point Gauss-Legendre on intervals of a few standard deviations around every
  arm, each checked against the 24-point rule (agreement to 1e-27 asserted); P(best) must
  sum to 1, two arms must match Evan Miller's sum and Stucchio's closed form (asserted).
  Lift quantiles by Newton's method on P(p_v/p_c <= r) = int f_c(x) F_v(r x) dx.
- Beta quantiles: Newton iteration on the series CDF, to 50 digits.
- Normal: mpmath erfc; Student t via the series I_x; chi-squared via mpmath gammainc.
"""

import json
import os
import sys

from mpmath import mp, mpf, sqrt, log, exp, loggamma, erfc, gammainc, inf

mp.dps = 50
HERE = os.path.dirname(os.path.abspath(__file__))


def s(v):
    """A value as a 25-significant-digit string (parsed by the Rust tests)."""
    return mp.nstr(mpf(v), 25, min_fixed=-inf, max_fixed=inf) if v != 0 else "0"


def write(name, payload):
    with open(os.path.join(HERE, name), "w") as fh:
        json.dump(payload, fh, indent=1)
        fh.write("\n")
    print("wrote", name, file=sys.stderr)


# ---------------------------------------------------------------------------
# Incomplete beta
# ---------------------------------------------------------------------------

_LN_BETA = {}


def ln_beta(a, b):
    key = (a, b, mp.prec)
    if key not in _LN_BETA:
        _LN_BETA[key] = loggamma(a) + loggamma(b) - loggamma(a + b)
    return _LN_BETA[key]


def ibeta_lower_series(a, b, x):
    """I_x(a,b) by the positive hypergeometric series; best for x below the mean."""
    with mp.workdps(mp.dps + 15):
        a, b, x = mpf(a), mpf(b), mpf(x)
        y = 1 - x
        front = exp(a * log(x) + b * log(y) - ln_beta(a, b)) / a
        apb, ap1 = a + b, a + 1
        term = mpf(1)
        total = mpf(1)
        n = 0
        eps = mpf(10) ** (-(mp.dps + 5))
        while True:
            term = term * x * (apb + n) / (ap1 + n)
            total += term
            n += 1
            if n % 8 == 0:
                # terms decrease monotonically once the ratio is below 1
                ratio = x * (apb + n) / (ap1 + n)
                if ratio < 1 and term < eps * total * (1 - ratio):
                    break
        return front * total


def ibeta(a, b, x):
    """(I_x(a,b), 1 - I_x(a,b)) to 50 digits; x is taken as the exact binary value."""
    a, b, x = mpf(a), mpf(b), mpf(x)
    if x <= 0:
        return mpf(0), mpf(1)
    if x >= 1:
        return mpf(1), mpf(0)
    # Sum the series (lower: a, b, x; upper: b, a, y) that needs fewer terms, found by
    # running both term recurrences side by side in float logs until one has decayed.
    if series_is_shorter_lower(float(a), float(b), float(x)):
        lower = ibeta_lower_series(a, b, x)
        return lower, 1 - lower
    upper = ibeta_lower_series(b, a, 1 - x)
    return 1 - upper, upper


def series_is_shorter_lower(a, b, x):
    import math
    if x < 1e-10 or x > 1 - 1e-10:
        return x < 0.5
    sides = [[a, b, x, 0.0, 0.0], [b, a, 1.0 - x, 0.0, 0.0]]  # a, b, x, log term, max log term
    n = 0
    while True:
        for index, side in enumerate(sides):
            pa, pb, px, log_term, max_log = side
            ratio = (pa + pb + n) / (pa + 1 + n) * px
            log_term += math.log(ratio)
            side[3], side[4] = log_term, max(max_log, log_term)
            if ratio < 1 and log_term < side[4] - 140:
                return index == 0
        n += 1


def beta_pdf(x, a, b):
    x = mpf(x)
    if x <= 0 or x >= 1:
        return mpf(0)
    return exp((a - 1) * log(x) + (b - 1) * log(1 - x) - ln_beta(a, b))


def beta_reg_cases():
    cases = [
        # the four points of statistics.md
        (11, 91, 0.1), (1001, 9001, 0.1), (20001, 180001, 0.1), (500000, 500000, 0.5001),
        # small parameters, both tails
        (1, 1, 0.3), (0.5, 0.5, 0.3), (0.5, 0.5, 1e-10), (2.5, 0.5, 0.999999), (1, 50, 0.2),
        (50, 1, 0.9), (3, 7, 0.01), (3, 7, 0.9), (11, 91, 0.01), (11, 91, 0.3), (11, 91, 0.5),
        (16, 86, 0.16), (53, 449, 0.1), (41, 461, 0.05), (200, 300, 0.2), (200, 300, 0.45),
        (200, 300, 0.55),
        # large parameters, bulk and tails
        (1001, 9001, 0.09), (1001, 9001, 0.11), (1001, 9001, 0.05), (1001, 9001, 0.15),
        (20001, 180001, 0.098), (20001, 180001, 0.1025), (20001, 180001, 0.095),
        (500000, 500000, 0.4999), (500000, 500000, 0.499), (500000, 500000, 0.5025),
        (500000, 500000, 0.49), (500000, 500000, 0.52),
        (1e6, 9e6, 0.1001), (1e6, 9e6, 0.0999), (1e6, 9e6, 0.1005), (1e6, 9e6, 0.097), (1e6, 9e6, 0.103),
        (10001, 90001, 0.1), (10001, 90001, 0.102), (10001, 90001, 0.097),
        (100001, 900001, 0.1), (100001, 900001, 0.1008), (100001, 900001, 0.0985),
        # one small, one large parameter
        (51, 1e7, 5e-6), (3, 1e7, 3e-7), (2.5, 1e6, 1e-6), (1, 100000, 1e-5), (1, 100000, 1e-4),
        (1e5, 1, 0.99999), (5001, 5, 0.999), (101, 99901, 0.001), (101, 99901, 0.0012),
        # Student-t-like shapes (b = 1/2)
        (5, 0.5, 0.9), (500, 0.5, 0.999), (50000, 0.5, 0.99995),
        # very unequal shapes, just past Temme's region and beyond the mean in one orientation
        # (the quantile proptest failure at a = 1687467.32, b = 3718.01, p = 0.0186)
        (1687467.32, 3718.01, 0.9977259), (1687467.32, 3718.01, 0.99773355),
        (3718.01, 1687467.32, 0.0022741), (1000, 1e7, 1.095e-4), (10, 1e7, 2e-6),
        (1, 1e7, 1.3e-6),
    ]
    out = []
    for a, b, x in cases:
        lower, upper = ibeta(a, b, x)
        out.append({"a": a, "b": b, "x": x, "value": s(lower), "complement": s(upper)})
    return out


def beta_pdf_cases():
    cases = [(11, 91, 0.1), (1001, 9001, 0.1), (500000, 500000, 0.5001), (1, 1, 0.3),
             (1e6, 9e6, 0.1002), (3, 1e7, 3e-7), (2, 5, 0.9)]
    return [{"a": a, "b": b, "x": x, "value": s(beta_pdf(x, a, b))} for a, b, x in cases]


def beta_quantile(p, a, b):
    p = mpf(p)
    a, b = mpf(a), mpf(b)
    lo, hi = mpf(0), mpf(1)
    if a > 50 and b > 50:
        # normal start; Newton converges from there
        z = -sqrt(2) * mp.erfinv(1 - 2 * p)
        n = a + b
        x = a / n + z * sqrt(a * b / (n * n * (n + 1)))
    else:
        # bisection (geometric near 0) to a good start
        for _ in range(400):
            if lo == 0 and hi < mpf("1e-3"):
                mid = hi / 1000
            elif lo > 0 and hi / lo > 4:
                mid = sqrt(lo * hi)
            else:
                mid = (lo + hi) / 2
            if ibeta(a, b, mid)[0] < p:
                lo = mid
            else:
                hi = mid
            if hi - lo < hi * mpf("1e-6"):
                break
        x = (lo + hi) / 2
    for _ in range(100):
        step = (ibeta(a, b, x)[0] - p) / beta_pdf(x, a, b)
        x -= step
        if abs(step) < x * mpf(10) ** (-(mp.dps - 3)):
            break
    assert abs(ibeta(a, b, x)[0] - p) < p * mpf(10) ** (-(mp.dps - 5))
    return x


def beta_quantile_cases():
    cases = [(0.025, 11, 91), (0.975, 11, 91), (0.5, 16, 86), (0.025, 1, 1), (0.001, 1, 1001),
             (0.999, 1, 1001), (1e-10, 3, 7), (0.975, 1001, 9001), (0.025, 100001, 900001),
             (0.975, 500000, 500000), (0.5, 0.5, 0.5), (1e-20, 2, 200), (0.9999, 20, 2),
             (0.018628641, 1687467.32, 3718.01), (0.981371359, 3718.01, 1687467.32),
             (0.999999, 1, 1e7)]
    return [{"p": p, "a": a, "b": b, "value": s(beta_quantile(p, a, b))} for p, a, b in cases]


# ---------------------------------------------------------------------------
# P(X > Y): Evan Miller's exact sum
# ---------------------------------------------------------------------------

def prob_b_beats_a(aa, ba, ab, bb):
    """P(p_B > p_A) for A ~ Beta(aa, ba), B ~ Beta(ab, bb), integer ab (Evan Miller)."""
    with mp.workdps(mp.dps + 20):
        aa, ba, bb = mpf(aa), mpf(ba), mpf(bb)
        term = exp(ln_beta(aa, ba + bb) - ln_beta(aa, ba))  # i = 0
        total = term
        for i in range(int(ab) - 1):
            term *= (aa + i) / (aa + i + ba + bb) * (i + bb) / (i + 1)
            total += term
        return total


def prob_greater_exact(x, y):
    """P(X > Y), X ~ Beta(x), Y ~ Beta(y): sum over the smaller alpha."""
    (ax, bx), (ay, by) = x, y
    if ax <= ay:
        # P(X > Y) = sum with B = X, A = Y
        return prob_b_beats_a(ay, by, ax, bx)
    return 1 - prob_b_beats_a(ax, bx, ay, by)


def counts_to_beta(users, conversions):
    return (1 + conversions, 1 + users - conversions)


def prob_greater_cases():
    small = [((100, 10), (100, 15)), ((1000, 100), (1000, 110)), ((1000, 100), (1000, 150)),
             ((10, 0), (10, 1)), ((10, 0), (1000, 2)), ((1, 1), (1000, 999)), ((0, 0), (0, 0)),
             ((0, 0), (1000, 500)), ((1000, 1), (1000, 3)), ((1000, 999), (1000, 990)),
             ((50, 5), (1000, 100)), ((3, 1), (7, 2)), ((1000, 500), (1000, 530)),
             ((200, 20), (900, 60)), ((1000, 0), (1000, 0)), ((1000, 1000), (10, 9)),
             ((100, 50), (1000, 400)), ((500, 1), (20, 0))]
    large = [((10000, 1000), (10000, 1050)), ((100000, 10000), (100000, 10100)),
             ((100000, 1000), (100000, 1100)), ((100000, 50000), (100000, 50300)),
             ((100000, 10), (1000, 0)), ((100000, 99990), (90000, 89985)),
             ((20000, 2000), (100000, 10200)), ((100000, 5000), (50000, 2600)),
             ((100000, 100), (100000, 100)), ((99999, 33333), (100000, 33500))]
    out = {"small": [], "large": []}
    for name, cases in (("small", small), ("large", large)):
        for xc, yc in cases:
            x, y = counts_to_beta(*xc), counts_to_beta(*yc)
            out[name].append({"x": list(xc), "y": list(yc), "p": s(prob_greater_exact(x, y))})
    # the two published numbers of statistics.md, as Beta parameters: P(B > A)
    published = []
    for a, b, text in (((11, 91), (16, 86), "0.85328378993396613"),
                       ((1001, 9001), (1101, 8901), "0.98945735443171401")):
        value = prob_greater_exact(b, a)
        assert abs(value - mpf(text)) < mpf("1e-17"), (value, text)
        published.append({"x": list(b), "y": list(a), "p": s(value), "published": text})
    out["published_beta"] = published
    return out


# ---------------------------------------------------------------------------
# Quadrature references over several arms
# ---------------------------------------------------------------------------

class Arm:
    def __init__(self, a, b):
        self.a, self.b = mpf(a), mpf(b)
        self.mean = self.a / (self.a + self.b)
        n = self.a + self.b
        self.sd = sqrt(self.a * self.b / (n * n * (n + 1)))
        self._cdf = {}

    def cdf(self, x):
        key = mpf(x)
        if key not in self._cdf:
            self._cdf[key] = ibeta(self.a, self.b, key)[0]
        return self._cdf[key]

    def pdf(self, x):
        return beta_pdf(x, self.a, self.b)

    def points(self):
        pts = []
        for k in (-40, -25, -15, -10, -7, -5, -3.5, -2, -0.7, 0.7, 2, 3.5, 5, 7, 10, 15, 25, 40):
            p = self.mean + k * self.sd
            if 0 < p < 1:
                pts.append(p)
        return pts


def breakpoints(arms):
    pts = {mpf(0), mpf(1)}
    for arm in arms:
        pts.update(arm.points())
    return sorted(pts)


_GL_CACHE = {}


def gauss_legendre(degree):
    """Gauss-Legendre nodes and weights on [-1, 1] (mpmath's, 3*2^(degree-1) points)."""
    if degree not in _GL_CACHE:
        from mpmath.calculus.quadrature import GaussLegendre
        _GL_CACHE[degree] = GaussLegendre(mp).calc_nodes(degree, mp.prec + 20)
    return _GL_CACHE[degree]


def integrate(f, pts):
    """Sum over the intervals of a 48-point Gauss-Legendre rule, checked against the
    24-point rule (the integrands are smooth on each interval, which spans a few standard
    deviations of the narrowest arm at most)."""
    total_fine, total_coarse = mpf(0), mpf(0)
    for lo, hi in zip(pts[:-1], pts[1:]):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        for degree in (5, 4):
            s = mpf(0)
            for x, w in gauss_legendre(degree):
                s += w * f(mid + half * x)
            if degree == 5:
                total_fine += half * s
            else:
                total_coarse += half * s
    assert abs(total_fine - total_coarse) < mpf("1e-27"), (total_fine, total_coarse)
    return total_fine


def prob_best_ref(params):
    arms = [Arm(a, b) for a, b in params]
    pts = breakpoints(arms)
    values = []
    for k, arm in enumerate(arms):
        def f(x, k=k, arm=arm):
            prod = arm.pdf(x)
            for j, other in enumerate(arms):
                if j != k:
                    prod *= other.cdf(x)
            return prod
        values.append(integrate(f, pts))
    assert abs(sum(values) - 1) < mpf("1e-25"), sum(values)
    return values, arms, pts


def expected_loss_ref(arms, pts):
    values = []
    for k, arm in enumerate(arms):
        def f(x, k=k, arm=arm):
            prod = mpf(1)
            for j, other in enumerate(arms):
                if j != k:
                    prod *= other.cdf(x)
            return arm.cdf(x) * (1 - prod)
        values.append(integrate(f, pts))
    return values


def stucchio(x, y):
    """E[max(X - Y, 0)], X ~ Beta(a,b), Y ~ Beta(c,d) (Stucchio, VWO white paper)."""
    (a, b), (c, d) = x, y
    a, b, c, d = map(mpf, (a, b, c, d))
    return a / (a + b) * prob_greater_exact((a + 1, b), (c, d)) - c / (c + d) * prob_greater_exact((a, b), (c + 1, d))


def multi_arm_entry(params):
    pb, arms, pts = prob_best_ref(params)
    el = expected_loss_ref(arms, pts)
    if len(params) == 2:
        exact = prob_greater_exact(params[0], params[1])
        assert abs(pb[0] - exact) < mpf("1e-25"), (pb[0], exact)
        # expected loss of arm 1 = E[max(X0 - X1, 0)] (Stucchio)
        st = stucchio(params[0], params[1])
        assert abs(el[1] - st) < mpf("1e-25"), (el[1], st)
    return {"arms": [list(p) for p in params], "prob_best": [s(v) for v in pb],
            "expected_loss": [s(v) for v in el]}


def multi_arm_cases(pool):
    sets = [
        [(11, 91), (16, 86)],
        [(53, 449), (41, 461)],
        [(11, 91), (16, 86), (14, 88)],
        [(1, 1), (2, 9), (30, 70), (101, 901)],
        [(101, 901), (111, 891), (95, 907), (1, 11), (21, 181)],
        [(5, 3), (51, 51), (501, 501)],
    ]
    out = pool.map(multi_arm_entry, sets)
    st = stucchio((53, 449), (41, 461))
    assert abs(st - mpf("0.024729038514555")) < mpf("1e-15"), st
    return {"sets": out, "stucchio": {"x": [53, 449], "y": [41, 461], "value": s(st),
                                      "published": "0.024729038514555"}}


def lift_quantile(variant, control, q):
    """r with P(p_v / p_c <= r) = q, P(...) = int f_c(x) F_v(r x) dx; returns r - 1."""
    v, c = Arm(*variant), Arm(*control)
    pts_c = breakpoints([c])

    def cdf_ratio(r):
        pts = set(pts_c)
        for p in v.points():
            if 0 < p / r < 1:
                pts.add(p / r)
        if 0 < 1 / r < 1:
            pts.add(1 / r)
        pts = sorted(pts)

        def f(x):
            z = r * x
            return c.pdf(x) * (mpf(1) if z >= 1 else ibeta(v.a, v.b, z)[0])
        return integrate(f, pts) - q

    def density_ratio(r):
        # d/dr P(p_v/p_c <= r) = int f_c(x) x f_v(r x) dx
        pts = sorted(set(pts_c) | {p / r for p in v.points() if 0 < p / r < 1} | ({1 / r} if r > 1 else set()))
        return integrate(lambda x: c.pdf(x) * x * v.pdf(r * x) if r * x < 1 else mpf(0), pts)

    # Newton from the log-normal approximation
    sigma = sqrt((v.sd / v.mean) ** 2 + (c.sd / c.mean) ** 2)
    z = -sqrt(2) * mp.erfinv(1 - 2 * q)
    r = v.mean / c.mean * exp(z * sigma)
    for _ in range(40):
        step = cdf_ratio(r) / density_ratio(r)
        r -= step
        if abs(step) < r * mpf("1e-32"):
            break
    assert abs(step) < r * mpf("1e-25")
    return r - 1


def lift_entry(case):
    variant, control = case
    v, c = Arm(*variant), Arm(*control)
    return {"variant": list(variant), "control": list(control), "level": 0.95,
            "mean": s((v.mean - c.mean) / c.mean),
            "low": s(lift_quantile(variant, control, mpf("0.025"))),
            "high": s(lift_quantile(variant, control, mpf("0.975")))}


def lift_cases(pool):
    cases = [((16, 86), (11, 91)), ((3, 9), (2, 12)), ((121, 881), (101, 901))]
    return pool.map(lift_entry, cases)


# ---------------------------------------------------------------------------
# Normal, t, chi-squared, tests
# ---------------------------------------------------------------------------

def normal_cases():
    cdf = []
    for x in (-38.5, -37.0, -30.0, -20.0, -10.0, -8.25, -5.0, -3.0, -1.959963984540054, -1.0, -0.3, 0.0,
              0.7, 1.5, 3.0, 6.0, 9.0):
        xm = mpf(x)
        cdf.append({"x": x, "cdf": s(erfc(-xm / sqrt(2)) / 2), "sf": s(erfc(xm / sqrt(2)) / 2)})
    def lower_quantile(pm):
        # Newton on ln Phi(z) = ln p (well conditioned in the far tail)
        z = -sqrt(-2 * log(pm)) if pm < mpf("0.3") else mpf(0)
        for _ in range(200):
            cdf_z = erfc(-z / sqrt(2)) / 2
            pdf_z = exp(-z * z / 2) / sqrt(2 * mp.pi)
            step = (log(cdf_z) - log(pm)) * cdf_z / pdf_z
            z -= step
            if abs(step) < mpf(10) ** -45 * max(1, abs(z)):
                break
        return z

    quantile = []
    for p in (1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 0.001, 0.025, 0.1, 0.3, 0.5, 0.6, 0.975, 0.999, 0.9999999):
        pm = mpf(p)
        z = lower_quantile(pm) if p <= 0.5 else -lower_quantile(1 - pm)
        quantile.append({"p": p, "value": s(z)})
    return {"cdf": cdf, "quantile": quantile}


def t_sf(t, df):
    t, df = mpf(t), mpf(df)
    x = df / (df + t * t)
    tail = ibeta(df / 2, mpf(1) / 2, x)[0] / 2
    return tail if t >= 0 else 1 - tail


def welch_cases():
    groups = [
        ((20, 1.0, 4.0), (25, 2.2, 9.0)),
        ((5, 10.0, 1.0), (7, 12.5, 2.25)),
        ((1000, 3.1, 25.0), (1200, 3.5, 30.0)),
        ((100000, 1.234, 3.5), (100000, 1.25, 3.6)),
        ((3, 0.0, 1.0), (3, 5.0, 1.0)),
        ((50, 12.0, 100.0), (40, 11.0, 0.5)),
    ]
    out = []
    for (na, ma, va), (nb, mb, vb) in groups:
        na_, nb_, ma_, mb_, va_, vb_ = map(mpf, (na, nb, ma, mb, va, vb))
        se2 = va_ / na_ + vb_ / nb_
        t = (mb_ - ma_) / sqrt(se2)
        df = se2 ** 2 / ((va_ / na_) ** 2 / (na_ - 1) + (vb_ / nb_) ** 2 / (nb_ - 1))
        p = 2 * t_sf(abs(t), df)
        out.append({"a": [na, ma, va], "b": [nb, mb, vb], "t": s(t), "df": s(df), "p": s(p)})
    t_points = []
    for t, df in ((2.0, 3.0), (-1.5, 10.5), (5.0, 1e6), (30.0, 4.0), (0.1, 1.0), (4.0, 2.5e4)):
        t_points.append({"t": t, "df": df, "sf": s(t_sf(t, df))})
    return {"welch": out, "t_sf": t_points}


def z_test_cases():
    cases = [(1000, 100, 1000, 120), (5000, 250, 5000, 300), (100, 0, 100, 1), (20000, 1000, 20000, 1200),
             (1000000, 50000, 1000000, 52000), (40, 10, 60, 11)]
    out = []
    for na, ca, nb, cb in cases:
        na_, ca_, nb_, cb_ = map(mpf, (na, ca, nb, cb))
        pool = (ca_ + cb_) / (na_ + nb_)
        z = (cb_ / nb_ - ca_ / na_) / sqrt(pool * (1 - pool) * (1 / na_ + 1 / nb_))
        out.append({"n_a": na, "c_a": ca, "n_b": nb, "c_b": cb, "z": s(z), "p": s(erfc(abs(z) / sqrt(2)))})
    return out


def chi_square_cases():
    out = []
    srm = [([5000, 5000], [0.5, 0.5]), ([5100, 4900], [0.5, 0.5]), ([5200, 4800], [0.5, 0.5]),
           ([1000, 1100, 950], [1, 1, 1]), ([8000, 2100], [0.8, 0.2]), ([120, 80, 95, 105], [1, 1, 1, 1])]
    for observed, weights in srm:
        total = sum(observed)
        wsum = sum(weights)
        expected = [mpf(w) / wsum * total for w in weights]
        stat = sum((mpf(o) - e) ** 2 / e for o, e in zip(observed, expected))
        df = len(observed) - 1
        p = gammainc(mpf(df) / 2, stat / 2, inf, regularized=True)
        out.append({"observed": observed, "expected": weights, "statistic": s(stat), "p": s(p)})
    sf = []
    for x, df in ((10.828, 1), (3.841458820694124, 1), (1.0, 1), (50.0, 1), (20.0, 9), (5.0, 3), (200.0, 150)):
        sf.append({"x": x, "df": df, "sf": s(gammainc(mpf(df) / 2, mpf(x) / 2, inf, regularized=True))})
    return {"srm": out, "sf": sf}


def gamma_cases():
    """ln Gamma (libm's lgamma is checked here before we build on it) and the regularized
    incomplete gamma functions."""
    ln_gamma = [{"x": x, "value": s(loggamma(mpf(x)))}
                for x in (0.5, 1.0, 1.5, 2.5, 7.0, 9.99, 10.0, 11.0, 101.0, 1000.5, 123456.0, 1e7 + 1)]
    reg = []
    for a, x in ((0.5, 0.1), (0.5, 5.414), (1.0, 3.0), (4.5, 2.0), (4.5, 20.0), (10.0, 9.0),
                 (75.0, 100.0), (75.0, 60.0), (500.0, 480.0)):
        p = gammainc(mpf(a), 0, mpf(x), regularized=True)
        reg.append({"a": a, "x": x, "p": s(p), "q": s(1 - p)})
    return {"ln_gamma": ln_gamma, "gamma_reg": reg}


def main():
    write("gamma.json", gamma_cases())
    write("beta_special.json", {"beta_reg": beta_reg_cases(), "beta_pdf": beta_pdf_cases(),
                                "beta_quantile": beta_quantile_cases()})
    write("prob_greater.json", prob_greater_cases())
    from multiprocessing import Pool
    with Pool(os.cpu_count() or 1) as pool:
        write("multi_arm.json", multi_arm_cases(pool))
        write("lift.json", lift_cases(pool))
    write("normal.json", normal_cases())
    write("tests.json", {"welch": welch_cases(), "z_test": z_test_cases(), "chi_square": chi_square_cases()})


if __name__ == "__main__":
    main()
