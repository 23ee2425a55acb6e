"""Calibration: does a 0.9 confidence mean right 90% of the time?

Equal-width bins over the top-1 confidence, as in Guo et al. (2017), "On Calibration of
Modern Neural Networks". Bins are half-open (lo, hi], except the first, which also takes 0.
"""
from __future__ import annotations

import numpy as np


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> list[dict]:
    """Per bin: ``lo``, ``hi``, ``count``, mean ``confidence`` and ``accuracy`` (None when empty)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left" puts a value equal to an edge in the lower bin, giving (lo, hi]
    idx = np.searchsorted(edges[1:-1], confidence, side="left")
    bins = []
    for b in range(n_bins):
        mask = idx == b
        count = int(mask.sum())
        bins.append({
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "count": count,
            "confidence": float(confidence[mask].mean()) if count else None,
            "accuracy": float(correct[mask].mean()) if count else None,
        })
    return bins


def expected_calibration_error(bins: list[dict]) -> float:
    """ECE: the count-weighted mean gap |accuracy - confidence| over the bins."""
    n = sum(b["count"] for b in bins)
    if n == 0:
        return 0.0
    gap = sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"])
    return float(gap / n)
