from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import skbio.diversity.alpha as sk

from benthos.ecology import diversity as D
from benthos.ecology import rarefaction as R
from benthos.ecology.counts import CountTable

# Spider data (Girdled, Logged) from iNEXT (Hsieh, Ma & Chao 2016), used in Chao et al. (2014)
GIRDLED = np.array([46, 22, 17, 15, 15, 9, 8, 6, 6, 4] + [2] * 4 + [1] * 12)
LOGGED = np.array([88, 22, 16, 15, 13, 10, 8, 8, 7, 7, 7, 5, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2] + [1] * 14)

RNG = np.random.default_rng(42)
VECTORS = [GIRDLED, LOGGED, np.array([5, 3, 1, 1, 2, 8, 1]), np.array([1, 1, 1, 2, 3]), np.array([10, 20, 30]),
           np.array([1, 1, 1, 1]), np.array([7]), RNG.poisson(3, 25)]


@pytest.mark.parametrize("x", VECTORS, ids=range(len(VECTORS)))
def test_matches_scikit_bio(x):
    x = x[x > 0]
    d = D.alpha_diversity(x)
    assert d["richness"] == sk.sobs(x)
    assert d["shannon"] == pytest.approx(sk.shannon(x), abs=1e-12)  # natural log in skbio >= 0.6
    assert d["simpson"] == pytest.approx(sk.simpson(x))
    assert d["hill_q1"] == pytest.approx(sk.hill(x, order=1))
    assert d["hill_q2"] == pytest.approx(sk.hill(x, order=2))
    assert d["hill_q2"] == pytest.approx(sk.inv_simpson(x))
    assert d["goods_coverage"] == pytest.approx(sk.goods_coverage(x))
    assert d["chao1"] == pytest.approx(sk.chao1(x, bias_corrected=True))
    assert D.chao1_ci(x, z=1.96) == pytest.approx(sk.chao1_ci(x, bias_corrected=True, zscore=1.96))
    if len(x) > 1:
        assert d["pielou"] == pytest.approx(sk.pielou_e(x))
    else:
        assert d["pielou"] is None and "single taxon" in d["undefined"]["pielou"]
    try:
        expected = sk.ace(x)
    except ValueError:
        assert d["ace"] is None and "singleton" in d["undefined"]["ace"]
    else:
        assert d["ace"] == pytest.approx(expected)


def test_inext_worked_example_spiders():
    # Hsieh, Ma & Chao (2016) / iNEXT AsyEst for the Girdled spiders: 43.893, 13.826, 8.175
    a = R.asymptotic(GIRDLED)
    assert a["q0"] == pytest.approx(43.893, abs=1e-3)
    assert a["q1"] == pytest.approx(13.826, abs=1e-3)
    assert a["q2"] == pytest.approx(8.175, abs=1e-3)
    assert R.hill_observed(GIRDLED, 1) == pytest.approx(12.060, abs=1e-3)
    assert R.hill_observed(GIRDLED, 2) == pytest.approx(7.840, abs=1e-3)
    assert R.asymptotic(LOGGED)["q0"] == pytest.approx(61.403, abs=1e-3)


def test_entropy_estimator_direct_formula():
    # Chao et al. (2013) eq. as printed (sum over k, direct series) agrees with our stable form
    x = LOGGED
    n, f1, f2 = x.sum(), (x == 1).sum(), (x == 2).sum()
    lch = lambda a, b: math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)  # noqa: E731
    first = sum(1 / k * sum(xi / n * math.exp(lch(n - xi, k) - lch(n - 1, k)) for xi in x if n - xi >= k) for k in range(1, n))
    a = 2 * f2 / ((n - 1) * f1 + 2 * f2)
    b = f1 / n * (1 - a) ** (1 - n) * (-math.log(a) - sum((1 - a) ** r / r for r in range(1, n)))
    assert R.entropy_chao2013(x) == pytest.approx(first + b, rel=1e-9)


def _subsets(x, m):
    """Every subsample of m individuals (without replacement) as count vectors."""
    ind = np.repeat(np.arange(len(x)), x)
    for sub in itertools.combinations(range(len(ind)), m):
        yield np.bincount(ind[list(sub)], minlength=len(x))


