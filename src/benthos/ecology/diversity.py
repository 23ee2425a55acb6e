"""Alpha diversity of one sample of counts: richness, Shannon, Simpson, Hill numbers, Chao1, ACE.

Conventions (match scikit-bio where it has the estimator):
  shannon  H' with the natural log          simpson  Gini-Simpson, 1 - sum p^2
  hill_q1  exp(H')                          hill_q2  1 / sum p^2 (inverse Simpson)
  chao1    bias-corrected, S + F1(F1-1)/(2(F2+1)), 95% interval by the EstimateS rules
  ace      Chao & Lee (1992), rare taxa = counts <= 10
Estimators that are undefined for a sample are None, with the reason in ``undefined``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from benthos.ecology.rarefaction import hurlbert

Z95 = 1.959963984540054


def _as_counts(counts: Any) -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 1:
        raise ValueError("counts must be a 1-D vector")
    if c.size and (np.any(c < 0) or np.any(c != np.round(c))):
        raise ValueError("counts must be non-negative whole numbers")
    return c.astype(np.int64)


def shannon(counts: Any) -> float:
    """Shannon entropy H' (natural log)."""
    c = _as_counts(counts)
    p = c[c > 0] / c.sum()
    return max(0.0, float(-(p * np.log(p)).sum()))  # max: no "-0.0" for a single taxon


def gini_simpson(counts: Any) -> float:
    """Gini-Simpson index 1 - sum p^2."""
    c = _as_counts(counts)
    p = c / c.sum()
    return float(1.0 - (p**2).sum())


def hill(counts: Any, q: float) -> float:
    """Hill number (effective number of taxa) of order q."""
    c = _as_counts(counts)
    p = c[c > 0] / c.sum()
    if q == 0:
        return float(len(p))
    if q == 1:
        return float(np.exp(-(p * np.log(p)).sum()))
    return float((p**q).sum() ** (1.0 / (1.0 - q)))


def chao1(counts: Any) -> float:
    """Bias-corrected Chao1: S_obs + F1(F1-1) / (2(F2+1))."""
    c = _as_counts(counts)
    s, f1, f2 = int((c > 0).sum()), int((c == 1).sum()), int((c == 2).sum())
    return s + f1 * (f1 - 1) / (2.0 * (f2 + 1))


def chao1_ci(counts: Any, z: float = Z95) -> tuple[float, float]:
    """95% interval of bias-corrected Chao1 (EstimateS manual eqs. 6, 7, 13, 14; Chao 1987 log-normal)."""
    c = _as_counts(counts)
    s, f1, f2, n = int((c > 0).sum()), int((c == 1).sum()), int((c == 2).sum()), int(c.sum())
    if f1 == 0:
        # eq. 14: no singletons, the estimate is S_obs and the interval comes from the sample size alone
        p = math.exp(-n / s)
        half = z * math.sqrt(s * p / (1 - p))
        return max(s, s / (1 - p) - half), s / (1 - p) + half
    est = chao1(c)
    if f2 == 0:
        var = f1 * (f1 - 1) / 2 + f1 * (2 * f1 - 1) ** 2 / 4 - f1**4 / (4 * est)  # eq. 7
    else:
        var = (f1 * (f1 - 1) / (2 * (f2 + 1)) + f1 * (2 * f1 - 1) ** 2 / (4 * (f2 + 1) ** 2)
               + f1**2 * f2 * (f1 - 1) ** 2 / (4 * (f2 + 1) ** 4))  # eq. 6
    t = est - s
    if t == 0:
        return float(s), float(s)
    k = math.exp(z * math.sqrt(math.log(1 + var / t**2)))
    return s + t / k, s + t * k


def ace(counts: Any, rare_threshold: int = 10) -> tuple[float | None, str | None]:
    """Abundance-based coverage estimator; (value, None) or (None, reason)."""
    c = _as_counts(counts)
    c = c[c > 0]
    rare = c[c <= rare_threshold]
    s_abund = int((c > rare_threshold).sum())
    f1 = int((rare == 1).sum())
    if rare.size == 0:
        return float(s_abund), None
    if f1 == rare.size:
        return None, (f"ACE is undefined: every rare taxon (count <= {rare_threshold}) is a singleton, so the "
                      "sample coverage of rare taxa is 0; use chao1 instead")
    n_rare = int(rare.sum())
    c_ace = 1 - f1 / n_rare
    gamma = max(len(rare) * int((rare * (rare - 1)).sum()) / (c_ace * n_rare * (n_rare - 1)) - 1, 0.0)
    return s_abund + len(rare) / c_ace + f1 / c_ace * gamma, None


