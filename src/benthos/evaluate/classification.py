"""Evaluate predictions whose true labels are class names, not indices.

An evaluation set rarely matches the training classes exactly: it may hold only some of
them, or labels the model never saw. The first is fine (metrics over the classes present);
the second is counted and reported, not a crash.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from benthos.errors import DataError, closest
from benthos.evaluate.metrics import classification_metrics


def evaluate_by_name(true_labels: list[str], probs: np.ndarray, model_classes: list[str], **kwargs) -> dict:
    """classification_metrics for name labels; adds ``unknown_labels`` {label: count} and ``n_unknown``.

    Extra keyword arguments (``top_k``, ``n_bins``) go to classification_metrics.
    """
    probs = np.asarray(probs)
    if len(true_labels) != len(probs):
        raise DataError(f"{len(true_labels)} labels for {len(probs)} probability rows; they must match")
    index = {name: i for i, name in enumerate(model_classes)}
    known = np.array([label in index for label in true_labels], dtype=bool)
    unknown = Counter(label for label in true_labels if label not in index)
    if not known.any():
        first = next(iter(unknown), "")
        raise DataError(
            f"none of the {len(unknown)} label(s) in the evaluation set ({_show(unknown)}) is a class the model "
            f"knows; the model knows: {', '.join(model_classes)}.{closest(first, model_classes)} "
            "Rename the labels to the model's class names."
        )
    y = np.array([index[label] for label in true_labels if label in index], dtype=np.int64)
    result = classification_metrics(y, probs[known], list(model_classes), **kwargs)
    result["unknown_labels"] = dict(sorted(unknown.items()))
    result["n_unknown"] = int(sum(unknown.values()))
    return result


def _show(counts: Counter, limit: int = 8) -> str:
    names = [str(k) for k, _ in counts.most_common(limit)]
    more = f", ... {len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(names) + more
