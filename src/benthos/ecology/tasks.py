"""Whole jobs behind ``benthos ecology ...``: files in, results out (the CLI only parses and prints)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError
from benthos.ecology.predictions import Predictions, group_keys, read_metadata, read_predictions
from benthos.ecology.threshold import CountThreshold, count_threshold, counted


def parse_by(by: list[str] | None) -> str:
    """``--by image`` / ``folder`` / ``all`` / ``group COLUMN`` (or just ``COLUMN``) -> grouping key."""
    if not by:
        return "image"
    if by[0] == "group":
        if len(by) != 2:
            raise DataError("--by group needs a column name, e.g. --by group station (with --metadata images.csv).")
        return by[1]
    if len(by) != 1:
        raise DataError(f"--by {' '.join(by)}: use --by image, --by folder, --by all or --by group COLUMN.")
    return by[0]


def load(predictions: str | os.PathLike, by: list[str] | None = None, metadata: str | os.PathLike | None = None
         ) -> tuple[Predictions, list[str], dict[str, dict[str, str]] | None]:
    """Predictions, the sample of each row, and the metadata (if given)."""
    preds = read_predictions(predictions)
    meta = read_metadata(metadata) if metadata else None
    return preds, group_keys(preds, parse_by(by), meta), meta


@dataclass
class Counted:
    """A prediction file read for counting: the rows, their samples, the metadata, the threshold
    the counts use (None: every classification counted) and which rows pass it."""

    preds: Predictions
    groups: list[str]
    metadata: dict[str, dict[str, str]] | None
    threshold: CountThreshold | None
    keep: np.ndarray

    @property
    def note(self) -> str | None:
        """The one line every counting command prints: the threshold and what it kept."""
        if self.threshold is None:
            return None
        what = "boxes" if self.preds.kind == "detection" else "predictions"
        return f"{self.threshold.describe(sorted(set(self.preds.labels)))}; {int(self.keep.sum())} of {len(self.keep)} {what} counted"

    def kept(self) -> tuple[Predictions, list[str]]:
        """Only the counted rows, and their samples."""
        return self.preds.subset(self.keep), [g for g, k in zip(self.groups, self.keep) if k]


def load_counted(predictions: str | os.PathLike, by: list[str] | None = None, metadata: str | os.PathLike | None = None,
                 min_score: float | None = None) -> Counted:
    """:func:`load`, with the counting threshold (:func:`benthos.ecology.threshold.count_threshold`)."""
    preds, groups, meta = load(predictions, by, metadata)
    thr = count_threshold(preds, min_score)
    return Counted(preds, groups, meta, thr, counted(preds, thr))


def counts(predictions: str | os.PathLike, by: list[str] | None = None, metadata: str | os.PathLike | None = None,
           min_score: float | None = None, exclude: tuple[str, ...] = ()) -> tuple[Any, Counted]:
    """CountTable from a prediction file, and what was counted (threshold, rows kept)."""
    from benthos.ecology.counts import count_predictions

    c = load_counted(predictions, by, metadata, min_score)
    return count_predictions(c.preds, c.groups, exclude=exclude, keep=c.keep), c


def cover(predictions: str | os.PathLike, by: list[str] | None = None, metadata: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    from benthos.ecology.counts import percent_cover

    preds, groups, _ = load(predictions, by, metadata)
    return percent_cover(preds, groups)


def diversity(counts_csv: str | os.PathLike, depths: tuple[int, ...] = (), curves: bool = True, nboot: int = 50,
              seed: int = 0, points: bool = False) -> tuple[dict[str, dict[str, Any]], dict[str, list[float]] | None, Any]:
    """Per-sample diversity, the accumulation curve over samples (None for points), and the count table.

    Counts of classified points (a ``points`` column, or ``points=True``) are shares of cover,
    not individuals: only the measures of those shares are given (see :data:`POINT_MEASURES`).
    """
    from benthos.ecology.counts import read_counts
    from benthos.ecology.diversity import diversity_by_sample, point_measures
    from benthos.ecology.rarefaction import accumulation

    table = read_counts(counts_csv, points=points)
    if table.points:
        return {s: point_measures(r) for s, r in zip(table.samples, table.counts)}, None, table
    res = diversity_by_sample(table, depths, curves=curves, nboot=nboot, seed=seed)
    return res, accumulation(table.counts, seed=seed), table


@dataclass
class Corrected:
    """Corrections of one prediction file, and what a reader must know about them."""

    corrections: list[Any]
    counted: Counted
    evaluation: Any
    warnings: list[str]


def correct(predictions: str | os.PathLike, evaluation: str | os.PathLike, by: list[str] | None = None,
            metadata: str | os.PathLike | None = None, methods: tuple[str, ...] = ("acc", "em"), nboot: int = 200,
            seed: int = 0, min_score: float | None = None) -> Corrected:
    """Naive vs corrected counts (cover for points) per sample, with the warnings that go with them."""
    from benthos.ecology.correction import correct_predictions, read_evaluation

    ev = read_evaluation(evaluation)
    c = load_counted(predictions, by, metadata, min_score)
    preds, groups = c.kept()
    if not len(preds):
        raise DataError(f"{predictions}: nothing left to correct: {c.note}")
    res = correct_predictions(preds, ev, groups if by else None, methods, nboot, seed)
    return Corrected(res, c, ev, correction_warnings(res, ev))


def correction_warnings(res: list[Any], ev: Any) -> list[str]:
    """What makes corrected figures less sure than they look: few held-out examples, an evaluation
    on other data than the run's test split, ACC and EM telling different stories."""
    from benthos.ecology.correction import MIN_SUPPORT

    out = []
    small = ev.small_classes(MIN_SUPPORT)
    if small:
        listed = ", ".join(f"{c} ({n})" for c, n in sorted(small.items(), key=lambda kv: kv[1]))
        out.append(f"few held-out examples in {ev.path or 'the evaluation'} for {listed}: fewer than {MIN_SUPPORT} "
                   "per class leaves their error rates uncertain (the intervals say how much); label more test images"
                   + ("; classes with 0 are assumed always right" if 0 in small.values() else ""))
    if ev.data and "held-out" not in ev.data:
        out.append(f"{ev.path}: measured on {ev.data}, not on the run's held-out test split")
    for r in res:
        bad = r.disagreements()
        if bad:
            out.append(f"[{r.sample}] acc and em disagree beyond their 95% intervals for {', '.join(bad)}: acc assumes the "
                       "held-out error rates hold in this survey, em that the scores are calibrated and only the mix of "
                       "taxa changed; check on labelled survey images before trusting either")
    return out


