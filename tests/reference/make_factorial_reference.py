#!/usr/bin/env python3
"""Reference values for the factorial effects (tests/stats/factorial.rs), in 50-digit mpmath.

How they were made, from the crate root (mpmath 1.3, nothing else):

    python3 tests/reference/make_factorial_reference.py > tests/reference/factorial.json

The output is deterministic. Nothing here calls the Rust code, and the method is not the
code's (which sums each contrast's cells with weights ±1/R):

- Each cell's estimate: a conversion cell's Beta(1 + c, 1 + n - c) posterior mean and
  variance, or a given mean and variance of the mean (a value metric).
- The saturated cell-means model in sum-to-zero (deviation) coding: for a factor with L
  levels, level 0 is coded (-1, ..., -1) and level l >= 1 the unit vector e_l; the columns are
  the intercept and the products of the codes over every subset of factors, one column per
  cell, so the design matrix X is square and invertible. Weighted least squares with the
  cells' variances D fits the cell means exactly: gamma = X^-1 m, Cov(gamma) = X^-1 D X^-T
  (= (X^T D^-1 X)^-1), solved by mpmath's LU.
- Because every code sums to zero over a factor's levels, averaging a cell mean over the
  other factors' levels keeps only the terms of the factors in question. A main effect of
  level a of factor f is (code_f(a) - code_f(0)) applied to f's main-effect columns; a
  two-way interaction of (a, b) of (f, g) is the outer product
  (code_f(a) - code_f(0)) x (code_g(b) - code_g(0)) applied to the (f, g) columns. Its
  variance is c^T Cov(gamma) c, its interval mean +- z sd with z = sqrt(2) erfinv(level).
- Checked against the direct formulas (differences of marginal means over cells, and the
  difference of differences averaged over the other factors): agreement to 1e-40 asserted.

A contrast that uses a cell without data (variance null in the JSON) is null.
"""

import itertools
import json
import sys

from mpmath import erfinv, inf, matrix, mp, mpf, lu_solve, sqrt

mp.dps = 50


def s(v):
    """A value as a 25-significant-digit string (parsed by the Rust tests)."""
    return mp.nstr(mpf(v), 25, min_fixed=-inf, max_fixed=inf) if v != 0 else "0"


def cells_of(levels):
    """Every cell's levels, last factor fastest (the code's numbering)."""
    return list(itertools.product(*[range(l) for l in levels]))


def code(level, count):
    """Sum-to-zero code of a level: (-1, ..., -1) for the control, e_l otherwise."""
    if level == 0:
        return [mpf(-1)] * (count - 1)
    return [mpf(1) if j == level - 1 else mpf(0) for j in range(count - 1)]


def columns(levels):
    """Saturated model's columns: (subset of factors, index within each factor's code)."""
    cols = []
    factors = range(len(levels))
    for size in range(len(levels) + 1):
        for subset in itertools.combinations(factors, size):
            for idx in itertools.product(*[range(levels[f] - 1) for f in subset]):
                cols.append((subset, idx))
    return cols


def design_matrix(levels):
    cells = cells_of(levels)
    cols = columns(levels)
    assert len(cols) == len(cells)
    x = matrix(len(cells), len(cols))
    for i, cell in enumerate(cells):
        for j, (subset, idx) in enumerate(cols):
            v = mpf(1)
            for f, k in zip(subset, idx):
                v *= code(cell[f], levels[f])[k]
            x[i, j] = v
    return x, cols


def fit(levels, means, variances):
    """gamma = X^-1 m and Cov(gamma) = X^-1 D X^-T for the cells with data."""
    x, cols = design_matrix(levels)
    n = len(means)
    gamma = lu_solve(x, matrix(means))
    # X^-1 column by column.
    inverse = matrix(n, n)
    for k in range(n):
        e = matrix(n, 1)
        e[k] = 1
        col = lu_solve(x, e)
        for i in range(n):
            inverse[i, k] = col[i]
    cov = matrix(n, n)
    for i in range(n):
        for j in range(n):
            cov[i, j] = sum(inverse[i, k] * variances[k] * inverse[j, k] for k in range(n))
    return cols, gamma, cov


def effect(cols, gamma, cov, wanted, z):
    """Contrast with coefficient wanted[(subset, idx)] on each column."""
    c = [wanted.get(col, mpf(0)) for col in cols]
    mean = sum(ci * g for ci, g in zip(c, gamma))
    var = sum(c[i] * cov[i, j] * c[j] for i in range(len(c)) for j in range(len(c)))
    sd = sqrt(var)
    return mean, sd, mean - z * sd, mean + z * sd


def direct_main(levels, means, f, a):
    cells = cells_of(levels)
    r = mpf(len(cells)) / levels[f]
    return sum(m for cell, m in zip(cells, means) if cell[f] == a) / r - sum(
        m for cell, m in zip(cells, means) if cell[f] == 0
    ) / r