def test_interpolation_equals_exact_subsampling():
    x = np.array([4, 2, 1, 1])
    n = x.sum()
    for m in (2, 3, 5):
        subs = list(_subsets(x, m))
        rich = np.mean([(s > 0).sum() for s in subs])
        ent = np.mean([-(p[p > 0] * np.log(p[p > 0])).sum() for p in (s / m for s in subs)])
        simp = np.mean([((s / m) ** 2).sum() for s in subs])
        assert R.hurlbert(x, m) == pytest.approx(rich)
        got = R.hill_curve(x, 0, [m]), R.hill_curve(x, 1, [m]), R.hill_curve(x, 2, [m])
        assert got[0][0] == pytest.approx(rich)
        assert got[1][0] == pytest.approx(math.exp(ent))   # Chao et al. 2014: exp of expected entropy
        assert got[2][0] == pytest.approx(1 / simp)
    assert R.hurlbert(x, n) == len(x)


def test_extrapolation_formula_and_limits():
    x = GIRDLED
    n, s, f1, f2 = x.sum(), len(x), (x == 1).sum(), (x == 2).sum()
    f0 = (n - 1) / n * f1**2 / (2 * f2)
    m = np.array([n, n + 10, 2 * n, 50 * n])
    q0 = R.hill_curve(x, 0, m)
    expected = s + f0 * (1 - (1 - f1 / (n * f0 + f1)) ** (m - n))  # Chao et al. (2014) eq. 9
    assert q0 == pytest.approx(expected)
    assert q0[-1] == pytest.approx(R.asymptotic(x)["q0"], rel=1e-3)
    q1 = R.hill_curve(x, 1, m)
    assert q1[0] == pytest.approx(R.hill_observed(x, 1)) and q1[-1] == pytest.approx(R.asymptotic(x)["q1"], rel=1e-3)
    assert np.all(np.diff(q1) > 0)


def test_curves_with_bootstrap_intervals():
    c = R.inext(GIRDLED, nboot=30, seed=3)
    assert c.n in c.m.tolist() and c.m.max() == 2 * c.n
    for k in ("q0", "q1", "q2"):
        assert np.all(c.lower[k] <= c.values[k] + 1e-9) and np.all(c.values[k] <= c.upper[k] + 1e-9)
        assert np.all(np.diff(c.values[k]) >= -1e-9)
    assert c.asymptote["q0"]["lower"] >= 26 and c.asymptote["q0"]["upper"] > 43.9
    cov = c.values["coverage"]
    assert cov[c.m == c.n][0] == pytest.approx(1 - 12 / 168 * (167 * 12 / (167 * 12 + 8)))
    again = R.inext(GIRDLED, nboot=30, seed=3)
    assert np.array_equal(again.upper["q0"], c.upper["q0"])  # seeded: reproducible
    p = R.bootstrap_community(GIRDLED)
    assert p.sum() == pytest.approx(1) and len(p) == 26 + math.ceil((167 / 168) * 144 / 8)


def test_accumulation_exact_matches_all_orders():
    inc = np.array([[1, 0, 0, 2], [0, 1, 0, 1], [3, 0, 1, 0], [0, 0, 0, 5]])
    acc = R.accumulation(inc, permutations=50)
    perms = list(itertools.permutations(range(4)))
    brute = np.mean([np.logical_or.accumulate(inc[list(p)] > 0, axis=0).sum(1) for p in perms], axis=0)
    assert acc["richness"] == pytest.approx(brute.tolist())
    assert acc["collector"] == [2, 3, 4, 4]


def test_by_sample_rarefies_to_smallest_and_is_json_safe():
    table = CountTable.example()
    res = D.diversity_by_sample(table, depths=[50], nboot=5)
    smallest = str(int(table.counts.sum(1).min()))
    assert set(res) == set(table.samples)
    assert smallest in res["station_1"]["rarefied"] and res["station_2"]["rarefied"][smallest] == res["station_2"]["richness"]
    assert res["station_2"]["rarefied"]["50"] is None and "only 18" in res["station_2"]["undefined"]["rarefied:50"]
    json.dumps(res, allow_nan=False)


def test_undefined_estimators_say_why():
    d = D.alpha_diversity(np.array([1, 1, 1]))
    assert d["ace"] is None and d["undefined"]["ace"]
    res = D.diversity_by_sample(CountTable(["s"], ["a", "b", "c"], np.array([[1, 1, 1]])), nboot=3)
    assert res["s"]["asymptotic"]["q2"]["estimate"] is None and "asymptotic.q2" in res["s"]["undefined"]
    json.dumps(res, allow_nan=False)
