"""Unknown taxa: flag out-of-distribution predictions, group them by appearance, queue them for review.

A classifier can only answer with a class it was trained on, so an organism new to it is
silently counted as something else. Each prediction gets an "unfamiliarity" score:
  confidence  1 - max softmax (Hendrycks & Gimpel 2017)
  energy      the energy column, -logsumexp(logits) (Liu et al. 2020); higher = less familiar
  distance    distance to the nearest class centre in feature space, in units of the
              validation spread (needs a features .npy aligned with the rows)
The threshold is calibrated on validation predictions of known classes: by default 95% of
them stay below it. Flagged items are clustered (average linkage) on their features, or on
sqrt(probabilities) when no features are given, and each cluster is a candidate taxon.
"""
from __future__ import annotations

import html as _html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError
from benthos.ecology.tables import write_csv
from benthos.ecology.predictions import Predictions

SCORES = ("energy", "confidence", "distance")


def load_features(path: str | os.PathLike, n_rows: int, what: str = "predictions") -> np.ndarray:
    """A (rows, dims) float array from .npy (no pickles), aligned with the prediction rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: features file not found.")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a plain .npy array ({exc}); save features with np.save, without pickled objects.") from None
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise DataError(f"{path}: features have shape {arr.shape}; expected ({n_rows}, D), one row per row of the {what}.")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise DataError(f"{path}: features must be finite numbers.")
    return arr.astype(float)


def _embedding(preds: Predictions, features: np.ndarray | None) -> np.ndarray:
    if features is not None:
        return features
    if preds.probs is None:
        raise DataError("clustering unknowns needs prob:<class> columns or a --features .npy file; detections have neither.")
    # sqrt of probabilities: Euclidean distance there is the Hellinger distance between softmaxes
    return np.sqrt(np.clip(preds.probs, 0, None))


@dataclass
class OODCalibration:
    """Threshold and reference geometry learned from validation predictions of known classes."""

    score: str
    threshold: float
    keep: float
    cluster_distance: float
    classes: list[str] = field(default_factory=list)
    centroids: list[list[float]] | None = None
    scale: list[float] | None = None
    n_validation: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OODCalibration:
        return cls(**d)

    @classmethod
    def example(cls) -> OODCalibration:
        return cls("confidence", 0.5, 0.95, 0.4)


def _distance_scores(emb: np.ndarray, centroids: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (emb[:, None, :] - centroids[None]) / scale
    return np.sqrt((z**2).mean(-1)).min(1)


def ood_scores(preds: Predictions, score: str, features: np.ndarray | None = None,
               calibration: OODCalibration | None = None) -> np.ndarray:
    """Unfamiliarity of each prediction (higher = more likely an unknown taxon)."""
    if score == "confidence":
        return 1.0 - preds.scores
    if score == "energy":
        if preds.energy is None or np.isnan(preds.energy).any():
            bad = "" if preds.energy is None else f" (first empty value at {preds.where(int(np.flatnonzero(np.isnan(preds.energy))[0]))})"
            raise DataError(f"{preds.path}: no energy values{bad}; use --score confidence, or predict again with a benthos "
                            "version that writes the energy column.")
        return preds.energy.astype(float)
    if score == "distance":
        if calibration is None or calibration.centroids is None:
            raise DataError("the distance score needs a calibration made with validation features (--val-features).")
        emb = _embedding(preds, features)
        cent = np.asarray(calibration.centroids)
        if emb.shape[1] != cent.shape[1]:
            raise DataError(f"features have {emb.shape[1]} dimensions but the validation features had {cent.shape[1]}.")
        return _distance_scores(emb, cent, np.asarray(calibration.scale))
    raise DataError(f"unknown OOD score '{score}'; choose one of {', '.join(SCORES)}.")


def calibrate(val: Predictions, score: str = "energy", keep: float = 0.95, features: np.ndarray | None = None) -> OODCalibration:
    """Threshold that keeps ``keep`` of validation predictions (known classes) as familiar."""
    if not 0.5 <= keep < 1:
        raise DataError(f"keep={keep}: the fraction of validation items to keep must be in [0.5, 1).")
    if len(val) < 20:
        raise DataError(f"{val.path}: only {len(val)} validation predictions; calibrating a threshold needs at least 20.")
    emb = _embedding(val, features)
    labels = np.array(val.labels)
    classes = [c for c in val.classes if (labels == c).any()]
    cent = np.array([emb[labels == c].mean(0) for c in classes])
    # pooled per-dimension spread: a diagonal Mahalanobis distance, robust with few items per class
    resid = emb - cent[[classes.index(lb) for lb in labels]]
    scale = np.sqrt((resid**2).mean(0)) + 1e-6
    cal = OODCalibration(score, 0.0, keep, 0.0, classes, cent.tolist(), scale.tolist(), len(val))
    s = ood_scores(val, score, features, cal)
    cal.threshold = float(np.quantile(s, keep))
    # a new taxon should be about as tight as a known class: two members of a known class lie at most
    # about twice its 95% radius apart, so cut the average-linkage tree there
    cal.cluster_distance = float(2.0 * np.quantile(np.linalg.norm(resid, axis=1), 0.95))
    return cal


def cluster(emb: np.ndarray, distance: float) -> np.ndarray:
    """Average-linkage clusters cut at ``distance``; labels 1..K."""
    if len(emb) == 0:
        return np.zeros(0, np.int64)
    if len(emb) == 1:
        return np.ones(1, np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(emb, method="average", metric="euclidean")
    return fcluster(tree, t=max(distance, 1e-9), criterion="distance").astype(np.int64)


@dataclass
class UnknownResult:
    """Flags and clusters of one prediction set."""

    score: str
    threshold: float
    scores: np.ndarray
    flagged: np.ndarray       # bool per prediction
    clusters: np.ndarray      # per prediction: 0 = not flagged, else cluster id
    n_known_taxa: int

    @property
    def candidate_taxa(self) -> int:
        """Clusters of flagged items: candidate taxa the classifier does not know (to be confirmed)."""
        return int(len(set(self.clusters[self.flagged].tolist())))

    def summary(self) -> dict[str, Any]:
        sizes = np.bincount(self.clusters[self.flagged]) if self.flagged.any() else np.zeros(1, np.int64)
        return {"score": self.score, "threshold": self.threshold, "n_predictions": int(len(self.flagged)),
                "n_flagged": int(self.flagged.sum()), "fraction_flagged": float(self.flagged.mean()) if len(self.flagged) else 0.0,
                "candidate_taxa": self.candidate_taxa, "largest_cluster": int(sizes.max()),
                "richness_known": self.n_known_taxa, "richness_lower_bound_with_candidates": self.n_known_taxa + self.candidate_taxa}


def find_unknowns(preds: Predictions, calibration: OODCalibration, features: np.ndarray | None = None,
                  cluster_distance: float | None = None) -> UnknownResult:
    """Flag predictions above the calibrated threshold and cluster the flagged ones."""
    s = ood_scores(preds, calibration.score, features, calibration)
    flagged = s > calibration.threshold
    clusters = np.zeros(len(preds), np.int64)
    if flagged.any():
        emb = _embedding(preds, features)[flagged]
        clusters[flagged] = cluster(emb, cluster_distance if cluster_distance is not None else calibration.cluster_distance)
    known = len({lb for lb, f in zip(preds.labels, flagged) if not f})
    return UnknownResult(calibration.score, calibration.threshold, s, flagged, clusters, known)


REVIEW_COLUMNS = ["cluster", "image", "label", "score", "ood_score", "row", "column", "line"]


def review_rows(preds: Predictions, result: UnknownResult) -> list[dict[str, Any]]:
    """Flagged predictions ordered by cluster, most unusual first: the expert's queue."""
    idx = np.flatnonzero(result.flagged)
    idx = idx[np.lexsort((-result.scores[idx], result.clusters[idx]))]
    rows = []
    for i in idx:
        r: dict[str, Any] = dict(cluster=int(result.clusters[i]), image=preds.images[i], label=preds.labels[i],
                                 score=float(preds.scores[i]), ood_score=float(result.scores[i]),
                                 line=preds.lines[i] if preds.lines else "")
        if preds.points is not None:
            r["row"], r["column"] = int(preds.points[i, 0]), int(preds.points[i, 1])
        rows.append(r)
    return rows