def alpha_diversity(counts: Any, depths: list[int] | tuple[int, ...] = ()) -> dict[str, Any]:
    """All per-sample figures for one count vector (JSON-safe; no NaN)."""
    c = _as_counts(counts)
    n = int(c.sum())
    if n == 0:
        raise ValueError("empty sample")
    s = int((c > 0).sum())
    f1, f2 = int((c == 1).sum()), int((c == 2).sum())
    undefined: dict[str, str] = {}
    h = shannon(c)
    pielou = h / math.log(s) if s > 1 else None
    if pielou is None:
        undefined["pielou"] = "Pielou evenness is undefined with a single taxon (ln S = 0)"
    ace_value, why = ace(c)
    if why:
        undefined["ace"] = why
    lo, hi = chao1_ci(c)
    rarefied: dict[str, float | None] = {}
    for m in sorted(set(int(d) for d in depths)):
        if m > n:
            rarefied[str(m)] = None
            undefined[f"rarefied:{m}"] = f"cannot rarefy to {m} individuals: the sample has only {n}"
        else:
            rarefied[str(m)] = hurlbert(c, m)
    return {
        "n": n, "richness": s, "singletons": f1, "doubletons": f2,
        "shannon": h, "simpson": gini_simpson(c), "hill_q0": float(s), "hill_q1": math.exp(h), "hill_q2": hill(c, 2),
        "pielou": pielou, "goods_coverage": 1 - f1 / n, "chao1": chao1(c), "chao1_ci": [lo, hi], "ace": ace_value,
        "rarefied": rarefied, "undefined": undefined,
    }


def diversity_by_sample(table: Any, depths: list[int] | tuple[int, ...] = (), curves: bool = True, nboot: int = 50,
                        knots: int = 40, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Figures for every sample of a :class:`~benthos.ecology.counts.CountTable`, keyed by sample.

    Rarefied richness is always given at the smallest sample size in the table (so samples can be
    compared at equal effort) plus any ``depths``; ``curves`` adds the iNEXT curves and asymptotes.
    """
    from benthos.ecology.rarefaction import inext

    totals = table.counts.sum(1)
    all_depths = sorted({int(totals.min()), *(int(d) for d in depths)})
    out: dict[str, dict[str, Any]] = {}
    for i, (name, row) in enumerate(zip(table.samples, table.counts)):
        d = alpha_diversity(row, all_depths)
        if curves:
            curve = inext(row, knots=knots, nboot=nboot, seed=seed + i)
            d["asymptotic"] = curve.asymptote
            d["curves"] = curve.to_dict()
            if curve.asymptote["q2"]["estimate"] is None:
                d["undefined"]["asymptotic.q2"] = ("Simpson's asymptotic diversity is undefined: no taxon has two or more "
                                                  "individuals (sum X(X-1) = 0)")
        out[name] = d
    return out


POINTS_NOTE = ("classified points are shares of cover, not counted individuals: the number of points is the "
               "observer's choice, so estimators built on how many individuals were seen once or twice (Chao1, ACE, "
               "sample coverage, rarefaction and extrapolation) would measure the sampling design, not the community; "
               "only the measures of the cover shares are given")


def point_measures(counts: Any) -> dict[str, Any]:
    """The measures that mean something for classified points (cover shares): taxa seen among the
    points, Shannon, Gini-Simpson, Hill numbers q1 and q2 and Pielou evenness of the cover."""
    c = _as_counts(counts)
    n = int(c.sum())
    if n == 0:
        raise ValueError("empty sample")
    s = int((c > 0).sum())
    h = shannon(c)
    undefined = {} if s > 1 else {"pielou": "Pielou evenness is undefined with a single taxon (ln S = 0)"}
    return {"n": n, "richness": s, "shannon": h, "simpson": gini_simpson(c), "hill_q1": math.exp(h),
            "hill_q2": hill(c, 2), "pielou": h / math.log(s) if s > 1 else None, "undefined": undefined,
            "points": True}
