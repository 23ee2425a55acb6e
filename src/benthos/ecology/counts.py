"""Counts per taxon per sample (long ``sample,taxon,count`` and wide) and percent cover from points."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError
from benthos.ecology._io import read_csv, write_csv
from benthos.ecology.predictions import Predictions


@dataclass
class CountTable:
    """Individuals (or points) of each taxon in each sample; ``counts[s, t]``."""

    samples: list[str]
    taxa: list[str]
    counts: np.ndarray  # (n_samples, n_taxa) int64

    def vector(self, sample: str) -> np.ndarray:
        return self.counts[self.samples.index(sample)]

    def pooled(self, name: str = "all") -> CountTable:
        """All samples summed into one."""
        return CountTable([name], list(self.taxa), self.counts.sum(0, keepdims=True))

    def long_rows(self, zeros: bool = False) -> list[dict[str, Any]]:
        return [dict(sample=s, taxon=t, count=int(c)) for s, row in zip(self.samples, self.counts)
                for t, c in zip(self.taxa, row) if c or zeros]

    def wide_rows(self) -> list[dict[str, Any]]:
        return [dict(sample=s, **{t: int(c) for t, c in zip(self.taxa, row)}, total=int(row.sum()))
                for s, row in zip(self.samples, self.counts)]

    def write_long(self, path: str | os.PathLike) -> Path:
        return write_csv(path, self.long_rows(), ["sample", "taxon", "count"])

    def write_wide(self, path: str | os.PathLike) -> Path:
        return write_csv(path, self.wide_rows(), ["sample", *self.taxa, "total"])

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "taxa": self.taxa, "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CountTable:
        return cls(list(d["samples"]), list(d["taxa"]), np.asarray(d["counts"], dtype=np.int64))

    @classmethod
    def example(cls) -> CountTable:
        """Two stations: one well sampled, one with many rare taxa."""
        taxa = ["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "Buccinum undatum", "Cancer pagurus", "Pecten maximus"]
        return cls(["station_1", "station_2"], taxa, np.array([[30, 52, 7, 2, 1, 0], [4, 9, 1, 1, 2, 1]], dtype=np.int64))


def read_counts(path: str | os.PathLike) -> CountTable:
    """Read a long ``sample,taxon,count`` CSV, refusing bad counts with their line number."""
    path = Path(path)
    header, rows = read_csv(path, required=["sample", "taxon", "count"], what="long counts CSV (sample,taxon,count)")
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
    return CountTable(sample_names, taxon_names, counts)


def count_predictions(preds: Predictions, groups: list[str], min_score: float = 0.0,
                      exclude: tuple[str, ...] = ()) -> CountTable:
    """Count predictions per taxon per group (each row is one organism, image or point)."""
    if len(groups) != len(preds):
        raise ValueError("one group per prediction expected")
    keep = (preds.scores >= min_score) & np.array([lb not in exclude for lb in preds.labels], bool)
    taxa = [c for c in preds.classes if c not in exclude] if preds.kind != "detection" else sorted(
        {lb for lb, k in zip(preds.labels, keep) if k})
    samples = list(dict.fromkeys(groups))
    si = {s: i for i, s in enumerate(samples)}
    ti = {t: i for i, t in enumerate(taxa)}
    counts = np.zeros((len(samples), len(taxa)), dtype=np.int64)
    for g, lb, k in zip(groups, preds.labels, keep):
        if k:
            counts[si[g], ti[lb]] += 1
    return CountTable(samples, taxa, counts)


def percent_cover(preds: Predictions, groups: list[str] | None = None) -> list[dict[str, Any]]:
    """CoralNet-style cover: points of a class / points in the image, per image, per group and overall.

    Per image the cover is exact. For a group of images and for ``all`` we give the pooled
    cover (all points together) and the mean and standard deviation of the per-image covers,
    which is what benthic surveys usually report (images are the replicates).
    """
    if preds.kind == "detection":
        raise DataError(f"{preds.path}: percent cover needs point classifications (image,label,...,row,column), "
                        "not detections; use `benthos ecology counts` for detections.")
    images = count_predictions(preds, list(preds.images))
    rows: list[dict[str, Any]] = []
    per_image = images.counts / images.counts.sum(1, keepdims=True) * 100.0
    for s, cnt, cov in zip(images.samples, images.counts, per_image):
        for t, c, p in zip(images.taxa, cnt, cov):
            rows.append(dict(level="image", sample=s, taxon=t, points=int(c), total_points=int(cnt.sum()),
                             cover=float(p), cover_mean=float(p), cover_sd=0.0, n_images=1))
    sets: dict[str, list[int]] = {}
    if groups is not None and groups != list(preds.images):
        first = {}
        for im, g in zip(preds.images, groups):
            first.setdefault(im, g)
        for i, s in enumerate(images.samples):
            sets.setdefault(first[s], []).append(i)
    sets_all = {"all": list(range(len(images.samples)))}
    for level, groupsets in (("group", sets), ("all", sets_all)):
        for g, idx in groupsets.items():
            cnt = images.counts[idx].sum(0)
            for j, t in enumerate(images.taxa):
                covs = per_image[idx, j]
                rows.append(dict(level=level, sample=g, taxon=t, points=int(cnt[j]), total_points=int(cnt.sum()),
                                 cover=float(cnt[j] / cnt.sum() * 100.0), cover_mean=float(covs.mean()),
                                 cover_sd=float(covs.std(ddof=1)) if len(idx) > 1 else 0.0, n_images=len(idx)))
    return rows


COVER_COLUMNS = ["level", "sample", "taxon", "points", "total_points", "cover", "cover_mean", "cover_sd", "n_images"]

