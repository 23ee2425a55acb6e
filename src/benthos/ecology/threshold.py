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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError

DEFAULT = 0.5


@dataclass
class CountThreshold:
    """Per-class score thresholds (``default`` for classes not listed) and their origin."""

    default: float
    per_class: dict[str, float] = field(default_factory=dict)
    origin: str = "default"   # "option" (--min-score), "record" (beside the file) or "default"
    source: str = ""          # in words: where the number comes from
    detections: bool = True   # boxes (counted above the threshold) or classifications (filtered by it)

    def of(self, label: str) -> float:
        return self.per_class.get(label, self.default)

    def keep(self, labels: list[str], scores: np.ndarray) -> np.ndarray:
        """Which rows are counted."""
        return np.asarray(scores, float) >= np.array([self.of(lb) for lb in labels], float)

    def describe(self, labels: list[str] | None = None) -> str:
        """One line for the terminal and the page, e.g. ``counting boxes with score >= 0.42
        (brittle_star >= 0.45): recorded beside detections.csv (fitted on ...)``."""
        what = "boxes" if self.detections else "predictions"
        per = {k: v for k, v in self.per_class.items() if labels is None or k in labels}
        extra = f" ({', '.join(f'{k} >= {v:g}' for k, v in sorted(per.items()))}; other classes >= {self.default:g})" \
            if per else ""
        if self.origin == "default":
            return f"{self.source}: counting {what} with score >= {self.default:g}; pass --min-score to choose another"
        return f"counting {what} with score >= {self.default:g}{extra}: {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, "per_class": dict(self.per_class), "origin": self.origin, "source": self.source}


def _score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise DataError(f"{where} is {value!r}: a counting threshold is a score between 0 and 1; fix the record, "
                        "delete it, or pass --min-score")
    return float(value)


def from_record(record: dict[str, Any], record_file: str | Path) -> CountThreshold | None:
    """The counting threshold a prediction file's record holds (None when it holds none)."""
    ct = record.get("count_threshold")
    if ct is None:
        return None
    if isinstance(ct, (int, float)) and not isinstance(ct, bool):  # one number for every class
        ct = {"default": ct}
    if not isinstance(ct, dict) or "default" not in ct:
        raise DataError(f"{record_file}: 'count_threshold' must be an object with a 'default' score (and optional "
                        "'per_class' scores); fix the record, delete it, or pass --min-score")
    default = _score(ct["default"], f"{record_file}: count_threshold.default")
    per = ct.get("per_class") or {}
    if not isinstance(per, dict):
        raise DataError(f"{record_file}: count_threshold.per_class must map class names to scores")
    per_class = {str(k): _score(v, f"{record_file}: count_threshold.per_class[{k!r}]") for k, v in per.items()}
    how = str(ct.get("source") or "").strip()
    return CountThreshold(default, per_class, "record",
                          f"recorded beside {Path(str(record_file)).name.removesuffix('.json')}" + (f", {how}" if how else ""))


def count_threshold(preds: Any, min_score: float | None = None) -> CountThreshold | None:
    """The threshold a command counts ``preds`` with: ``min_score`` when given, else (detections)
    the one recorded beside the file, else :data:`DEFAULT`. None: classifications, all counted."""
    from benthos.runs.shards import read_record, record_path

    detections = preds.kind == "detection"
    if min_score is not None:
        if not 0 <= min_score <= 1:
            raise DataError(f"--min-score {min_score:g}: give a score between 0 and 1")
        return CountThreshold(float(min_score), {}, "option", "given with --min-score", detections)
    if not detections:
        return None
    record = read_record(preds.path) if preds.path is not None else None
    found = from_record(record, record_path(preds.path)) if record else None
    if found is not None:
        return found
    return CountThreshold(DEFAULT, {}, "default",
                          f"no counting threshold recorded beside {preds.path.name if preds.path else 'the detections'}", True)


def counted(preds: Any, threshold: CountThreshold | None) -> np.ndarray:
    """Mask of the rows of ``preds`` that are counted (all of them without a threshold)."""
    if threshold is None:
        return np.ones(len(preds), bool)
    return threshold.keep(preds.labels, preds.scores)
