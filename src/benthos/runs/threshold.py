"""The score at which a detection counts as an animal, and where that number came from.

A detector returns boxes down to a low score (0.05) so that mAP can be measured; counting all of
them overcounts many times, and no fixed cut suits every detector. The threshold is fitted when a
detector is trained (:mod:`benthos.detect.counting`), kept in its run.json, and recorded by
``benthos detect predict`` beside its detections, in ``detections.csv.json``::

    {"job": "benthos detect predict", "run": "...",
     "count_threshold": {"default": 0.42, "per_class": {"brittle_star": 0.45},
                         "source": "fitted on the run's 121 validation images (count = annotated)"}}

(``default`` applies to the classes ``per_class`` does not list). Every command that counts uses one
threshold: ``--min-score`` (one value for every class), else the recorded one, else :data:`DEFAULT`
with a note saying that nothing was recorded. This module sits low: detection writes the record,
ecology reads it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benthos.errors import DataError

DEFAULT = 0.5


@dataclass
class CountThreshold:
    """Per-class score thresholds (``default`` for classes not listed) and their origin."""

    default: float = DEFAULT
    per_class: dict[str, float] = field(default_factory=dict)
    origin: str = "default"   # "option" (--min-score), "record" (run.json or beside the file) or "default"
    source: str = "no counting threshold recorded"  # in words: where the number comes from
    detections: bool = True   # boxes (counted above the threshold) or classifications (filtered by it)

    def of(self, label: str) -> float:
        return self.per_class.get(label, self.default)

    def keep(self, labels: list[str], scores: np.ndarray) -> np.ndarray:
        """Which rows are counted."""
        return np.asarray(scores, float) >= np.array([self.of(lb) for lb in labels], float)

    def describe(self, labels: list[str] | None = None) -> str:
        """One line for the terminal and the page, e.g. ``counting boxes with score >= 0.42
        (brittle_star >= 0.45; other classes >= 0.42): fitted on ...``."""
        what = "boxes" if self.detections else "predictions"
        per = {k: v for k, v in self.per_class.items() if labels is None or k in labels}
        extra = f" ({', '.join(f'{k} >= {v:.3g}' for k, v in sorted(per.items()))}; other classes >= {self.default:.3g})" \
            if per else ""
        if self.origin == "default":
            return f"{self.source}: counting {what} with score >= {self.default:.3g}; pass --min-score to choose another"
        return f"counting {what} with score >= {self.default:.3g}{extra}: {self.source}"

    def to_dict(self) -> dict[str, Any]:
        # unrounded: two boxes' scores can differ in the sixth decimal, and the threshold lies between them
        return {"default": float(self.default), "per_class": {k: float(v) for k, v in self.per_class.items()},
                "source": self.source}

    @classmethod
    def given(cls, value: float, source: str = "given with --min-score") -> CountThreshold:
        """One threshold for every class, given by the user."""
        return cls(_score(value, "--min-score"), {}, "option", source)


def _score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise DataError(f"{where} is {value!r}: a counting threshold is a score between 0 and 1"
                        + ("" if where.startswith("--") else "; fix the record, delete it, or pass --min-score"))
    return float(value)


def from_record(ct: Any, where: str, beside: str | None = None) -> CountThreshold | None:
    """The counting threshold ``ct`` a record holds (run.json's ``count_threshold`` or a prediction file's);
    None when it holds none; a DataError naming ``where`` when it is damaged. ``beside``: the file the
    record describes, named in the threshold's source."""
    if ct is None:
        return None
    if isinstance(ct, (int, float)) and not isinstance(ct, bool):  # one number for every class
        ct = {"default": ct}
    if not isinstance(ct, dict) or "default" not in ct:
        raise DataError(f"{where}: 'count_threshold' must be an object with a 'default' score (and optional "
                        "'per_class' scores); fix the record, delete it, or pass --min-score")
    default = _score(ct["default"], f"{where}: count_threshold.default")
    per = ct.get("per_class") or {}
    if not isinstance(per, dict):
        raise DataError(f"{where}: count_threshold.per_class must map class names to scores")
    per_class = {str(k): _score(v, f"{where}: count_threshold.per_class[{k!r}]") for k, v in per.items()}
    how = str(ct.get("source") or "").strip()
    source = (f"recorded beside {beside}" + (f", {how}" if how else "")) if beside else (how or "recorded")
    return CountThreshold(default, per_class, "record", source)


def fallback(what: str = "the detections") -> CountThreshold:
    """The threshold of detections with none recorded: :data:`DEFAULT`, saying so."""
    return CountThreshold(DEFAULT, {}, "default", f"no counting threshold recorded beside {what}")
