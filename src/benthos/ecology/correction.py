"""Misclassification-aware counts: correct what a classifier's errors do to counts and cover.

Two estimators of the true class totals of a set of predictions:
  acc  adjusted classify-and-count: predicted counts q = M^T t, where M[i, j] = P(predicted j |
       true i) is measured on held-out data (the run's evaluation.json); solved for t >= 0.
  em   Saerens, Latinne & Decaestecker (2002): re-estimate class priors from the softmax
       outputs by EM, for when the survey's class mix differs from the training data.
Bootstrap intervals resample both the predictions and the held-out items behind the confusion
matrix, and carry the uncertainty into richness and Hill numbers. The held-out items of each
true class are resampled with a Bayesian bootstrap (Rubin 1981) plus one pseudo-item spread
evenly over the classes: a class with 3 test examples, all right, is then not taken as always
right (a plain bootstrap of 3 right answers gives an interval of zero width), while 300 test
examples barely feel the pseudo-item. A class with no test example at all is assumed always
right, and the command says so. For classified points the results are percent cover.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from benthos.errors import DataError
from benthos.ecology.diversity import chao1, hill


MIN_SUPPORT = 10  # fewer held-out examples of a class than this: its error rates are little more than a guess


@dataclass
class Evaluation:
    """The held-out confusion matrix of a run (rows = true class, columns = predicted)."""

    classes: list[str]
    confusion: np.ndarray
    train_priors: np.ndarray | None = None  # class priors the classifier was trained with, if known
    path: Path | None = None
    data: str | None = None  # what it was measured on, as `benthos evaluate` records it

    def small_classes(self, min_support: int = MIN_SUPPORT) -> dict[str, int]:
        """Classes with fewer than ``min_support`` held-out examples, and how many they have."""
        support = self.confusion.sum(1)
        return {c: int(n) for c, n in zip(self.classes, support) if n < min_support}

    @property
    def rates(self) -> np.ndarray:
        """M[i, j] = P(predicted j | true i); a class with no held-out examples is assumed always right."""
        c = self.confusion.astype(float)
        support = c.sum(1, keepdims=True)
        m = np.where(support > 0, c / np.maximum(support, 1), 0.0)
        empty = support[:, 0] == 0
        m[empty, empty.nonzero()[0]] = 1.0
        return m

    @property
    def priors(self) -> np.ndarray:
        """Training priors: given ones, else the held-out class frequencies (a stratified split's)."""
        if self.train_priors is not None:
            return self.train_priors / self.train_priors.sum()
        s = self.confusion.sum(1).astype(float)
        return s / s.sum()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"classes": self.classes, "confusion_matrix": self.confusion.tolist()}
        if self.train_priors is not None:
            d["train_priors"] = self.train_priors.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> Evaluation:
        where = path or "evaluation"
        for key in ("classes", "confusion_matrix"):
            if key not in d:
                raise DataError(f"{where}: no '{key}' key; run `benthos evaluate` on the run to write it.")
        classes = [str(c) for c in d["classes"]]
        try:
            conf = np.asarray(d["confusion_matrix"], dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"{where}: 'confusion_matrix' is not a numeric matrix.") from None
        k = len(classes)
        if conf.shape != (k, k):
            raise DataError(f"{where}: 'confusion_matrix' has shape {conf.shape} but there are {k} classes; it must be {k}x{k}.")
        bad = np.argwhere((conf < 0) | (conf != np.round(conf)))
        if len(bad):
            i, j = bad[0]
            raise DataError(f"{where}: confusion_matrix[{i}][{j}] = {conf[i, j]}: entries must be counts (whole numbers >= 0).")
        pri = d.get("train_priors")
        data = d.get("data")
        return cls(classes, conf.astype(np.int64), None if pri is None else np.asarray(pri, float), path,
                   str(data) if data else None)

    @classmethod
    def example(cls) -> Evaluation:
        """Four classes; the rare 'Pagurus bernhardus' is often taken for 'Asterias rubens'."""
        classes = ["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "sand"]
        conf = np.array([[90, 5, 3, 2], [6, 88, 2, 4], [30, 5, 60, 5], [2, 3, 0, 95]])
        return cls(classes, conf)


def read_evaluation(path: str | os.PathLike) -> Evaluation:
    """Read ``evaluation.json``, or a run folder's own ``RUN/evaluation.json`` (its held-out test split;
    evaluations on other data lie beside it under other names and are only read when named)."""
    path = Path(path)
    if path.is_dir():
        path = path / "evaluation.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; run `benthos evaluate RUN` first, it writes the held-out confusion matrix.")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg}).") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a JSON object with 'classes' and 'confusion_matrix'.")
    return Evaluation.from_dict(d, path)


