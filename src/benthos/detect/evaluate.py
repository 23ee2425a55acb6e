"""COCO box metrics with pycocotools: mAP@[.5:.95], AP50, AP75, AP by size, per-class AP, PR curves."""
from __future__ import annotations

import contextlib
import io

import numpy as np

from benthos.data.detection import DetectionData

SIZE_KEYS = ("AP_small", "AP_medium", "AP_large")


def _mean_valid(a: np.ndarray) -> float:
    a = a[a > -1]
    return float(a.mean()) if a.size else float("nan")


def coco_metrics(gt: DetectionData, preds: dict[int, dict], max_dets: int = 100) -> dict:
    """Score ``preds`` ({image_id: {"boxes" xyxy, "scores", "labels" 0-based}}) against ``gt``.

    Returns mAP, AP50, AP75, AP_small/medium/large, AR, per_class {name: {AP, AP50, AP75, gt}}
    and pr_curves {name: {recall, precision}} at IoU 0.5.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns = [], []
    for r in gt.records:
        images.append({"id": int(r.image_id), "width": r.width, "height": r.height, "file_name": r.image_path.name})
        for (x0, y0, x1, y1), lab in zip(r.boxes.tolist(), r.labels.tolist()):
            anns.append({"id": len(anns) + 1, "image_id": int(r.image_id), "category_id": int(lab) + 1,
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    cats = [{"id": k + 1, "name": c} for k, c in enumerate(gt.categories)]
    dets = []
    ids = {r.image_id for r in gt.records}
    for iid, p in preds.items():
        if iid not in ids:
            continue
        for (x0, y0, x1, y1), s, lab in zip(np.asarray(p["boxes"]).tolist(), np.asarray(p["scores"]).tolist(),
                                            np.asarray(p["labels"]).tolist()):
            dets.append({"image_id": int(iid), "category_id": int(lab) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                         "score": float(s)})
    counts = {c: 0 for c in gt.categories}
    for a in anns:
        counts[gt.categories[a["category_id"] - 1]] += 1
    empty = {"mAP": 0.0, "AP50": 0.0, "AP75": 0.0, **{k: 0.0 for k in SIZE_KEYS}, "AR100": 0.0,
             "per_class": {c: {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "gt": counts[c]} for c in gt.categories},
             "pr_curves": {}, "images": len(images), "detections": 0}
    if not dets or not anns:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the table
        coco = COCO()
        coco.dataset = {"images": images, "annotations": anns, "categories": cats}
        coco.createIndex()
        res = coco.loadRes(dets)
        ev = COCOeval(coco, res, "bbox")
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    prec = ev.eval["precision"]  # [T(iou), R(recall), K(class), A(area), M(maxdets)]
    per_class, curves = {}, {}
    for k, name in enumerate(gt.categories):
        per_class[name] = {"AP": _mean_valid(prec[:, :, k, 0, -1]), "AP50": _mean_valid(prec[0, :, k, 0, -1]),
                           "AP75": _mean_valid(prec[5, :, k, 0, -1]), "gt": counts[name]}
        p50 = prec[0, :, k, 0, -1]
        if (p50 > -1).any():
            curves[name] = {"recall": ev.params.recThrs.tolist(), "precision": np.where(p50 < 0, 0, p50).tolist()}
    clean = lambda v: float(v) if v >= 0 else float("nan")  # noqa: E731  (-1 = no boxes of that size)
    return {"mAP": clean(s[0]), "AP50": clean(s[1]), "AP75": clean(s[2]), "AP_small": clean(s[3]),
            "AP_medium": clean(s[4]), "AP_large": clean(s[5]), "AR100": clean(s[8]), "per_class": per_class,
            "pr_curves": curves, "images": len(images), "detections": len(dets)}


def match_detections(gt_boxes: np.ndarray, gt_labels: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
                     scores: np.ndarray, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching by score: (true-positive mask over detections, matched mask over ground truth)."""
    from torchvision.ops import box_iou
    import torch

    tp = np.zeros(len(boxes), bool)
    hit = np.zeros(len(gt_boxes), bool)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return tp, hit
    ious = box_iou(torch.as_tensor(boxes, dtype=torch.float32), torch.as_tensor(gt_boxes, dtype=torch.float32)).numpy()
    for d in np.argsort(-scores):
        cand = np.where((gt_labels == labels[d]) & ~hit & (ious[d] >= iou))[0]
        if len(cand):
            g = cand[np.argmax(ious[d, cand])]
            hit[g], tp[d] = True, True
    return tp, hit
