"""Read the prediction files written by ``benthos predict`` and ``benthos detect predict``.

The file kind comes from the header (docs/ARCHITECTURE.md):
  classification  image,label,score[,label_2,score_2,...],prob:<class>...,energy
  points          the same plus row,column (CoralNet-style point classification)
  detection       image,label,score,x0,y0,x1,y1
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import DataError, closest
from benthos.ecology.tables import parse_float, read_csv, write_csv

DETECTION_COLUMNS = ["image", "label", "score", "x0", "y0", "x1", "y1"]
BASE_COLUMNS = ["image", "label", "score"]
ANNOTATED = "annotated_label"  # a point's label in the CoralNet CSV it was predicted from, when it had one


def detect_kind(header: list[str]) -> str | None:
    """'classification', 'points', 'detection' or None from a CSV header."""
    cols = set(header)
    has_probs = any(h.startswith("prob:") for h in header)
    if set(BASE_COLUMNS) <= cols and has_probs:
        return "points" if {"row", "column"} <= cols else "classification"
    if set(DETECTION_COLUMNS) <= cols:
        return "detection"
    return None


@dataclass
class Predictions:
    """One prediction file in memory: one entry per image (classification), point or detection."""

    kind: str
    images: list[str]
    labels: list[str]
    scores: np.ndarray
    classes: list[str]
    probs: np.ndarray | None = None     # (N, K) softmax over `classes`
    energy: np.ndarray | None = None    # (N,) -logsumexp(logits); higher = less familiar
    boxes: np.ndarray | None = None     # (N, 4) detections
    points: np.ndarray | None = None    # (N, 2) row, column
    lines: list[int] = field(default_factory=list)  # CSV line of each entry, for error messages
    extra: dict[str, list[str]] = field(default_factory=dict)  # other columns, kept for grouping
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def root(self) -> Path:
        """Folder that relative image paths are resolved against."""
        return self.path.parent if self.path else Path(".")

    def where(self, i: int) -> str:
        line = self.lines[i] if self.lines else i + 2
        return f"{self.path or 'predictions'}: line {line}"

    def subset(self, mask: np.ndarray) -> Predictions:
        idx = np.flatnonzero(mask)
        take = lambda a: None if a is None else a[idx]  # noqa: E731
        return Predictions(
            self.kind, [self.images[i] for i in idx], [self.labels[i] for i in idx], self.scores[idx], self.classes,
            take(self.probs), take(self.energy), take(self.boxes), take(self.points),
            [self.lines[i] for i in idx] if self.lines else [], {k: [v[i] for i in idx] for k, v in self.extra.items()}, self.path,
        )

    def to_rows(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Rows and columns in the file format of ``kind`` (for writing examples)."""
        if self.kind == "detection":
            cols = list(DETECTION_COLUMNS)
            rows = [dict(image=im, label=lb, score=float(s), x0=b[0], y0=b[1], x1=b[2], y1=b[3])
                    for im, lb, s, b in zip(self.images, self.labels, self.scores, self.boxes)]
        else:
            cols = BASE_COLUMNS + [f"prob:{c}" for c in self.classes] + ["energy"]
            rows = []
            for i, (im, lb, s) in enumerate(zip(self.images, self.labels, self.scores)):
                row = dict(image=im, label=lb, score=float(s))
                row.update({f"prob:{c}": float(p) for c, p in zip(self.classes, self.probs[i])})
                row["energy"] = float(self.energy[i]) if self.energy is not None else ""
                if self.kind == "points":
                    row["row"], row["column"] = int(self.points[i, 0]), int(self.points[i, 1])
                rows.append(row)
            if self.kind == "points":
                cols += ["row", "column"]
        for k, v in self.extra.items():
            cols.append(k)
            for r, x in zip(rows, v):
                r[k] = x
        return rows, cols

    def write(self, path: str | os.PathLike) -> Path:
        rows, cols = self.to_rows()
        return write_csv(path, rows, cols)

    @classmethod
    def example(cls, kind: str = "classification", seed: int = 0, n_images: int = 4) -> Predictions:
        """A small synthetic prediction set (three taxa plus sand) for tests and docs."""
        rng = np.random.default_rng(seed)
        classes = ["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus", "sand"]
        weights = np.array([0.3, 0.4, 0.1, 0.2])
        if kind == "detection":
            n = 5 * n_images
            lab = rng.choice(3, size=n, p=weights[:3] / weights[:3].sum())
            xy = rng.uniform(0, 400, size=(n, 2))
            boxes = np.hstack([xy, xy + rng.uniform(20, 80, size=(n, 2))]).round(1)
            return cls("detection", [f"station_{i % 2 + 1}/img_{i % n_images:03d}.jpg" for i in range(n)],
                       [classes[k] for k in lab], rng.uniform(0.3, 1.0, n).round(3), classes[:3], boxes=boxes)
        per = 10 if kind == "points" else 3
        n = per * n_images
        true = rng.choice(len(classes), size=n, p=weights)
        logits = rng.normal(0, 1, size=(n, len(classes)))
        logits[np.arange(n), true] += 3.0
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        energy = -(np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1))
        pred = probs.argmax(1)
        images = [f"station_{(i // per) % 2 + 1}/img_{i // per:03d}.jpg" for i in range(n)]
        pts = None
        if kind == "points":
            pts = rng.integers(0, 1000, size=(n, 2))
        return cls(kind, images, [classes[k] for k in pred], probs.max(1).round(4), classes,
                   probs=probs.round(4), energy=energy.round(4), points=pts)


