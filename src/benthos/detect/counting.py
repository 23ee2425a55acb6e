"""Counting organisms from boxes: one stated threshold, fitted so that counts are unbiased.

A detector writes boxes down to a low score (0.05) so that AP can be measured, but a count needs a
cut: too low and every faint guess counts, too high and animals are missed. No fixed number suits
every detector, so the threshold is fitted when the detector is trained, on its validation
images: the score at which the number of boxes kept equals the number annotated (the count is
then unbiased there). The F1-optimal threshold (the best match of boxes to animals) is recorded
beside it; per-class thresholds replace the global one where a class has enough validation boxes.

Beside the thresholded count, the *expected* count: each box's score calibrated into the chance
that it is an animal (isotonic regression on the validation boxes matched at IoU 0.5), summed, and
divided by the share of annotated animals that any box found at all (the detector's recall
ceiling); its interval is the Poisson-binomial spread of those chances. Both are written; which
one is closer to the truth on held-out photos is measured in BENCHMARKS.md.
"""
from __future__ import annotations

import numpy as np

from benthos.data.detection import DetectionData
from benthos.runs.threshold import DEFAULT, CountThreshold, from_record

MIN_CLASS_BOXES = 30  # a class gets its own threshold with at least this many annotated validation boxes
MIN_REST_BOXES = 10  # the classes without their own threshold share one fitted on them with at least this many


def run_threshold(info: dict, run: str | None = None) -> CountThreshold:
    """The counting threshold a detector run's run.json records (``info``), or the stated fallback for runs
    trained before it was fitted; a damaged record is a DataError naming the file."""
    where = f"{run}/run.json" if run else "run.json"
    return from_record(info.get("count_threshold"), where) or CountThreshold(
        DEFAULT, {}, "default", "no counting threshold in the run's run.json (trained before thresholds were fitted)")