def unknown(predictions: str | os.PathLike, validation: str | os.PathLike, score: str = "energy", keep: float = 0.95,
            features: str | os.PathLike | None = None, val_features: str | os.PathLike | None = None,
            cluster_distance: float | None = None) -> tuple[Predictions, Any, Any]:
    """Calibrate on validation predictions, flag and cluster the survey's unknowns."""
    from benthos.ecology.unknown import calibrate, find_unknowns, load_features

    preds = read_predictions(predictions)
    val = read_predictions(validation, classes=None)
    if preds.kind == "detection" or val.kind == "detection":
        raise DataError("unknown-taxon flags need classification predictions (softmax and energy), not detections.")
    if list(val.classes) != list(preds.classes):
        raise DataError(f"{validation}: the validation predictions come from another label set than {predictions}; "
                        "calibrate with predictions of the same model.")
    if (features is None) != (val_features is None):
        raise DataError("give both --features (survey) and --val-features (validation), or neither.")
    f = load_features(features, len(preds)) if features else None
    vf = load_features(val_features, len(val), "validation predictions") if val_features else None
    cal = calibrate(val, score, keep, vf)
    return preds, cal, find_unknowns(preds, cal, f, cluster_distance)


def taxonomy(taxonomy_csv: str | os.PathLike, predictions: str | os.PathLike | None = None, threshold: float = 0.8,
             evaluation: str | os.PathLike | None = None) -> dict[str, Any]:
    """Check a taxonomy; roll predictions up the ranks; per-rank metrics from an evaluation."""
    from benthos.ecology.correction import read_evaluation
    from benthos.ecology.taxonomy import rank_metrics, read_taxonomy, rollup

    tax = read_taxonomy(taxonomy_csv)
    out: dict[str, Any] = {"taxonomy": tax}
    if predictions:
        preds = read_predictions(predictions)
        if preds.probs is None:
            raise DataError(f"{predictions}: roll-up needs the prob:<class> columns of classification predictions.")
        tax.check_labels(preds.classes, f"the classes of {predictions}")
        out["predictions"] = preds
        out["rollup"] = rollup(preds.probs, preds.classes, tax, threshold)
    if evaluation:
        ev = read_evaluation(evaluation)
        tax.check_labels(ev.classes, f"the classes of {ev.path}")
        out["metrics"] = rank_metrics(ev.confusion, ev.classes, tax)
    return out