_PLACEHOLDER = ("data:image/svg+xml;utf8," + "<svg xmlns='http://www.w3.org/2000/svg' width='160' height='160'>"
                "<rect width='160' height='160' fill='%23dde3e7'/><text x='80' y='84' font-size='13' text-anchor='middle' "
                "fill='%235b6b75'>image not found</text></svg>")


def _thumb(preds: Predictions, image: str, point: tuple[int, int] | None) -> str:
    from benthos.report.html import thumbnail

    path = Path(image)
    if not path.is_absolute():
        path = preds.root / path
    if not path.is_file():
        return _PLACEHOLDER
    try:
        if point is None:
            return thumbnail(path)
        from PIL import Image

        # for a point annotation the expert needs the patch around the point, not the whole frame
        with Image.open(path) as im:
            r, c = point
            half = 112
            return thumbnail(im.convert("RGB").crop((c - half, r - half, c + half, r + half)))
    except Exception:  # an unreadable image must not stop the queue; the CSV still lists it
        return _PLACEHOLDER


def gallery_html(preds: Predictions, result: UnknownResult, per_cluster: int = 12) -> str:
    """HTML (body fragment) with one gallery per cluster of flagged items."""
    from benthos.report.html import esc, gallery

    rows = review_rows(preds, result)
    if not rows:
        return '<p class="note">No prediction passed the unknown-taxon threshold.</p>'
    parts = []
    by_cluster: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_cluster.setdefault(r["cluster"], []).append(r)
    for cid, items in sorted(by_cluster.items(), key=lambda kv: -len(kv[1])):
        labels = sorted({r["label"] for r in items})
        parts.append(f"<h3>Candidate taxon {cid}: {len(items)} item(s); predicted as {esc(', '.join(labels))}</h3>")
        figs = []
        for r in items[:per_cluster]:
            point = (r["row"], r["column"]) if "row" in r else None
            cap = f"{Path(r['image']).name} | {r['label']} {r['score']:.2f} | ood {r['ood_score']:.2f}"
            figs.append((_thumb(preds, r["image"], point), cap))
        parts.append(gallery(figs))
        if len(items) > per_cluster:
            parts.append(f'<p class="note">{len(items) - per_cluster} more in the review CSV.</p>')
    return "".join(parts)


def write_review(out_dir: str | os.PathLike, preds: Predictions, result: UnknownResult) -> dict[str, Path]:
    """Write ``review_queue.csv`` and ``review_gallery.html`` for the expert."""
    from benthos.report.html import kpis, section, write_page

    out = Path(out_dir)
    csv_path = write_csv(out / "review_queue.csv", review_rows(preds, result), REVIEW_COLUMNS)
    s = result.summary()
    head = kpis({"flagged": s["n_flagged"], "candidate taxa": s["candidate_taxa"], "threshold": s["threshold"]})
    note = (f'<p class="note">Score: {_html.escape(result.score)}. Each group is a cluster of flagged items that look alike; '
            "an expert decides whether it is a taxon missing from the label set, a known taxon seen badly, or noise.</p>")
    html_path = write_page(out / "review_gallery.html", "Unknown-taxa review queue",
                           [section("Flagged predictions", head + note + gallery_html(preds, result))],
                           subtitle=str(preds.path or ""))
    return {"csv": csv_path, "html": html_path}
