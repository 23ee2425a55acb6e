"""Misclassification-aware counts: correct what a classifier's errors do to counts and cover.

Two estimators of the true class totals of a set of predictions:
  acc  adjusted classify-and-count: predicted counts q = M^T t, where M[i, j] = P(predicted j |
       true i) is measured on held-out data (the run's evaluation.json); solved for t >= 0.
  em   Saerens, Latinne & Decaestecker (2002): re-estimate class priors from the softmax
       outputs by EM, for when the survey's class mix differs from the training data.
Bootstrap intervals resample both the held-out confusion matrix (row by row) and the
predictions, and carry the uncertainty into richness and Hill numbers.
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


@dataclass
class Evaluation:
    """The held-out confusion matrix of a run (rows = true class, columns = predicted)."""

    classes: list[str]
    confusion: np.ndarray
    train_priors: np.ndarray | None = None  # class priors the classifier was trained with, if known
    path: Path | None = None

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
        return cls(classes, conf.astype(np.int64), None if pri is None else np.asarray(pri, float), path)

    @classmethod
    def example(cls) -> Evaluation:
        """Four classes; the rare 'Pagurus bernhardus' is often taken for 'Asterias rubens'."""
        classes = ["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "sand"]
        conf = np.array([[90, 5, 3, 2], [6, 88, 2, 4], [30, 5, 60, 5], [2, 3, 0, 95]])
        return cls(classes, conf)


def read_evaluation(path: str | os.PathLike) -> Evaluation:
    """Read ``evaluation.json`` (or a run folder holding one)."""
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


def diversity_of(counts: np.ndarray) -> dict[str, float]:
    """Richness, Hill q1, q2 and Chao1 of (rounded) counts; zeros if empty."""
    c = round_preserving(counts)
    if c.sum() == 0:
        return {"richness": 0.0, "hill_q1": 0.0, "hill_q2": 0.0, "chao1": 0.0}
    return {"richness": float((c > 0).sum()), "hill_q1": hill(c, 1), "hill_q2": hill(c, 2), "chao1": float(chao1(c))}


@dataclass
class Correction:
    """Naive and corrected totals per class of one sample, with bootstrap 95% intervals."""

    sample: str
    classes: list[str]
    naive: np.ndarray
    corrected: dict[str, np.ndarray]
    lower: dict[str, np.ndarray]
    upper: dict[str, np.ndarray]
    diversity: dict[str, dict[str, Any]]  # method -> figure -> {"value", "lower", "upper"}

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for j, c in enumerate(self.classes):
            r: dict[str, Any] = {"sample": self.sample, "taxon": c, "naive": int(self.naive[j])}
            for m in self.corrected:
                r[m] = float(self.corrected[m][j])
                r[f"{m}_lower"] = float(self.lower[m][j]) if m in self.lower else None
                r[f"{m}_upper"] = float(self.upper[m][j]) if m in self.upper else None
            out.append(r)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes, "naive": self.naive.tolist(),
                "corrected": {m: v.tolist() for m, v in self.corrected.items()},
                "lower": {m: v.tolist() for m, v in self.lower.items()},
                "upper": {m: v.tolist() for m, v in self.upper.items()}, "diversity": self.diversity}


def correct_sample(labels_idx: np.ndarray, evaluation: Evaluation, probs: np.ndarray | None = None,
                   methods: tuple[str, ...] = ("acc", "em"), nboot: int = 200, seed: int = 0, sample: str = "all") -> Correction:
    """Correct the class totals of one sample's predictions (label indices into ``evaluation.classes``)."""
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
        support = evaluation.confusion.sum(1)
        boots: dict[str, list[np.ndarray]] = {m: [] for m in methods}
        bdiv: dict[str, list[dict[str, float]]] = {m: [] for m in ("naive", *methods)}
        for _ in range(nboot):
            idx = rng.integers(0, n, n)
            lab = labels_idx[idx]
            pr = probs[idx] if probs is not None else None
            # the held-out matrix is itself a sample: redraw each true class's row
            conf_b = np.array([rng.multinomial(s, r) if s > 0 else np.zeros(k, np.int64) for s, r in zip(support, rates)])
            ev_b = Evaluation(evaluation.classes, conf_b, evaluation.train_priors)
            bdiv["naive"].append(diversity_of(np.bincount(lab, minlength=k)))
            for m in methods:
                est = estimate(m, lab, pr, ev_b.rates, ev_b.priors)
                boots[m].append(est)
                bdiv[m].append(diversity_of(est))
        for m in methods:
            arr = np.asarray(boots[m])
            lower[m], upper[m] = np.percentile(arr, 2.5, axis=0), np.percentile(arr, 97.5, axis=0)
        for m, reps in bdiv.items():
            for f in div[m]:
                vals = np.array([r[f] for r in reps])
                div[m][f]["lower"], div[m][f]["upper"] = float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))
    return Correction(sample, list(evaluation.classes), naive, corrected, lower, upper, div)


def correct_predictions(preds: Any, evaluation: Evaluation, groups: list[str] | None = None,
                        methods: tuple[str, ...] = ("acc", "em"), nboot: int = 200, seed: int = 0) -> list[Correction]:
    """Correct every group of a prediction file (and all of it together) against a run's evaluation."""
    from benthos.ecology.predictions import check_label_set

    check_label_set(preds, evaluation.classes, f"the evaluation's classes ({evaluation.path or 'evaluation.json'})")
    if preds.kind == "detection" and "em" in methods:
        methods = tuple(m for m in methods if m != "em")
        if not methods:
            raise DataError("detections carry no softmax, so the EM correction cannot run on them; use --method acc.")
    index = {c: i for i, c in enumerate(evaluation.classes)}
    lab = np.array([index[lb] for lb in preds.labels], np.int64)
    out = []
    keys = list(dict.fromkeys(groups)) if groups else []
    if len(keys) > 1:
        g = np.asarray(groups)
        for i, key in enumerate(keys):
            sel = g == key
            out.append(correct_sample(lab[sel], evaluation, preds.probs[sel] if preds.probs is not None else None,
                                      methods, nboot, seed + i, sample=key))
    out.append(correct_sample(lab, evaluation, preds.probs, methods, nboot, seed, sample="all"))
    return out
