"""Independent reference values for the end-to-end results test (tests/api/results.rs),
computed with mpmath at 50 digits: python3 tests/reference/results_api.py"""
from mpmath import mp, mpf, quad, betainc, beta as B, sqrt, erfc, inf

mp.dps = 50

def beta_pdf(x, a, b):
    return x ** (a - 1) * (1 - x) ** (b - 1) / B(a, b)

def beta_cdf(x, a, b):
    return betainc(a, b, 0, x, regularized=True)

def prob_greater(x, y):
    """P(X > Y), X ~ Beta(x), Y ~ Beta(y), by quadrature of f_X(t) F_Y(t)."""
    return quad(lambda t: beta_pdf(t, *x) * beta_cdf(t, *y), [0, mpf(1) / 4, mpf(1) / 2, 1])

def expected_loss(x, y):
    """E[max(Y - X, 0)] = ∫ F_X(t) (1 - F_Y(t)) dt."""
    return quad(lambda t: beta_cdf(t, *x) * (1 - beta_cdf(t, *y)), [0, mpf(1) / 4, mpf(1) / 2, 1])

def z_test(n_a, c_a, n_b, c_b):
    p = mpf(c_a + c_b) / (n_a + n_b)
    z = (mpf(c_b) / n_b - mpf(c_a) / n_a) / sqrt(p * (1 - p) * (mpf(1) / n_a + mpf(1) / n_b))
    return erfc(abs(z) / sqrt(2))

# control a: 100 users, 10 converted; b: 100 users, 15 converted
a = (11, 91)
b = (16, 86)
print("chance_to_beat_control(b)", mp.nstr(prob_greater(b, a), 20))
print("probability_best(b)", mp.nstr(prob_greater(b, a), 20))
print("expected_loss(a)", mp.nstr(expected_loss(a, b), 20))
print("expected_loss(b)", mp.nstr(expected_loss(b, a), 20))
print("p_value(b)", mp.nstr(z_test(100, 10, 100, 15), 20))


def beta_quantile(q, a, b):
    lo, hi = mpf(0), mpf(1)
    for _ in range(120):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2

def ratio_cdf(r, v, c):
    """P(p_v / p_c <= r) = ∫ f_c(x) F_v(r x) dx."""
    return quad(lambda x: beta_pdf(x, *c) * beta_cdf(min(r * x, 1), *v), [0, mpf(1) / 8, mpf(1) / 4, 1])

def ratio_quantile(q, v, c):
    lo, hi = mpf("0.1"), mpf(10)
    for _ in range(60):  # bisection: slow but simple and sure
        mid = (lo + hi) / 2
        if ratio_cdf(mid, v, c) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2

mp.dps = 30
print("lift(b).low", mp.nstr(ratio_quantile(mpf("0.025"), b, a) - 1, 15))
print("lift(b).high", mp.nstr(ratio_quantile(mpf("0.975"), b, a) - 1, 15))
print("rate(a).low", mp.nstr(beta_quantile(mpf("0.025"), 11, 91), 20))
print("rate(a).high", mp.nstr(beta_quantile(mpf("0.975"), 11, 91), 20))

# Revenue: values per user; control a and variant b.
from mpmath import ncdf
va = [mpf(x) for x in (10, 0, 5, 0, 0, 20)]
vb = [mpf(x) for x in (20, 10, 0, 30, 5, 0)]
def mean_var(xs):
    n = len(xs); m = sum(xs) / n
    return n, m, sum((x - m) ** 2 for x in xs) / (n - 1)
na, ma, sa = mean_var(va)
nb, mb, sb = mean_var(vb)
# Welch: t and Welch–Satterthwaite df, two-sided p from the t distribution (regularized beta).
se2 = sa / na + sb / nb
t = (mb - ma) / sqrt(se2)
df = se2 ** 2 / ((sa / na) ** 2 / (na - 1) + (sb / nb) ** 2 / (nb - 1))
print("revenue p_value(b)", mp.nstr(betainc(df / 2, mpf(1) / 2, 0, df / (df + t * t), regularized=True), 20))
# Delta method (GrowthBook): relative lift and its variance, chance = Phi(lift / sd).
lift = (mb - ma) / ma
var = sa / na * mb ** 2 / ma ** 4 + sb / nb / ma ** 2
print("revenue lift(b)", mp.nstr(lift, 20), "sd", mp.nstr(sqrt(var), 20))
print("revenue chance_to_beat_control(b)", mp.nstr(ncdf(lift / sqrt(var)), 20))