def direct_interaction(levels, means, f, g, a, b):
    cells = cells_of(levels)
    by = {cell: m for cell, m in zip(cells, means)}
    others = [h for h in range(len(levels)) if h not in (f, g)]
    total = mpf(0)
    combos = list(itertools.product(*[range(levels[h]) for h in others]))
    for combo in combos:
        def m(i, j):
            cell = [0] * len(levels)
            cell[f], cell[g] = i, j
            for h, l in zip(others, combo):
                cell[h] = l
            return by[tuple(cell)]

        total += m(a, b) - m(a, 0) - m(0, b) + m(0, 0)
    return total / len(combos)


def case(name, levels, cells, level=0.95):
    """cells: list of {"users", "conversions"} or {"mean", "variance"} (variance None = no data)."""
    means, variances, has_data = [], [], []
    for c in cells:
        if "users" in c:
            a = 1 + mpf(c["conversions"])
            b = 1 + mpf(c["users"] - c["conversions"])
            means.append(a / (a + b))
            variances.append(a * b / ((a + b) ** 2 * (a + b + 1)))
            has_data.append(True)
        else:
            known = c["variance"] is not None
            means.append(mpf(c["mean"]))
            variances.append(mpf(c["variance"]) if known else mpf(0))
            has_data.append(known)
    z = sqrt(2) * erfinv(mpf(level))
    cols, gamma, cov = fit(levels, means, variances)
    all_cells = cells_of(levels)

    def uses(pred):
        return all(d for cell, d in zip(all_cells, has_data) if pred(cell))

    def entry(mean, sd, low, high):
        return {"mean": s(mean), "sd": s(sd), "low": s(low), "high": s(high)}

    main = []
    for f in range(len(levels)):
        for a in range(1, levels[f]):
            diff = [p - q for p, q in zip(code(a, levels[f]), code(0, levels[f]))]
            wanted = {((f,), (k,)): diff[k] for k in range(levels[f] - 1)}
            mean, sd, low, high = effect(cols, gamma, cov, wanted, z)
            assert abs(mean - direct_main(levels, means, f, a)) < mpf(10) ** -40
            ok = uses(lambda cell: cell[f] in (0, a))
            main.append({"factor": f, "level": a, "effect": entry(mean, sd, low, high) if ok else None})
    inter = []
    for f in range(len(levels)):
        for g in range(f + 1, len(levels)):
            for a in range(1, levels[f]):
                for b in range(1, levels[g]):
                    df = [p - q for p, q in zip(code(a, levels[f]), code(0, levels[f]))]
                    dg = [p - q for p, q in zip(code(b, levels[g]), code(0, levels[g]))]
                    wanted = {
                        ((f, g), (j, k)): df[j] * dg[k]
                        for j in range(levels[f] - 1)
                        for k in range(levels[g] - 1)
                    }
                    mean, sd, low, high = effect(cols, gamma, cov, wanted, z)
                    assert abs(mean - direct_interaction(levels, means, f, g, a, b)) < mpf(10) ** -40
                    ok = uses(lambda cell: cell[f] in (0, a) and cell[g] in (0, b))
                    inter.append(
                        {
                            "factors": [f, g],
                            "levels": [a, b],
                            "effect": entry(mean, sd, low, high) if ok else None,
                        }
                    )
    return {
        "name": name,
        "levels": levels,
        "level": level,
        "cells": cells,
        "main_effects": main,
        "interactions": inter,
    }


def counts(pairs):
    return [{"users": n, "conversions": c} for n, c in pairs]


CASES = [
    case(
        "2x3 conversion, unbalanced",
        [2, 3],
        counts([(1200, 118), (430, 61), (2050, 170), (800, 97), (3100, 402), (515, 40)]),
    ),
    case(
        "2x2x2 conversion, unbalanced (a bandit's counts)",
        [2, 2, 2],
        counts(
            [
                (310, 29),
                (655, 71),
                (1210, 139),
                (4870, 611),
                (280, 33),
                (905, 118),
                (2210, 302),
                (12400, 1785),
            ]
        ),
    ),
    case(
        "3x2 value per user, 90% level",
        [3, 2],
        [
            {"mean": 10.25, "variance": 0.31},
            {"mean": 11.5, "variance": 0.52},
            {"mean": 12.125, "variance": 0.27},
            {"mean": 9.75, "variance": 0.8},
            {"mean": 13.0, "variance": 0.44},
            {"mean": 14.875, "variance": 0.61},
        ],
        level=0.90,
    ),
    case(
        "2x3 value per user, one cell without data",
        [2, 3],
        [
            {"mean": 5.0, "variance": 0.04},
            {"mean": 5.5, "variance": 0.05},
            {"mean": 6.25, "variance": 0.06},
            {"mean": 4.5, "variance": 0.03},
            {"mean": 0.0, "variance": None},
            {"mean": 7.0, "variance": 0.07},
        ],
    ),
]

json.dump(CASES, sys.stdout, indent=1)
sys.stdout.write("\n")
