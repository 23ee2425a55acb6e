"""The files `benthos detect predict` writes, and reading them back (to merge shares).

``OUT/``
  ``detections.csv``        one row per box: image, label, score, x0, y0, x1, y1 (all boxes >= score_thresh)
  ``detections.coco.json``  the same as COCO results, with images and categories; ``info`` says what made them
  ``counts.csv``            animals per image and class, counted at the recorded threshold, and a TOTAL row
  ``expected_counts.csv``   the expected number of animals per image and class from the boxes' calibrated
                            scores, with a 95% interval (runs whose threshold was fitted with a calibration)
  ``detections.csv.json``   the record of detections.csv: run, weights, settings and the counting threshold,
                            which `benthos ecology` reads so that every count uses the same threshold
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from benthos.runs.threshold import CountThreshold, from_record
from benthos.errors import BenthosError, DataError
from benthos.runs.atomic import atomic_write_json, atomic_write_text

FILES = {"csv": "detections.csv", "coco": "detections.coco.json", "counts": "counts.csv"}
# what a share's detections depend on besides the model
SETTINGS = ("score_thresh", "tile", "tile_overlap", "tta", "box_vote", "test_proposals", "test_roi_sampling")


def result(image: str | os.PathLike, width: int, height: int, boxes, scores, labels) -> dict:
    """One image's detections as :func:`write_predictions` takes them (boxes x0, y0, x1, y1)."""
    return {"path": Path(image), "width": width, "height": height,
            "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            "scores": np.asarray(scores, dtype=np.float32), "labels": np.asarray(labels, dtype=np.int64)}


def write_predictions(results: list[dict], categories: list[str], out: str | os.PathLike,
                      threshold: CountThreshold | float = 0.5, info: dict | None = None,
                      expected: dict | None = None) -> dict[str, Path]:
    """``detections.csv``, ``detections.coco.json``, ``counts.csv`` and the CSV's record.

    Counts use the boxes at or above ``threshold`` (per class where it says so); every box is in the
    CSV and JSON. ``info`` (the run, its weights, the settings) goes into the JSON's ``info`` and the
    record, with the threshold, which :func:`read_share` reads back. ``expected``: the run's fitted
    counting record (with ``score_calibration`` and ``recall_ceiling``): also ``expected_counts.csv``."""
    from benthos.runs.shards import record_path

    threshold = threshold if isinstance(threshold, CountThreshold) else CountThreshold.given(threshold)
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", "label", "score", "x0", "y0", "x1", "y1"])
    dets, images, counts = [], [], []
    for k, r in enumerate(results, 1):
        images.append({"id": k, "file_name": str(r["path"]), "width": r["width"], "height": r["height"]})
        c = Counter()
        for (x0, y0, x1, y1), s, lab in zip(r["boxes"].tolist(), r["scores"].tolist(), r["labels"].tolist()):
            w.writerow([r["path"], categories[lab], f"{s:.4f}", f"{x0:.1f}", f"{y0:.1f}", f"{x1:.1f}", f"{y1:.1f}"])
            dets.append({"image_id": k, "category_id": lab + 1, "bbox": [round(v, 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                         "score": round(s, 5)})
            if s >= threshold.of(categories[lab]):
                c[categories[lab]] += 1
        counts.append([str(r["path"])] + [c.get(name, 0) for name in categories])
    paths = {key: out / name for key, name in FILES.items()}
    record = {"job": "benthos detect predict", **(info or {}), "count_threshold": threshold.to_dict(),
              "images": len(results), "detections": len(dets)}
    atomic_write_text(paths["csv"], buf.getvalue())
    atomic_write_json(paths["coco"], {"info": {**(info or {}), "count_threshold": threshold.to_dict(),
                                               "count_thresh": threshold.default},
                                      "images": images,
                                      "categories": [{"id": i + 1, "name": c} for i, c in enumerate(categories)],
                                      "annotations": dets})
    cbuf = io.StringIO()
    cw = csv.writer(cbuf)
    cw.writerow(["image", *categories])
    cw.writerows(counts)
    cw.writerow(["TOTAL", *[sum(row[i + 1] for row in counts) for i in range(len(categories))]])
    atomic_write_text(paths["counts"], cbuf.getvalue())
    if expected and expected.get("score_calibration") and expected.get("recall_ceiling"):
        paths["expected"] = _write_expected(results, categories, out / "expected_counts.csv", expected)
    paths["record"] = atomic_write_json(record_path(paths["csv"]), record)  # after the CSV: it describes it
    return paths


def _write_expected(results: list[dict], categories: list[str], path: Path, fitted: dict) -> Path:
    """Expected animals per image and class (calibrated scores summed over the recall ceiling), 95% interval."""
    from benthos.detect.counting import expected_count

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", "label", "expected", "low", "high"])
    totals = {c: [] for c in categories}
    for r in results:
        for k, c in enumerate(categories):
            scores = r["scores"][r["labels"] == k]
            totals[c].append(scores)
            e, lo, hi = expected_count(scores, fitted["score_calibration"], fitted["recall_ceiling"])
            w.writerow([r["path"], c, f"{e:.2f}", f"{lo:.2f}", f"{hi:.2f}"])
    for c in categories:
        scores = np.concatenate(totals[c]) if totals[c] else np.zeros(0)
        e, lo, hi = expected_count(scores, fitted["score_calibration"], fitted["recall_ceiling"])
        w.writerow(["TOTAL", c, f"{e:.2f}", f"{lo:.2f}", f"{hi:.2f}"])
    return atomic_write_text(path, buf.getvalue())


def read_share(folder: Path) -> tuple[list[str], dict, list[tuple[str, dict]]]:
    """(categories, info, [(image, result)]) of an output folder of `benthos detect predict`."""
    path = folder / FILES["coco"]
    if not path.is_file():
        raise DataError(f"{path}: not found; is {folder} a folder written by `benthos detect predict`?")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        categories = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
        info = doc.get("info") or {}
        boxes: dict[int, list] = {}
        for a in doc["annotations"]:
            boxes.setdefault(a["image_id"], []).append(a)
        share = [(img["file_name"], result(img["file_name"], img["width"], img["height"],
                                           [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                                           [a["score"] for a in anns], [a["category_id"] - 1 for a in anns]))
                 for img, anns in ((img, boxes.get(img["id"], [])) for img in doc["images"])]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, BenthosError) as exc:
        raise DataError(f"{path}: not a detections file written by `benthos detect predict` ({exc!r})") from None
    return categories, info, share


def recorded_threshold(info: dict, where: str) -> CountThreshold | None:
    """The counting threshold a detections file records (``count_threshold``; older files: ``count_thresh``)."""
    return from_record(info.get("count_threshold", info.get("count_thresh")), where)