def darwincore(predictions: str | os.PathLike, out: str | os.PathLike, by: list[str] | None = None,
               metadata: str | os.PathLike | None = None, taxonomy_csv: str | os.PathLike | None = None, model: str = "",
               min_score: float | None = None, exclude: tuple[str, ...] = (), title: str = "benthos occurrences",
               creator: str = "", licence: str = "", media_base: str | os.PathLike | None = None,
               media_url: str | None = None) -> dict[str, Any]:
    """Write a Darwin Core occurrence CSV, or an archive when ``out`` ends in .zip. Returns the path,
    the number of occurrences, the labels exported without a scientific name, warnings and what was counted."""
    from benthos.ecology.darwincore import (check_archive_metadata, media_mapper, model_identity, occurrences,
                                            write_archive, write_occurrences)
    from benthos.ecology.taxonomy import read_taxonomy

    archive = str(out).endswith(".zip")
    if archive:
        check_archive_metadata(title, creator, licence)
    c = load_counted(predictions, by, metadata, min_score)  # read_metadata checked eventDate and coordinates
    tax = read_taxonomy(taxonomy_csv) if taxonomy_csv else None
    media, media_note = media_mapper(c.preds, media_base, media_url)
    remarks = model_identity(c.preds.path, model)
    if c.threshold is not None:
        remarks += f"; counted at score >= {c.threshold.default:g}" + (" (per class where recorded)" if c.threshold.per_class else "")
    rows, cols, notes = occurrences(c.preds, c.groups, tax, c.metadata, remarks, exclude=exclude, keep=c.keep,
                                    media=media, licence=licence)
    if not rows:
        raise DataError(f"{predictions}: no occurrence left to export (all below the counting threshold, excluded or non-taxa).")
    path = (write_archive(out, rows, cols, title, creator, licence) if archive else write_occurrences(out, rows, cols))
    return {"path": path, "n": len(rows), "unnamed": notes["unnamed"],
            "warnings": ([media_note] if media_note else []) + notes["warnings"], "counted": c}


def report_sections(predictions: str | os.PathLike, out: str | os.PathLike, by: list[str] | None = None,
                    metadata: str | os.PathLike | None = None, evaluation: str | os.PathLike | None = None,
                    validation: str | os.PathLike | None = None, score: str = "energy", nboot: int = 50, seed: int = 0,
                    min_score: float | None = None) -> tuple[list[str], str]:
    """Biodiversity HTML sections of one prediction file, and a subtitle describing it."""
    secs, subtitle, _ = _report_parts(predictions, by, metadata, evaluation, validation, score, nboot, seed, min_score)
    return secs, subtitle


def _report_parts(predictions: str | os.PathLike, by: list[str] | None, metadata: str | os.PathLike | None,
                  evaluation: str | os.PathLike | None, validation: str | os.PathLike | None, score: str, nboot: int,
                  seed: int, min_score: float | None) -> tuple[list[str], str, str | None]:
    from benthos.ecology.correction import correct_predictions, read_evaluation
    from benthos.ecology.counts import count_predictions, percent_cover
    from benthos.ecology.diversity import diversity_by_sample, point_measures
    from benthos.ecology.rarefaction import accumulation, inext
    from benthos.ecology.report import biodiversity_sections
    from benthos.ecology.unknown import calibrate, find_unknowns

    c = load_counted(predictions, by, metadata, min_score)
    preds, groups = c.preds, c.groups
    table, empty = count_predictions(preds, groups, keep=c.keep).nonempty()
    if not len(table.samples):
        raise DataError(f"{predictions}: no predictions to report on" + (f" ({c.note})" if c.note else "") + ".")
    points = preds.kind == "points"  # classified points are cover, not individuals: no rarefaction of them
    if points:
        div = {s: point_measures(r) for s, r in zip(table.samples, table.counts)}
    else:
        div = diversity_by_sample(table, curves=False)
    curves = None if points else {s: inext(r, nboot=nboot, seed=seed + i)
                                  for i, (s, r) in enumerate(zip(table.samples, table.counts))}
    cov = percent_cover(preds, groups) if points else None
    corr = None
    if evaluation:
        methods = ("acc",) if preds.kind == "detection" else ("acc", "em")
        ev = read_evaluation(evaluation)
        kept, kept_groups = c.kept()
        res = correct_predictions(kept, ev, kept_groups if by else None, methods, max(nboot, 2), seed)
        corr = (res, correction_warnings(res, ev))
    unk = None
    if validation:
        val = read_predictions(validation)
        unk = (preds, find_unknowns(preds, calibrate(val, score)))
    secs = biodiversity_sections(table, cov, div, curves, None if points else accumulation(table.counts, seed=seed),
                                 corr, unk, points=points, counting=c.note, empty=empty)
    return secs, f"{predictions} ({preds.kind}, {len(preds)} rows)", c.note


