"""Counts per taxon per sample (long ``sample,taxon,count`` and wide) and percent cover from points."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError
from benthos.ecology.tables import read_csv, write_csv
from benthos.ecology.predictions import ANNOTATED, Predictions


@dataclass
class CountTable:
    """Individuals (or classified points) of each taxon in each sample; ``counts[s, t]``."""

    samples: list[str]
    taxa: list[str]
    counts: np.ndarray  # (n_samples, n_taxa) int64
    points: bool = False  # classified points (cover), not individuals: written as a ``points`` column

    @property
    def unit(self) -> str:
        """The long CSV's value column: ``count`` (individuals) or ``points``."""
        return "points" if self.points else "count"

    def vector(self, sample: str) -> np.ndarray:
        return self.counts[self.samples.index(sample)]

    def pooled(self, name: str = "all") -> CountTable:
        """All samples summed into one."""
        return CountTable([name], list(self.taxa), self.counts.sum(0, keepdims=True), self.points)

    def nonempty(self) -> tuple[CountTable, list[str]]:
        """The samples holding at least one individual or point, and the names of those left out."""
        has = self.counts.sum(1) > 0
        return (CountTable([s for s, k in zip(self.samples, has) if k], list(self.taxa), self.counts[has], self.points),
                [s for s, k in zip(self.samples, has) if not k])

    def long_rows(self, zeros: bool = False) -> list[dict[str, Any]]:
        return [{"sample": s, "taxon": t, self.unit: int(c)} for s, row in zip(self.samples, self.counts)
                for t, c in zip(self.taxa, row) if c or zeros]

    def wide_rows(self) -> list[dict[str, Any]]:
        return [dict(sample=s, **{t: int(c) for t, c in zip(self.taxa, row)}, total=int(row.sum()))
                for s, row in zip(self.samples, self.counts)]

    def write_long(self, path: str | os.PathLike) -> Path:
        return write_csv(path, self.long_rows(), ["sample", "taxon", self.unit])

    def write_wide(self, path: str | os.PathLike) -> Path:
        return write_csv(path, self.wide_rows(), ["sample", *self.taxa, "total"])

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "taxa": self.taxa, "counts": self.counts.tolist(), "points": self.points}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CountTable:
        return cls(list(d["samples"]), list(d["taxa"]), np.asarray(d["counts"], dtype=np.int64), bool(d.get("points")))

    @classmethod
    def example(cls) -> CountTable:
        """Two stations: one well sampled, one with many rare taxa."""
        taxa = ["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "Buccinum undatum", "Cancer pagurus", "Pecten maximus"]
        return cls(["station_1", "station_2"], taxa, np.array([[30, 52, 7, 2, 1, 0], [4, 9, 1, 1, 2, 1]], dtype=np.int64))


def read_counts(path: str | os.PathLike, points: bool = False) -> CountTable:
    """Read a long ``sample,taxon,count`` CSV (``sample,taxon,points`` for classified points, as
    ``benthos ecology counts`` writes them), refusing bad counts with their line number.
    ``points``: take the counts as points even when the column is called ``count``."""
    path = Path(path)

    def unit_column(header: list[str]) -> None:
        if "count" not in header and "points" in header:
            header[header.index("points")] = "count"  # one name below; the table remembers which it was
            was_points.append(True)

    was_points: list[bool] = []
    header, rows = read_csv(path, required=["sample", "taxon", "count"], what="long counts CSV (sample,taxon,count)",
                            check_header=unit_column)
    points = points or bool(was_points)
    if not rows:
        raise DataError(f"{path}: no rows after the header.")
    samples: dict[str, list[int]] = {}
    taxa: dict[str, None] = {}
    seen: dict[tuple[str, str], int] = {}
    values: dict[tuple[str, str], int] = {}
    for line, r in rows:
        s, t, raw = r["sample"], r["taxon"], r["count"]
        if not s or not t:
            raise DataError(f"{path}: line {line}: empty {'sample' if not s else 'taxon'}.")
        try:
            x = float(raw)
        except ValueError:
            raise DataError(f"{path}: line {line}: count '{raw}' is not a number.") from None
        if not np.isfinite(x) or x < 0:
            raise DataError(f"{path}: line {line}: count {raw} is negative or not finite; counts are individuals (0, 1, 2, ...).")
        if x != int(x):
            raise DataError(f"{path}: line {line}: count {raw} is not a whole number; diversity estimators need counts of "
                            "individuals (use `benthos ecology cover` for fractional cover).")
        if (s, t) in seen:
            raise DataError(f"{path}: line {line}: sample '{s}', taxon '{t}' already given on line {seen[s, t]}; give each pair once.")
        seen[s, t] = line
        values[s, t] = int(x)
        samples.setdefault(s, []).append(line)
        taxa.setdefault(t, None)
    sample_names, taxon_names = list(samples), list(taxa)
    counts = np.zeros((len(sample_names), len(taxon_names)), dtype=np.int64)
    si = {s: i for i, s in enumerate(sample_names)}
    ti = {t: i for i, t in enumerate(taxon_names)}
    for (s, t), c in values.items():
        counts[si[s], ti[t]] = c
    for s, lines in samples.items():
        if counts[si[s]].sum() == 0:
            raise DataError(f"{path}: line {lines[0]}: sample '{s}' has no individuals (all counts are 0); "
                            "diversity is undefined for an empty sample, remove its rows.")
    return CountTable(sample_names, taxon_names, counts, points)


def count_predictions(preds: Predictions, groups: list[str], min_score: float = 0.0,
                      exclude: tuple[str, ...] = (), keep: np.ndarray | None = None) -> CountTable:
    """Count predictions per taxon per group (each row is one organism, image or point).

    ``keep``: the rows to count (e.g. :func:`benthos.ecology.threshold.counted`), besides
    ``min_score`` and ``exclude``; every group stays in the table, with zeros where nothing is kept.
    """
    if len(groups) != len(preds):
        raise ValueError("one group per prediction expected")
    keep = (preds.scores >= min_score) & np.array([lb not in exclude for lb in preds.labels], bool) & (
        np.ones(len(preds), bool) if keep is None else np.asarray(keep, bool))
    taxa = [c for c in preds.classes if c not in exclude] if preds.kind != "detection" else sorted(
        {lb for lb, k in zip(preds.labels, keep) if k})
    samples = list(dict.fromkeys(groups))
    si = {s: i for i, s in enumerate(samples)}
    ti = {t: i for i, t in enumerate(taxa)}
    counts = np.zeros((len(samples), len(taxa)), dtype=np.int64)
    for g, lb, k in zip(groups, preds.labels, keep):
        if k:
            counts[si[g], ti[lb]] += 1
    return CountTable(samples, taxa, counts, preds.kind == "points")


def percent_cover(preds: Predictions, groups: list[str] | None = None) -> list[dict[str, Any]]:
    """CoralNet-style cover: points of a class / points in the image, per image, per group and overall.

    Per image the cover is exact. For a group of images and for ``all`` we give the pooled
    cover (all points together) and the mean and standard deviation of the per-image covers,
    which is what benthic surveys usually report (images are the replicates). Where the points
    carry their annotated labels (an ``annotated_label`` column, from a labelled CoralNet CSV),
    the annotated cover of the same points stands beside the predicted one.
    """
    if preds.kind != "points":
        what = "detections (boxes)" if preds.kind == "detection" else "one label per image (no row,column columns)"
        raise DataError(f"{preds.path}: line 1: percent cover needs point classifications (image,label,...,row,column), "
                        f"but this file holds {what}; classify points with `benthos predict RUN points.csv` or "
                        "`--grid 5x5`, or use `benthos ecology counts` to count.")
    annotated = preds.extra.get(ANNOTATED)
    taxa = list(preds.classes) + [t for t in dict.fromkeys(annotated or []) if t and t not in preds.classes]
    images = list(dict.fromkeys(preds.images))
    predicted = _tally(preds.images, preds.labels, images, taxa)
    truth = _tally(preds.images, annotated, images, taxa) if annotated else None
    sets: dict[str, list[int]] = {}
    if groups is not None and groups != list(preds.images):
        first: dict[str, str] = {}
        for im, g in zip(preds.images, groups):
            first.setdefault(im, g)
        for i, im in enumerate(images):
            sets.setdefault(first[im], []).append(i)
    levels = [("image", {im: [i] for i, im in enumerate(images)}), ("group", sets),
              ("all", {"all": list(range(len(images)))})]
    rows: list[dict[str, Any]] = []
    for level, groupsets in levels:
        for g, idx in groupsets.items():
            pred = _cover(predicted[idx])
            ann = _cover(truth[idx]) if truth is not None else None
            for j, t in enumerate(taxa):
                r = dict(level=level, sample=g, taxon=t, points=pred["points"][j], total_points=pred["total"],
                         cover=pred["cover"][j], cover_mean=pred["mean"][j], cover_sd=pred["sd"][j], n_images=len(idx))
                if ann is not None:
                    r.update(annotated_points=ann["points"][j], annotated_cover=ann["cover"][j],
                             annotated_cover_mean=ann["mean"][j])
                rows.append(r)
    return rows


def _tally(images: list[str], labels: list[str], order: list[str], taxa: list[str]) -> np.ndarray:
    """Points per (image, taxon); labels not in ``taxa`` (an empty annotation) are not counted."""
    ii, ti = {im: i for i, im in enumerate(order)}, {t: j for j, t in enumerate(taxa)}
    out = np.zeros((len(order), len(taxa)), np.int64)
    for im, lb in zip(images, labels):
        if lb in ti:
            out[ii[im], ti[lb]] += 1
    return out


def _cover(counts: np.ndarray) -> dict[str, Any]:
    """Pooled cover and mean/sd over images of the images' point counts (rows)."""
    total = counts.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_image = np.where(total > 0, counts / np.maximum(total, 1) * 100.0, np.nan)
    has = total[:, 0] > 0
    n_all = int(counts.sum())
    pooled = counts.sum(0) / n_all * 100.0 if n_all else np.full(counts.shape[1], np.nan)
    mean = per_image[has].mean(0) if has.any() else np.full(counts.shape[1], np.nan)
    sd = per_image[has].std(0, ddof=1) if has.sum() > 1 else np.zeros(counts.shape[1])
    return {"points": [int(v) for v in counts.sum(0)], "total": n_all, "cover": [float(v) for v in pooled],
            "mean": [float(v) for v in mean], "sd": [float(v) for v in sd]}


COVER_COLUMNS = ["level", "sample", "taxon", "points", "total_points", "cover", "cover_mean", "cover_sd", "n_images"]
ANNOTATED_COLUMNS = ["annotated_points", "annotated_cover", "annotated_cover_mean"]


def cover_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The columns of :func:`percent_cover`'s rows: with the annotated cover when the points had labels."""
    return COVER_COLUMNS + (ANNOTATED_COLUMNS if rows and "annotated_cover" in rows[0] else [])
