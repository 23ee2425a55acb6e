"""Rarefaction and extrapolation of Hill numbers (Chao et al. 2014, the method of iNEXT).

Sample-size-based curves for q = 0, 1, 2 from one vector of abundances: exact interpolation
below the observed sample size n, extrapolation above it towards the asymptotic estimators
(Chao1, Chao et al. 2013 entropy, Simpson), and bootstrap intervals from the estimated
"bootstrap community" of Chao et al. (2014, Appendix). Also Hurlbert's expected richness and
the species-accumulation curve over samples.

References: Hurlbert (1971) Ecology 52:577; Chao & Jost (2012) Ecology 93:2533;
Chao, Wang & Jost (2013) Methods Ecol Evol 4:1091; Chao et al. (2014) Ecol Monogr 84:45;
Hsieh, Ma & Chao (2016) Methods Ecol Evol 7:1451 (iNEXT).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import integrate
from scipy.special import digamma, gammaln

Z95 = 1.959963984540054


def _lchoose(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    return gammaln(np.asarray(a, float) + 1) - gammaln(np.asarray(b, float) + 1) - gammaln(np.asarray(a, float) - b + 1)


def _clean(counts: Any) -> np.ndarray:
    x = np.asarray(counts, dtype=np.int64)
    return x[x > 0]


def hurlbert(counts: Any, m: int) -> float:
    """Hurlbert's expected number of taxa in a random subsample of m individuals (without replacement)."""
    x = _clean(counts)
    n = int(x.sum())
    if not 0 < m <= n:
        raise ValueError(f"m must be in 1..{n}")
    absent = np.zeros(len(x))
    ok = n - x >= m  # a taxon with more than n - m individuals is always drawn
    absent[ok] = np.exp(_lchoose(n - x[ok], m) - _lchoose(n, m))
    return float((1.0 - absent).sum())


def _shannon_interp(x: np.ndarray, n: int, m: int) -> float:
    """exp(H_m): expected-frequency Shannon diversity of a subsample of size m < n (Chao et al. 2014, eq. 5b)."""
    vals, freq = np.unique(x, return_counts=True)
    h = 0.0
    lc = _lchoose(n, m)
    for v, f in zip(vals, freq):
        k = np.arange(max(1, m - (n - v)), min(v, m) + 1)
        pk = np.exp(_lchoose(v, k) + _lchoose(n - v, m - k) - lc)
        h -= f * float((pk * (k / m) * np.log(k / m)).sum())
    return math.exp(h)


def _simpson_sum(x: np.ndarray, n: int) -> float:
    return float((x * (x - 1)).sum()) / (n * (n - 1)) if n > 1 else 0.0


def entropy_chao2013(counts: Any) -> float:
    """Chao, Wang & Jost (2013) nearly unbiased estimator of Shannon entropy (natural log)."""
    x = _clean(counts)
    n = int(x.sum())
    f1, f2 = int((x == 1).sum()), int((x == 2).sum())
    if n == 1:
        return 0.0
    rare = x[x <= n - 1]
    h = float((rare / n * (digamma(n) - digamma(rare))).sum())
    if f2 > 0:
        a = 2 * f2 / ((n - 1) * f1 + 2 * f2)
    elif f1 > 0:
        a = 2 / ((n - 1) * (f1 - 1) + 2)
    else:
        a = 1.0
    if a < 1:
        # f1/n (1-A)^(1-n) (-ln A - sum_{r<n} (1-A)^r/r) rewritten as an integral: the direct
        # form subtracts two nearly equal numbers and overflows for large n
        r = 1 - a
        tail, _ = integrate.quad(lambda t: t ** (n - 1) / (1 - r * t), 0, 1, limit=200)
        h += f1 / n * r * tail
    return h


def asymptotic(counts: Any) -> dict[str, float | None]:
    """Asymptotic Hill numbers q=0,1,2 as in iNEXT (Chao1 with the (n-1)/n factor, Chao 2013, Simpson)."""
    x = _clean(counts)
    n, s = int(x.sum()), len(x)
    f1, f2 = int((x == 1).sum()), int((x == 2).sum())
    f0 = (n - 1) / n * (f1**2 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2)
    obs1 = math.exp(-(x / n * np.log(x / n)).sum())
    ssum = _simpson_sum(x, n)
    q2 = max(1.0 / ssum, 1.0 / float((x / n) @ (x / n))) if ssum > 0 else None
    return {"q0": s + f0, "q1": max(math.exp(entropy_chao2013(x)), obs1), "q2": q2}


def _f0_hat(x: np.ndarray, n: int) -> float:
    f1, f2 = int((x == 1).sum()), int((x == 2).sum())
    return (n - 1) / n * (f1**2 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2)