def prediction_header_check(path: str | os.PathLike):
    """The test of line 1 of a prediction CSV (for ``read_csv(check_header=...)``): a clear error
    when it is neither a classification/points nor a detection predictions file."""
    def check(header: list[str]) -> None:
        if detect_kind(header) is None:
            raise DataError(
                f"{path}: line 1: header '{','.join(header[:10])}{',...' if len(header) > 10 else ''}' is neither a "
                "classification predictions file (image,label,score,...,prob:<class>...,energy) nor a detection "
                "predictions file (image,label,score,x0,y0,x1,y1); pass a file written by `benthos predict` or `benthos detect predict`."
            )
    return check


def read_predictions(path: str | os.PathLike, classes: list[str] | None = None) -> Predictions:
    """Read a prediction CSV, detecting its kind from the header; check labels against ``classes``."""
    path = Path(path)
    header, rows = read_csv(path, what="predictions CSV", check_header=prediction_header_check(path))
    kind = detect_kind(header)
    if not rows:
        raise DataError(f"{path}: no prediction rows after the header.")
    prob_cols = [h for h in header if h.startswith("prob:")]
    file_classes = [h[len("prob:"):] for h in prob_cols]
    known = {"image", "label", "score", "energy", "row", "column", "x0", "y0", "x1", "y1", *prob_cols}
    extra_cols = [h for h in header if h not in known and not h.startswith(("label_", "score_"))]
    images, labels, scores, lines = [], [], [], []
    probs, energy, boxes, points = [], [], [], []
    extra: dict[str, list[str]] = {c: [] for c in extra_cols}
    has_energy = "energy" in header
    for line, r in rows:
        if not r["image"]:
            raise DataError(f"{path}: line {line}: empty 'image' value.")
        score = parse_float(r["score"], path, line, "score")
        if not 0.0 <= score <= 1.0 + 1e-6:
            raise DataError(f"{path}: line {line}: score {score} is outside [0, 1].")
        images.append(r["image"]); labels.append(r["label"]); scores.append(score); lines.append(line)
        for c in extra_cols:
            extra[c].append(r[c])
        if kind == "detection":
            boxes.append([parse_float(r[c], path, line, c) for c in ("x0", "y0", "x1", "y1")])
            continue
        if r["label"] not in file_classes:
            raise DataError(f"{path}: line {line}: label '{r['label']}' has no prob:{r['label']} column; the file's classes are "
                            f"{', '.join(file_classes)}.{closest(r['label'], file_classes)}")
        p = [parse_float(r[c], path, line, c) for c in prob_cols]
        if min(p) < -1e-6 or abs(sum(p) - 1.0) > 0.02:
            raise DataError(f"{path}: line {line}: prob: columns sum to {sum(p):.4f}; they must be a softmax (non-negative, sum 1).")
        probs.append(p)
        if has_energy:
            energy.append(parse_float(r["energy"], path, line, "energy") if r["energy"] else np.nan)
        if kind == "points":
            points.append([parse_float(r["row"], path, line, "row"), parse_float(r["column"], path, line, "column")])
    if kind == "detection":
        file_classes = sorted(set(labels))
    preds = Predictions(
        kind, images, labels, np.asarray(scores, float), file_classes,
        probs=np.asarray(probs, float) if probs else None,
        energy=np.asarray(energy, float) if has_energy and kind != "detection" else None,
        boxes=np.asarray(boxes, float) if boxes else None,
        points=np.asarray(points, float) if points else None,
        lines=lines, extra=extra, path=path,
    )
    if classes is not None:
        check_label_set(preds, classes, "the model's classes")
    return preds


