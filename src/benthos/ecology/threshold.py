"""The score at which a detection counts as an animal, and where that number came from.

A detector returns boxes down to a low score (0.05) so that mAP can be measured; counting all of
them overcounts many times, and no fixed cut suits every detector. ``benthos detect predict``
records the run's fitted counting threshold beside its detections, in ``detections.csv.json``::

    {"job": "benthos detect predict", "run": "...",
     "count_threshold": {"default": 0.42, "per_class": {"brittle_star": 0.45},
                         "source": "fitted on the run's validation images"}}

(``default`` applies to the classes ``per_class`` does not list). Every ecology command that
counts detections uses one threshold, chosen in this order: ``--min-score`` (one value for every
class), the recorded one, else :data:`DEFAULT` with a note saying that nothing was recorded.
Classifications (one label per image or point) are all counted unless ``--min-score`` is given.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from benthos.errors import DataError

from benthos.runs.threshold import DEFAULT, CountThreshold, fallback, from_record  # noqa: F401 (re-exported)


def count_threshold(preds: Any, min_score: float | None = None) -> CountThreshold | None:
    """The threshold a command counts ``preds`` with: ``min_score`` when given, else (detections)
    the one recorded beside the file, else :data:`DEFAULT`. None: classifications, all counted."""
    from benthos.runs.shards import read_record, record_path

    detections = preds.kind == "detection"
    if min_score is not None:
        if isinstance(min_score, bool) or not 0 <= min_score <= 1:
            raise DataError(f"--min-score {min_score:g}: give a score between 0 and 1")
        return CountThreshold(float(min_score), {}, "option", "given with --min-score", detections)
    if not detections:
        return None
    record = read_record(preds.path) if preds.path is not None else None
    found = from_record(record.get("count_threshold"), str(record_path(preds.path)),
                        beside=preds.path.name) if record else None
    return found or fallback(preds.path.name if preds.path else "the detections")


def counted(preds: Any, threshold: CountThreshold | None) -> np.ndarray:
    """Mask of the rows of ``preds`` that are counted (all of them without a threshold)."""
    if threshold is None:
        return np.ones(len(preds), bool)
    return threshold.keep(preds.labels, preds.scores)