def adjusted_count(predicted: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Adjusted classify-and-count: the t >= 0 that best explains predicted counts, q ~ M^T t, with sum t = sum q."""
    q = np.asarray(predicted, float)
    if q.sum() == 0:
        return np.zeros_like(q)
    t, _ = nnls(rates.T, q)
    # rows of M sum to 1, so an exact solution keeps the total; clipping at 0 can move it a little
    return t * (q.sum() / t.sum()) if t.sum() > 0 else q.copy()


def em_priors(probs: np.ndarray, train_priors: np.ndarray, tol: float = 1e-8, max_iter: int = 1000) -> np.ndarray:
    """Saerens et al. (2002) EM estimate of the class priors of a new set from calibrated posteriors."""
    p = np.asarray(probs, float)
    base = np.clip(np.asarray(train_priors, float), 1e-12, None)
    pri = base.copy()
    for _ in range(max_iter):
        w = p * (pri / base)
        w /= np.clip(w.sum(1, keepdims=True), 1e-300, None)
        new = w.mean(0)
        if np.abs(new - pri).max() < tol:
            pri = new
            break
        pri = new
    return pri


def round_preserving(values: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding: integers that keep the (rounded) total."""
    v = np.clip(np.asarray(values, float), 0, None)
    total = int(round(v.sum()))
    base = np.floor(v).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        base[np.argsort(-(v - base), kind="stable")[:short]] += 1
    return base


def resample_rates(confusion: np.ndarray, rng: np.random.Generator, pseudo: float = 1.0) -> np.ndarray:
    """One bootstrap draw of M[i, j] = P(predicted j | true i): each true class's held-out items
    reweighted by a Bayesian bootstrap, with ``pseudo`` items spread evenly over the predicted
    classes (see the module's docstring). Rows without items stay "always right"."""
    c = np.asarray(confusion, float)
    k = c.shape[1]
    w = rng.gamma(c + pseudo / k)
    total = w.sum(1, keepdims=True)
    m = w / np.where(total > 0, total, 1.0)
    empty = c.sum(1) == 0
    m[empty] = 0.0
    m[empty, empty.nonzero()[0]] = 1.0
    return m


def diversity_of(counts: np.ndarray) -> dict[str, float]:
    """Richness, Hill q1, q2 and Chao1 of (rounded) counts; zeros if empty."""
    c = round_preserving(counts)
    if c.sum() == 0:
        return {"richness": 0.0, "hill_q1": 0.0, "hill_q2": 0.0, "chao1": 0.0}
    return {"richness": float((c > 0).sum()), "hill_q1": hill(c, 1), "hill_q2": hill(c, 2), "chao1": float(chao1(c))}


@dataclass
class Correction:
    """Naive and corrected totals per class of one sample, with bootstrap 95% intervals.

    ``points``: the rows are classified points, and :meth:`rows` gives percent cover of the
    sample's ``n`` points; ``annotated``: the points' own labels per class, where they had them.
    """

    sample: str
    classes: list[str]
    naive: np.ndarray
    corrected: dict[str, np.ndarray]
    lower: dict[str, np.ndarray]
    upper: dict[str, np.ndarray]
    diversity: dict[str, dict[str, Any]]  # method -> figure -> {"value", "lower", "upper"}
    points: bool = False
    annotated: np.ndarray | None = None  # annotated points per class (points only)
    annotated_total: int = 0              # points with an annotation, of any label

    @property
    def n(self) -> int:
        return int(self.naive.sum())

    @property
    def unit(self) -> str:
        return "% cover" if self.points else "count"

    def _scale(self, v: np.ndarray) -> np.ndarray:
        return v / max(self.n, 1) * 100.0 if self.points else v

    def rows(self) -> list[dict[str, Any]]:
        out = []
        naive = self._scale(self.naive)
        ann = self.annotated / max(self.annotated_total, 1) * 100.0 if self.annotated is not None else None
        for j, c in enumerate(self.classes):
            r: dict[str, Any] = {"sample": self.sample, "taxon": c, "unit": self.unit,
                                 "naive": float(naive[j]) if self.points else int(self.naive[j])}
            for m in self.corrected:
                r[m] = float(self._scale(self.corrected[m])[j])
                r[f"{m}_lower"] = float(self._scale(self.lower[m])[j]) if m in self.lower else None
                r[f"{m}_upper"] = float(self._scale(self.upper[m])[j]) if m in self.upper else None
            if ann is not None:
                r["annotated"] = float(ann[j])
            out.append(r)
        return out

    def disagreements(self) -> list[str]:
        """Classes where ACC and EM disagree beyond their 95% intervals (the intervals do not overlap)."""
        if not {"acc", "em"} <= set(self.lower):
            return []
        a_lo, a_hi, e_lo, e_hi = self.lower["acc"], self.upper["acc"], self.lower["em"], self.upper["em"]
        gap = 0.005 * max(self.n, 1)  # gaps under half a percent of the sample are rounding, not disagreement
        return [c for j, c in enumerate(self.classes) if a_hi[j] + gap < e_lo[j] or e_hi[j] + gap < a_lo[j]]

    def to_dict(self) -> dict[str, Any]:
        d = {"classes": self.classes, "unit": self.unit, "n": self.n, "naive": self.naive.tolist(),
             "corrected": {m: v.tolist() for m, v in self.corrected.items()},
             "lower": {m: v.tolist() for m, v in self.lower.items()},
             "upper": {m: v.tolist() for m, v in self.upper.items()}, "diversity": self.diversity,
             "disagree": self.disagreements()}
        if self.annotated is not None:
            d["annotated"] = self.annotated.tolist()
            d["annotated_total"] = self.annotated_total
        return d


def correct_sample(labels_idx: np.ndarray, evaluation: Evaluation, probs: np.ndarray | None = None,
                   methods: tuple[str, ...] = ("acc", "em"), nboot: int = 200, seed: int = 0, sample: str = "all",
                   points: bool = False, annotated: np.ndarray | None = None, annotated_total: int = 0) -> Correction:
    """Correct the class totals of one sample's predictions (label indices into ``evaluation.classes``).

    ``points``: the predictions are classified points (results read as percent cover);
    ``annotated``: those points' annotated labels per class, shown beside.
    """
    k = len(evaluation.classes)
    labels_idx = np.asarray(labels_idx, np.int64)
    n = len(labels_idx)
    naive = np.bincount(labels_idx, minlength=k).astype(float)
    if "em" in methods and probs is None:
        raise DataError("the EM correction needs the prob:<class> columns of a classification predictions file; "
                        "use --method acc for detections.")
    rates, priors = evaluation.rates, evaluation.priors

    def estimate(method: str, lab: np.ndarray, pr: np.ndarray | None, m: np.ndarray, base: np.ndarray) -> np.ndarray:
        if method == "acc":
            return adjusted_count(np.bincount(lab, minlength=k), m)
        return em_priors(pr, base) * len(lab)

    corrected = {m: estimate(m, labels_idx, probs, rates, priors) for m in methods}
    lower: dict[str, np.ndarray] = {}
    upper: dict[str, np.ndarray] = {}
    div: dict[str, dict[str, Any]] = {"naive": {f: {"value": v} for f, v in diversity_of(naive).items()}}
    for m in methods:
        div[m] = {f: {"value": v} for f, v in diversity_of(corrected[m]).items()}
    if nboot > 1 and n > 0:
        rng = np.random.default_rng(seed)
        boots: dict[str, list[np.ndarray]] = {m: [] for m in methods}
        bdiv: dict[str, list[dict[str, float]]] = {m: [] for m in ("naive", *methods)}
        for _ in range(nboot):
            idx = rng.integers(0, n, n)
            lab = labels_idx[idx]
            pr = probs[idx] if probs is not None else None
            # the held-out matrix is itself a sample: redraw each true class's items
            rates_b = resample_rates(evaluation.confusion, rng)
            # priors measured on the held-out items are as uncertain as their counts; given ones are not
            priors_b = priors if evaluation.train_priors is not None else rng.dirichlet(
                evaluation.confusion.sum(1) + 1.0 / k)
            bdiv["naive"].append(diversity_of(np.bincount(lab, minlength=k)))
            for m in methods:
                est = estimate(m, lab, pr, rates_b, priors_b)
                boots[m].append(est)
                bdiv[m].append(diversity_of(est))
        for m in methods:
            arr = np.asarray(boots[m])
            lower[m], upper[m] = np.percentile(arr, 2.5, axis=0), np.percentile(arr, 97.5, axis=0)
        for m, reps in bdiv.items():
            for f in div[m]:
                vals = np.array([r[f] for r in reps])
                div[m][f]["lower"], div[m][f]["upper"] = float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))
    return Correction(sample, list(evaluation.classes), naive, corrected, lower, upper, div, points,
                      annotated, annotated_total)