def check_label_set(preds: Predictions, classes: list[str], source: str) -> None:
    """Refuse predictions made with another label set than ``classes`` (from ``source``)."""
    if preds.kind != "detection":
        if list(preds.classes) != list(classes):
            missing = [c for c in classes if c not in preds.classes]
            extra = [c for c in preds.classes if c not in classes]
            detail = []
            if extra:
                detail.append(f"classes not in {source}: {', '.join(extra[:8])}")
            if missing:
                detail.append(f"classes of {source} missing from the file: {', '.join(missing[:8])}")
            if not detail:
                detail.append("same classes in a different order")
            raise DataError(f"{preds.path}: line 1: these predictions come from another label set than {source} ({'; '.join(detail)}); "
                            "use the evaluation/taxonomy of the run that wrote the predictions.")
        return
    for i, lb in enumerate(preds.labels):
        if lb not in classes:
            raise DataError(f"{preds.where(i)}: label '{lb}' is not in {source}.{closest(lb, classes)}")


# a CoralNet export's photo columns under their Darwin Core names (added when the file has none of that name)
CORALNET_TO_DWC = {"Date": "eventDate", "Latitude": "decimalLatitude", "Longitude": "decimalLongitude"}


_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?$")


def iso8601_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 8601 date, date-time or interval (``A/B``) as Darwin Core's
    eventDate takes it, or None when it is one."""
    parts = value.split("/")
    if len(parts) > 2:
        return "more than one '/'"
    when = []
    for part in parts:
        if not _ISO_DATE.match(part):
            return "not written YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z|+hh:mm]"
        text = part.replace("Z", "+00:00")
        try:
            if len(part) == 4:
                when.append(_dt.datetime(int(part), 1, 1))
            elif len(part) == 7:
                when.append(_dt.datetime(int(part[:4]), int(part[5:7]), 1))
            else:
                t = _dt.datetime.fromisoformat(text)
                when.append(t.replace(tzinfo=None))
        except ValueError as exc:
            return f"not a date on the calendar ({exc})"
    if len(when) == 2 and when[1] < when[0]:
        return "the interval ends before it starts"
    return None


def check_events(metadata: dict[str, dict[str, str]], path: Any = "metadata CSV") -> None:
    """Refuse eventDate values that are not ISO 8601 and coordinates that are not on the globe,
    naming the metadata row; OBIS and GBIF would reject or misplace them."""
    for row in metadata.values():
        where = f"{path}: line {row.get('_line', '?')}"
        date = row.get("eventDate", "")
        if date:
            why = iso8601_problem(date)
            if why:
                raise DataError(f"{where}: eventDate '{date}' is {why}; write dates as ISO 8601, e.g. 2024-05-11, "
                                "2024-05-11T14:30:00Z or 2024-05-11/2024-05-13.")
        for col, bound in (("decimalLatitude", 90.0), ("decimalLongitude", 180.0)):
            raw = row.get(col, "")
            if not raw:
                continue
            try:
                x = float(raw)
            except ValueError:
                raise DataError(f"{where}: {col} '{raw}' is not a number; give decimal degrees (WGS84), e.g. 54.183.") from None
            if not math.isfinite(x) or abs(x) > bound:
                raise DataError(f"{where}: {col} {raw} is outside -{bound:g}..{bound:g}; give decimal degrees (WGS84) "
                                "and leave the cell empty where it is unknown (not 999).")


def read_metadata(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Image metadata keyed by image: a CSV with an ``image`` column plus any of station, transect,
    site, eventDate, ..., or a CoralNet export (``Name``, Date, Aux1-Aux5, ...; one row per point is
    fine: the rows of one photo must agree on the photo's columns). A CoralNet export's Date,
    Latitude and Longitude also answer to eventDate, decimalLatitude and decimalLongitude."""
    from benthos.data.regions import is_point_column

    path = Path(path)
    header, rows = read_csv(path, what="image metadata CSV", check_header=_metadata_header(path))
    coralnet = "image" not in header
    key = "image" if not coralnet else next(h for h in header if h.strip().lower() == "name")
    keep = [h for h in header if not (coralnet and is_point_column(h))]
    out: dict[str, dict[str, str]] = {}
    for line, r in rows:
        image = r[key]
        if not image:
            raise DataError(f"{path}: line {line}: empty '{key}' value.")
        row = {h: r[h] for h in keep}
        if coralnet:
            row["image"] = image
            for src, dwc in CORALNET_TO_DWC.items():
                if src in row and dwc not in header:
                    row[dwc] = row[src]
        if image in out:
            if not coralnet:
                raise DataError(f"{path}: line {line}: image '{image}' is listed twice; keep one row per image.")
            first = out[image]
            differ = [h for h in keep if first.get(h) != row.get(h)]
            if differ:
                raise DataError(f"{path}: line {line}: photo '{image}' has {differ[0]} '{row[differ[0]]}' here but "
                                f"'{first[differ[0]]}' on line {first['_line']}; one photo has one value.")
            continue
        out[image] = dict(row, _line=str(line))
    check_events(out, path)  # where the values enter: a bad date or position is named before any count is made
    return out


