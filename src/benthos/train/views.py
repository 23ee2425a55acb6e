"""Fit the adaptive-view rule on the validation split (:mod:`benthos.infer.views`).

The rule scores every view only for images whose first-view margin (top-1 minus top-2
probability) is below a threshold. The threshold is the smallest one under which the rule
gives every validation image the same top-1 label as all the views do, times ``SAFETY``
(test images unlike any validation image get some room), and never more than 1 (all views).
A second temperature is fitted on the rule's own logits: a confidently scored image keeps its
single view's logits, which are less smoothed than an average of eight.
"""
from __future__ import annotations

import numpy as np

from benthos.infer.views import n_views

SAFETY = 1.5
MIN_IMAGES = 50  # fewer validation images say too little about the margins of unseen ones: all views stay


def fit_view_rule(view_logits: np.ndarray, labels: np.ndarray, mode: str, safety: float = SAFETY) -> dict:
    """The record stored in ``run.json`` ``calibration.views`` from every view's validation
    logits (V, N, C) and the labels (N,)."""
    from benthos.infer.views import adaptive_logits, first_margin
    from benthos.train.temperature import fit_temperature

    first, full = view_logits[0], view_logits.mean(0)
    margin = first_margin(first)
    differ = first.argmax(1) != full.argmax(1)
    needed = float(margin[differ].max()) if differ.any() else 0.0
    threshold = min(1.0, max(needed * safety, 1e-6))
    rule = adaptive_logits(view_logits, threshold)

    def acc(z: np.ndarray) -> float:
        return round(float((z.argmax(1) == labels).mean()), 4)

    return {"mode": mode, "margin": round(threshold, 4), "temperature": round(fit_temperature(rule, labels), 4),
            "n": int(len(labels)), "extra_views_fraction": round(float((margin < threshold).mean()), 4),
            "val_accuracy_first_view": acc(first), "val_accuracy_all_views": acc(full), "val_accuracy_adaptive": acc(rule)}


def views_line(record: dict) -> str:
    """The log line for a fitted rule."""
    v = 1 + (n_views(record["mode"]) - 1) * record["extra_views_fraction"]
    return (f"adaptive views: all {n_views(record['mode'])} views only below a first-view margin of "
            f"{record['margin']:.3f} ({record['extra_views_fraction']:.0%} of {record['n']} validation images, "
            f"{v:.1f} views per image on average); validation accuracy {record['val_accuracy_adaptive']:.3f} "
            f"(all views {record['val_accuracy_all_views']:.3f}, one view {record['val_accuracy_first_view']:.3f})")