def report(predictions: str | os.PathLike, out: str | os.PathLike, by: list[str] | None = None,
           metadata: str | os.PathLike | None = None, evaluation: str | os.PathLike | None = None,
           validation: str | os.PathLike | None = None, score: str = "energy", nboot: int = 50, seed: int = 0,
           min_score: float | None = None) -> tuple[Path, str | None]:
    """Standalone biodiversity report of one prediction file; the page, and the counting threshold's line."""
    from benthos.ecology.report import write_report

    secs, subtitle, note = _report_parts(predictions, by, metadata, evaluation, validation, score, nboot, seed, min_score)
    return write_report(out, secs, subtitle=subtitle), note


def merge(predictions: list[str | os.PathLike], out: str | os.PathLike) -> dict[str, Any]:
    """Join prediction CSVs of one kind and one class list (e.g. the shares of `benthos predict
    --shard I/N`) into ``out``, refusing files whose headers differ or that hold the same image."""
    from benthos.ecology.tables import read_csv, write_csv
    from benthos.ecology.predictions import prediction_header_check

    if len(predictions) < 2:
        raise DataError("merge needs two or more prediction files")
    from benthos.runs.atomic import atomic_write_json
    from benthos.runs.journal import SUFFIX
    from benthos.runs.shards import (check_same_job, check_shares, forget_record, parse_shard, read_record,
                                     record_path, refuse_unfinished)

    for path in predictions:
        refuse_unfinished(path, Path(str(path) + SUFFIX), "benthos predict")
    records = [read_record(p) for p in predictions]
    check_same_job(predictions, records)
    check_shares(predictions, [parse_shard(r["shard"]) if r and r.get("shard") else None for r in records])
    header, rows, owner = None, [], {}
    for k, path in enumerate(predictions):
        head, lines = read_csv(path, what="predictions CSV", check_header=prediction_header_check(path))
        if header is None:
            header, first = head, path
        elif head != header:
            diff = sorted(set(head) ^ set(header))[:5] or ["the column order"]
            raise DataError(f"{path}: its columns differ from {first}'s ({', '.join(diff)}): "
                            "merge only files of one run and one kind")
        for _, row in lines:
            image = row["image"]
            if image in owner and owner[image] != k:
                raise DataError(f"{path}: image {image} is also in {predictions[owner[image]]}: the files "
                                "overlap (merge the shares of one survey once each)")
            owner[image] = k
            rows.append(row)
    if Path(out).resolve() in {Path(p).resolve() for p in predictions}:
        raise DataError(f"{out} is one of the inputs; write the merged file elsewhere")
    write_csv(out, rows, header)
    done = [r for r in records if r]
    if done:  # the merged file's record: the job's model and settings, and what it was joined from
        keep = {k: v for k, v in done[0].items() if k not in ("shard", "rows", "skipped", "merged_from")}
        atomic_write_json(record_path(out), {**keep, "rows": len(rows), "merged_from": [
            {"file": str(p), "shard": r.get("shard") if r else None} for p, r in zip(predictions, records)]})
    else:
        forget_record(out)  # no stale record of an earlier file of that name
    return {"files": len(predictions), "rows": len(rows), "images": len(owner), "out": str(out)}