def _metadata_header(path: Path):
    def check(header: list[str]) -> None:
        if "image" not in header and not any(h.strip().lower() == "name" for h in header):
            raise DataError(f"{path}: line 1: no 'image' column (or 'Name', as in a CoralNet export) in header "
                            f"{','.join(header)}; give one row per image with its path or file name.")
    return check


def lookup_metadata(meta: dict[str, dict[str, str]], image: str) -> dict[str, str] | None:
    """Metadata row for an image path: exact match first, then by file name."""
    if image in meta:
        return meta[image]
    name = Path(image).name
    hits = [v for k, v in meta.items() if Path(k).name == name]
    return hits[0] if len(hits) == 1 else None


def short_names(images: list[str]) -> list[str]:
    """Image paths relative to the folder they all share (``/data/dive3/a.jpg`` -> ``dive3/a.jpg``
    when every image lies under ``/data``), so sample names in tables and plots stay readable.
    Unique paths stay unique; paths without a shared folder are kept as given."""
    parents = [str(Path(im).parent) for im in images]
    if set(parents) <= {"."}:  # no images, or bare file names
        return list(images)
    try:
        root = os.path.commonpath(parents)
    except ValueError:  # absolute and relative paths mixed, or different drives
        return list(images)
    if not root or root in (".", os.sep):
        return list(images)
    return [Path(os.path.relpath(im, root)).as_posix() for im in images]


def group_keys(preds: Predictions, by: str = "image", metadata: dict[str, dict[str, str]] | None = None) -> list[str]:
    """The sample each prediction belongs to: its image, its folder, or a metadata/prediction column."""
    if by == "image":
        return short_names(preds.images)
    if by == "folder":
        return [Path(im).parent.name or "." for im in preds.images]
    if by == "all":
        return ["all"] * len(preds)
    if metadata is not None:
        keys = []
        for i, im in enumerate(preds.images):
            row = lookup_metadata(metadata, im)
            if row is None:
                raise DataError(f"{preds.where(i)}: image '{im}' is not in the metadata CSV; add a row for it.")
            if by not in row:
                cols = [c for c in row if not c.startswith("_")]
                raise DataError(f"metadata CSV has no column '{by}'; its columns are {', '.join(cols)}.{closest(by, cols)}")
            if not row[by]:
                raise DataError(f"metadata CSV: line {row['_line']}: empty '{by}' for image '{im}'.")
            keys.append(row[by])
        return keys
    if by in preds.extra:
        return list(preds.extra[by])
    raise DataError(f"cannot group by '{by}': give --metadata with a '{by}' column, or use 'image' or 'folder'.")