def correct_predictions(preds: Any, evaluation: Evaluation, groups: list[str] | None = None,
                        methods: tuple[str, ...] = ("acc", "em"), nboot: int = 200, seed: int = 0) -> list[Correction]:
    """Correct every group of a prediction file (and all of it together) against a run's evaluation.
    Points give percent cover, with the annotated cover beside where the points carry labels."""
    from benthos.ecology.predictions import ANNOTATED, check_label_set

    check_label_set(preds, evaluation.classes, f"the evaluation's classes ({evaluation.path or 'evaluation.json'})")
    if preds.kind == "detection" and "em" in methods:
        methods = tuple(m for m in methods if m != "em")
        if not methods:
            raise DataError("detections carry no softmax, so the EM correction cannot run on them; use --method acc.")
    index = {c: i for i, c in enumerate(evaluation.classes)}
    lab = np.array([index[lb] for lb in preds.labels], np.int64)
    points = preds.kind == "points"
    ann_labels = preds.extra.get(ANNOTATED) if points else None
    out = []
    keys = list(dict.fromkeys(groups)) if groups else []
    subsets = [(key, np.asarray(groups) == key) for key in keys] if len(keys) > 1 else []
    subsets.append(("all", np.ones(len(lab), bool)))
    for i, (key, sel) in enumerate(subsets):
        ann, ann_total = None, 0
        if ann_labels:
            given = [a for a, k in zip(ann_labels, sel) if k and a]
            ann_total = len(given)
            ann = np.array([given.count(c) for c in evaluation.classes], float) if given else None
        out.append(correct_sample(lab[sel], evaluation, preds.probs[sel] if preds.probs is not None else None,
                                  methods, nboot, seed + i if key != "all" else seed, sample=key, points=points,
                                  annotated=ann, annotated_total=ann_total))
    return out
