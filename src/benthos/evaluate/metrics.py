"""Classification metrics as a plain, JSON-ready dict (floats, ints, None; never NaN).

Averages (balanced accuracy, macro and weighted F1) are over the classes present in
``y_true``: a class with no test samples has no recall, and scoring it 0 would punish a
model for an evaluation set that simply lacks that class. The confusion matrix and
``per_class`` still cover every class the model knows.
"""
from __future__ import annotations

import warnings

import numpy as np

from benthos.errors import DataError
from benthos.evaluate.calibration import expected_calibration_error, reliability_bins


def classification_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    top_k: tuple[int, ...] = (1, 3, 5),
    n_bins: int = 15,
) -> dict:
    """Accuracy, top-k, balanced accuracy, F1s, per-class scores, confusion matrix and ECE.

    ``y_true``: (N,) class indices into ``classes``; ``probs``: (N, C) softmax probabilities.
    """
    from sklearn import metrics as skm

    y_true, probs = _check(y_true, probs, classes)
    n, n_classes = probs.shape
    labels = np.arange(n_classes)
    y_pred = probs.argmax(axis=1)
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    present = np.flatnonzero(cm.sum(axis=1) > 0)

    topk = {}
    for k in sorted(set(top_k)):
        if not 1 <= k < n_classes:
            continue  # top-k for k >= C is trivially 1.0
        if n_classes == 2:  # sklearn reads binary scores as 1-D; top-1 of two is accuracy
            topk[f"top{k}"] = float(skm.accuracy_score(y_true, y_pred))
        else:
            topk[f"top{k}"] = float(skm.top_k_accuracy_score(y_true, probs, k=k, labels=labels))

    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": expected when a subset is evaluated
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(skm.balanced_accuracy_score(y_true, y_pred))
    f1 = {
        avg: float(skm.f1_score(y_true, y_pred, labels=present, average=avg, zero_division=0.0))
        for avg in ("macro", "weighted")
    }

    confidence = probs.max(axis=1)
    bins = reliability_bins(confidence, y_pred == y_true, n_bins=n_bins)
    return {
        "n": int(n),
        "classes": list(classes),
        "classes_present": [classes[i] for i in present],
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "top_k": topk,
        "balanced_accuracy": balanced,
        "macro_f1": f1["macro"],
        "weighted_f1": f1["weighted"],
        "per_class": _per_class(cm, classes),
        "confusion_matrix": cm.astype(int).tolist(),
        "ece": expected_calibration_error(bins),
        "reliability": bins,
    }


def _per_class(cm: np.ndarray, classes: list[str]) -> dict[str, dict]:
    # From the confusion matrix so undefined ratios become None explicitly, instead of
    # sklearn's zero_division stand-in that cannot be told apart from a real 0.
    out = {}
    for i, name in enumerate(classes):
        tp, predicted, support = int(cm[i, i]), int(cm[:, i].sum()), int(cm[i, :].sum())
        out[name] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / support if support else None,
            # 2TP / (predicted + support) is the harmonic mean, and 0 when precision is
            # undefined but the class has samples (all of them missed)
            "f1": 2 * tp / (predicted + support) if predicted + support else None,
            "support": support,
        }
    return out


def _check(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise DataError(
            f"probabilities have shape {probs.shape}, expected (n_samples, {len(classes)}) "
            f"for {len(classes)} classes; pass one softmax row per sample"
        )
    if y_true.shape != (probs.shape[0],):
        raise DataError(f"{y_true.size} labels for {probs.shape[0]} probability rows; they must match")
    if probs.shape[0] == 0:
        raise DataError("no samples to evaluate")
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or y_true.max() >= len(classes):
        raise DataError(f"labels must be class indices 0..{len(classes) - 1}; use evaluate_by_name for class names")
    if not np.isfinite(probs).all():
        raise DataError("probabilities contain NaN or infinity")
    sums = probs.sum(axis=1)
    if probs.min() < 0 or np.abs(sums - 1).max() > 1e-3:
        raise DataError("rows of probs do not sum to 1; these look like logits, apply softmax first")
    return y_true.astype(np.int64), probs