def hill_curve(counts: Any, q: int, m: np.ndarray) -> np.ndarray:
    """Interpolated (m < n) and extrapolated (m > n) Hill number of order q at sample sizes m."""
    x = _clean(counts)
    n = int(x.sum())
    m = np.asarray(m, dtype=np.int64)
    out = np.empty(len(m))
    ssum = _simpson_sum(x, n)
    obs = float(hill_observed(x, q))
    if q == 2:
        # one formula serves both sides for q = 2 (Chao et al. 2014, eq. 6c)
        return 1.0 / (1.0 / m + (1 - 1.0 / m) * ssum)
    asy = asymptotic(x)[f"q{q}"]
    prev = _interp(x, n, q, n - 1) if n > 1 else obs
    beta = (obs - prev) / (asy - prev) if asy is not None and asy != prev else 0.0
    for i, mi in enumerate(m):
        if mi < n:
            out[i] = _interp(x, n, q, int(mi))
        elif mi == n:
            out[i] = obs
        else:
            # iNEXT's extrapolation; for q = 0 beta = f1/(n f0 + f1), i.e. Chao et al. (2014) eq. 9
            out[i] = obs + (asy - obs) * (1 - (1 - beta) ** (mi - n))
    return out


def _interp(x: np.ndarray, n: int, q: int, m: int) -> float:
    if q == 0:
        return hurlbert(x, m)
    if q == 1:
        return _shannon_interp(x, n, m)
    return 1.0 / (1.0 / m + (1 - 1.0 / m) * _simpson_sum(x, n))


def hill_observed(x: np.ndarray, q: int) -> float:
    p = x / x.sum()
    if q == 0:
        return float(len(x))
    if q == 1:
        return float(np.exp(-(p * np.log(p)).sum()))
    return float(1.0 / (p @ p))


def coverage_curve(counts: Any, m: np.ndarray) -> np.ndarray:
    """Estimated sample coverage at sample sizes m (Chao & Jost 2012)."""
    x = _clean(counts)
    n = int(x.sum())
    f1, f2 = int((x == 1).sum()), int((x == 2).sum())
    a = (n - 1) * f1 / ((n - 1) * f1 + 2 * f2) if f2 > 0 else ((n - 1) * f1 / ((n - 1) * f1 + 2) if f1 else 0.0)
    out = []
    for mi in np.asarray(m, dtype=np.int64):
        if mi < n:
            ok = n - x >= mi
            out.append(1 - float((x[ok] / n * np.exp(_lchoose(n - x[ok], mi) - _lchoose(n - 1, mi))).sum()))
        elif mi == n:
            out.append(1 - f1 / n * a)
        else:
            out.append(1 - f1 / n * a ** (mi - n + 1))
    return np.asarray(out)


def bootstrap_community(counts: Any) -> np.ndarray:
    """Estimated relative abundances of detected and undetected taxa (Chao et al. 2014, Appendix S2; iNEXT)."""
    x = _clean(counts).astype(float)
    n = x.sum()
    f1 = int((x == 1).sum())
    f0 = _f0_hat(x.astype(np.int64), int(n))
    a_ = n * f0 / (n * f0 + f1) if f1 > 0 else 1.0
    a = f1 / n * a_
    b = float((x / n * (1 - x / n) ** n).sum())
    w = a / b if f0 > 0 and b > 0 else 0.0
    p = x / n * (1 - w * (1 - x / n) ** n)
    k = math.ceil(f0)
    unseen = np.full(k, a / k) if k > 0 else np.empty(0)
    p = np.concatenate([p, unseen])
    return p / p.sum()