def _matched(data: DetectionData, preds: dict[int, dict], iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every detection's (score, label, true positive?) over ``data``, and how many annotated boxes any
    detection matched (greedy by score, IoU >= ``iou``, same class)."""
    from benthos.detect.evaluate import match_detections

    scores, labels, tps, found = [], [], [], 0
    for r in data.records:
        p = preds.get(r.image_id)
        if p is None:
            continue
        tp, hit = match_detections(r.boxes, r.labels, np.asarray(p["boxes"]), np.asarray(p["labels"]),
                                   np.asarray(p["scores"]), iou)
        scores.append(np.asarray(p["scores"], float))
        labels.append(np.asarray(p["labels"], int))
        tps.append(tp)
        found += int(hit.sum())
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))  # noqa: E731
    return cat(scores, float), cat(labels, int), cat(tps, bool), found


def unbiased_threshold(scores: np.ndarray, annotated: int, floor: float = 0.0) -> float:
    """The score at which as many boxes are kept as there are annotated animals: halfway between the
    ``annotated``-th highest score and the next (the lowest score when there are fewer boxes)."""
    s = np.sort(np.asarray(scores, float))[::-1]
    if annotated <= 0:
        return float(min(1.0, s[0] + 1e-6)) if len(s) else DEFAULT
    if len(s) <= annotated:
        return float(max(floor, s[-1])) if len(s) else floor
    return float((s[annotated - 1] + s[annotated]) / 2)


def f1_threshold(scores: np.ndarray, tp: np.ndarray, annotated: int) -> tuple[float, float]:
    """(threshold, F1) where F1 of boxes against annotated animals is highest."""
    if not len(scores) or annotated <= 0:
        return DEFAULT, 0.0
    order = np.argsort(-scores)
    s, t = scores[order], tp[order].astype(float)
    ctp = np.cumsum(t)
    f1 = 2 * ctp / (np.arange(1, len(s) + 1) + annotated)
    k = int(np.argmax(f1))
    return float(s[k]), float(f1[k])


def fit_count_threshold(data: DetectionData, preds: dict[int, dict], floor: float = 0.05,
                        min_class_boxes: int = MIN_CLASS_BOXES) -> dict:
    """The counting threshold fitted on ``data`` (the validation images) and ``preds`` (the detector's
    boxes on them, down to ``floor``), with what it is based on, for run.json."""
    scores, labels, tp, found = _matched(data, preds)
    annotated = sum(len(r.boxes) for r in data.records)
    per_class_gt = {c: int(sum((r.labels == k).sum() for r in data.records)) for k, c in enumerate(data.categories)}
    default = unbiased_threshold(scores, annotated, floor)
    f1_t, f1 = f1_threshold(scores, tp, annotated)
    per_class, per_class_f1 = {}, {}
    for k, c in enumerate(data.categories):
        if per_class_gt[c] >= min_class_boxes:
            m = labels == k
            per_class[c] = unbiased_threshold(scores[m], per_class_gt[c], floor)
            per_class_f1[c] = round(f1_threshold(scores[m], tp[m], per_class_gt[c])[0], 5)
    # the classes without a threshold of their own share one, fitted on their boxes together, so that the
    # validation count is the annotated count in total too (one fitted on every box would count the small
    # classes with the large ones' threshold); too few of their animals to fit on: the threshold of all
    rest = [k for k, c in enumerate(data.categories) if c not in per_class]
    rest_gt = sum(per_class_gt[data.categories[k]] for k in rest)
    if per_class and rest_gt >= MIN_REST_BOXES:
        default = unbiased_threshold(scores[np.isin(labels, rest)], rest_gt, floor)
    n = len(data.records)
    return {
        **CountThreshold(default, per_class, "record",
                         f"fitted on the run's {n} validation images (count = annotated)").to_dict(),
        "f1_optimal": {"default": round(f1_t, 5), "f1": round(f1, 4), "per_class": per_class_f1},
        "annotated": annotated, "annotated_per_class": per_class_gt, "validation_images": n,
        "recall_ceiling": round(found / annotated, 4) if annotated else None,
        "score_calibration": calibrate_scores(scores, tp),
    }


def calibrate_scores(scores: np.ndarray, tp: np.ndarray) -> dict | None:
    """P(a box is an animal | its score), monotone (isotonic regression), as breakpoints for run.json."""
    if len(scores) < 10 or tp.all() or not tp.any():
        return None
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, tp.astype(float))
    return {"score": [round(float(v), 5) for v in iso.X_thresholds_], "p": [round(float(v), 5) for v in iso.y_thresholds_]}


def expected_count(scores: np.ndarray, calibration: dict | None, recall_ceiling: float | None) -> tuple[float, float, float]:
    """(expected count, low, high) of animals from one set of box scores: the calibrated chances summed
    and divided by the recall ceiling; a 95% normal interval of the Poisson-binomial spread."""
    if calibration is None or not recall_ceiling:
        return float("nan"), float("nan"), float("nan")
    p = np.interp(np.asarray(scores, float), calibration["score"], calibration["p"])
    mean, sd = p.sum() / recall_ceiling, np.sqrt((p * (1 - p)).sum()) / recall_ceiling
    return float(mean), float(max(0.0, mean - 1.96 * sd)), float(mean + 1.96 * sd)


def count_boxes(labels: np.ndarray, scores: np.ndarray, categories: list[str], threshold: CountThreshold) -> list[int]:
    """Boxes per class at or above the class's threshold."""
    labels, scores = np.asarray(labels, int), np.asarray(scores, float)
    return [int(((labels == k) & (scores >= threshold.of(c))).sum()) for k, c in enumerate(categories)]


def count_table(data: DetectionData, preds: dict[int, dict], threshold: CountThreshold) -> list[dict]:
    """Per image of ``data``: annotated and counted animals (all classes), for the detector's report."""
    rows = []
    for r in data.records:
        p = preds.get(r.image_id)
        if p is None:
            continue
        counted = sum(count_boxes(p["labels"], p["scores"], data.categories, threshold))
        rows.append({"image": r.image_path.name, "annotated": int(len(r.boxes)), "counted": counted,
                     "error": counted - int(len(r.boxes))})
    return rows