def sample_sizes(n: int, endpoint: int | None = None, knots: int = 40) -> np.ndarray:
    """Knots as iNEXT spaces them: about knots/2 below n, n itself, knots/2 up to the endpoint."""
    endpoint = endpoint or 2 * n
    below = np.unique(np.round(np.linspace(1, n, max(knots // 2, 2))).astype(np.int64))
    above = np.unique(np.round(np.linspace(n, endpoint, knots // 2 + 1)).astype(np.int64)) if endpoint > n else np.empty(0, np.int64)
    return np.unique(np.concatenate([below, above, [n]]))


@dataclass
class Curve:
    """Rarefaction/extrapolation curves of one sample: m, Hill numbers q=0,1,2, coverage, and intervals."""

    m: np.ndarray
    n: int
    values: dict[str, np.ndarray]
    lower: dict[str, np.ndarray] = field(default_factory=dict)
    upper: dict[str, np.ndarray] = field(default_factory=dict)
    asymptote: dict[str, dict[str, float | None]] = field(default_factory=dict)
    nboot: int = 0

    def rows(self, sample: str = "") -> list[dict[str, Any]]:
        """Long rows: sample, order, m, method (interpolated/observed/extrapolated), value, lower, upper."""
        out = []
        for key in ("q0", "q1", "q2", "coverage"):
            for i, mi in enumerate(self.m):
                method = "interpolated" if mi < self.n else ("observed" if mi == self.n else "extrapolated")
                out.append(dict(sample=sample, order=key, m=int(mi), method=method, value=float(self.values[key][i]),
                                lower=float(self.lower[key][i]) if key in self.lower else None,
                                upper=float(self.upper[key][i]) if key in self.upper else None))
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"n": self.n, "m": self.m.tolist(), "nboot": self.nboot, "asymptote": self.asymptote}
        for key in self.values:
            d[key] = {"value": self.values[key].tolist(), "lower": self.lower.get(key, np.array([])).tolist(),
                      "upper": self.upper.get(key, np.array([])).tolist()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Curve:
        keys = [k for k in ("q0", "q1", "q2", "coverage") if k in d]
        return cls(np.asarray(d["m"]), int(d["n"]), {k: np.asarray(d[k]["value"]) for k in keys},
                   {k: np.asarray(d[k]["lower"]) for k in keys if d[k]["lower"]},
                   {k: np.asarray(d[k]["upper"]) for k in keys if d[k]["upper"]}, dict(d.get("asymptote", {})), int(d.get("nboot", 0)))


def inext(counts: Any, endpoint: int | None = None, knots: int = 40, nboot: int = 50, seed: int = 0) -> Curve:
    """Rarefaction/extrapolation curves for q=0,1,2 with bootstrap 95% intervals (iNEXT's method)."""
    x = _clean(counts)
    n = int(x.sum())
    if n == 0:
        raise ValueError("empty sample")
    m = sample_sizes(n, endpoint, knots)
    vals = {f"q{q}": hill_curve(x, q, m) for q in (0, 1, 2)}
    vals["coverage"] = coverage_curve(x, m)
    asy = asymptotic(x)
    curve = Curve(m, n, vals, nboot=nboot)
    boots: dict[str, list[np.ndarray]] = {k: [] for k in vals}
    boot_asy: dict[str, list[float]] = {k: [] for k in ("q0", "q1", "q2")}
    if nboot > 1:
        rng = np.random.default_rng(seed)
        p = bootstrap_community(x)
        for draw in rng.multinomial(n, p, size=nboot):
            xb = draw[draw > 0]
            for q in (0, 1, 2):
                boots[f"q{q}"].append(hill_curve(xb, q, m))
            boots["coverage"].append(coverage_curve(xb, m))
            for k, v in asymptotic(xb).items():
                if v is not None:
                    boot_asy[k].append(v)
        for k, b in boots.items():
            se = np.std(np.asarray(b), axis=0, ddof=1)
            curve.lower[k] = np.maximum(vals[k] - Z95 * se, 0.0)
            curve.upper[k] = vals[k] + Z95 * se
        curve.lower["coverage"] = np.clip(curve.lower["coverage"], 0, 1)
        curve.upper["coverage"] = np.clip(curve.upper["coverage"], 0, 1)
    for k, est in asy.items():
        obs = hill_observed(x, int(k[1]))
        entry: dict[str, float | None] = {"observed": obs, "estimate": est, "se": None, "lower": None, "upper": None}
        if est is not None and len(boot_asy[k]) > 1:
            se = float(np.std(boot_asy[k], ddof=1))
            # as iNEXT: the interval never goes below what was observed
            entry.update(se=se, lower=max(obs, est - Z95 * se), upper=est + Z95 * se)
        curve.asymptote[k] = entry
    return curve


def accumulation(incidence: np.ndarray, permutations: int = 100, seed: int = 0) -> dict[str, list[float]]:
    """Species-accumulation over samples: exact expected richness for k random samples (Kindt's
    'exact' method, vegan ``specaccum(method="exact")``), its permutation SD, and the curve in file order.

    ``incidence`` is (n_samples, n_taxa) counts or 0/1.
    """
    inc = np.asarray(incidence) > 0
    n_samples = inc.shape[0]
    occ = inc.sum(0)
    occ = occ[occ > 0]
    ks = np.arange(1, n_samples + 1)
    exact = []
    for k in ks:
        ok = n_samples - occ >= k
        absent = np.zeros(len(occ))
        absent[ok] = np.exp(_lchoose(n_samples - occ[ok], k) - _lchoose(n_samples, k))
        exact.append(float((1 - absent).sum()))
    rng = np.random.default_rng(seed)
    perms = None
    if permutations > 1:
        perms = np.array([np.logical_or.accumulate(inc[rng.permutation(n_samples)], axis=0).sum(1)
                          for _ in range(permutations)])
    collector = np.logical_or.accumulate(inc, axis=0).sum(1)
    return {"samples": ks.tolist(), "richness": exact,
            "sd": perms.std(0, ddof=1).tolist() if perms is not None else [],
            "collector": collector.astype(float).tolist()}
