"""Where a detector loses AP on one class: recall, localisation or ranking (false positives).

    python benchmarks/diagnose_detect.py RUN --data ANNOTATIONS.json [--class brittle_star] [--split val]

Prints, on the run's held-out images (or its training images with ``--split train``):
- box widths of the class (10th/50th/90th percentile, px);
- recall at IoU 0.5 of every box the detector proposes (score >= 0.001), with the class's own
  label and with any label: the ceiling on AP50;
- AP of the class with the match IoU lowered from 0.5 to 0.3 and 0.1, and precision at 10-50%
  recall: if AP stays low at IoU 0.1, the misses are not boxes drawn a little off but
  confident detections where no box is labelled (background, or organisms nobody labelled);
- class-agnostic AP50 (confusions between classes);
- how the detector's boxes (score >= 0.3) differ from the labelled boxes they overlap best
  (IoU >= 0.1): mean and spread of log(width ratio) and log(height ratio), for well-placed
  (IoU >= 0.5) and misplaced (0.1-0.5) boxes: a bias (all too small, say) could be corrected,
  a wide spread around zero is boxes drawn to other extents than the labels.
AP here is COCO's 101-point interpolation over this class alone (matches pycocotools' AP50 to
about 0.01).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def ap_curve(records, preds: dict, cls: int | None, iou: float) -> tuple[float, dict]:
    """(101-point AP, {recall: interpolated precision}); ``cls`` None: every class counts as one."""
    from benthos.detect.evaluate import match_detections

    scores, hits, n_gt = [], [], 0
    for r in records:
        p = preds[int(r.image_id)]
        gl, gb = np.asarray(r.labels), np.asarray(r.boxes, np.float32)
        if cls is None:
            sel, gsel = np.ones(len(p["labels"]), bool), np.ones(len(gl), bool)
        else:
            sel, gsel = p["labels"] == cls, gl == cls
        g_lab, d_lab = np.zeros(gsel.sum(), int), np.zeros(sel.sum(), int)
        tp, _ = match_detections(gb[gsel], g_lab, p["boxes"][sel], d_lab, p["scores"][sel], iou)
        scores += p["scores"][sel].tolist()
        hits += tp.tolist()
        n_gt += int(gsel.sum())
    if not scores or not n_gt:
        return 0.0, {}
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(hits)[order]
    cum = np.cumsum(tp)
    precision = np.maximum.accumulate((cum / np.arange(1, len(tp) + 1))[::-1])[::-1]
    recall = cum / n_gt

    def at(r: float) -> float:
        i = np.searchsorted(recall, r)
        return float(precision[i]) if i < len(precision) else 0.0

    return float(np.mean([at(r) for r in np.linspace(0, 1, 101)])), {r: at(r) for r in (0.1, 0.2, 0.3, 0.5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--data", required=True, help="the annotations the run was trained on")
    ap.add_argument("--class", dest="cls", default="brittle_star")
    ap.add_argument("--split", default="val", choices=["val", "train"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gallery", help="write a PNG: the class's most confident false positives (top row pairs) "
                                      "beside its most confident true positives, as crops with context")
    ap.add_argument("--gallery-size", type=int, default=24, help="crops of each kind in the gallery")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from torchvision.ops import box_iou

    from benthos.data.detection import read_detection
    from benthos.detect.inference import predict_records
    from benthos.detect.build import load_detector
    from benthos.detect.splits import run_split

    run = Path(args.run)
    model, info = load_detector(run, tta=False)
    data = run_split(run, read_detection(args.data), args.split)
    k = info["classes"].index(args.cls)
    (getattr(model, "roi_heads", None) or model).score_thresh = 0.001  # every proposal with a score
    preds = predict_records(model, data.records)

    widths = np.concatenate([np.asarray(r.boxes)[np.asarray(r.labels) == k][:, 2] -
                             np.asarray(r.boxes)[np.asarray(r.labels) == k][:, 0] for r in data.records])
    print(f"{run} on its {args.split} split: {len(data.records)} images, {len(widths)} {args.cls} boxes")
    print(f"box width px (10/50/90th percentile): {np.percentile(widths, [10, 50, 90]).round(1).tolist()}")
    found_own = found_any = 0
    for r in data.records:
        gb = torch.as_tensor(np.asarray(r.boxes)[np.asarray(r.labels) == k], dtype=torch.float32)
        p = preds[int(r.image_id)]
        if not len(gb) or not len(p["boxes"]):
            continue
        iou = box_iou(gb, torch.as_tensor(p["boxes"]))
        found_any += int((iou.max(1).values >= 0.5).sum())
        own = torch.as_tensor(p["labels"] == k)
        if own.any():
            found_own += int((iou[:, own].max(1).values >= 0.5).sum())
    print(f"recall at IoU 0.5 (score >= 0.001): labelled {args.cls} {found_own / len(widths):.3f}, "
          f"any label {found_any / len(widths):.3f}")
    for iou in (0.5, 0.3, 0.1):
        a, p = ap_curve(data.records, preds, k, iou)
        print(f"AP at IoU {iou}: {a:.3f}   precision at recall " + ", ".join(f"{r}: {v:.2f}" for r, v in p.items()))
    a, _ = ap_curve(data.records, preds, None, 0.5)
    print(f"class-agnostic AP50 (all classes as one): {a:.3f}")
    box_extent_bias(data.records, preds, k)
    if args.gallery:
        gallery(data.records, preds, k, args.gallery, args.gallery_size)


def box_extent_bias(records, preds: dict, cls: int, min_score: float = 0.3) -> None:
    """Log size ratios (detected / labelled) of each labelled box of ``cls`` and its best-overlapping
    detection of ``cls`` (score >= ``min_score``, IoU >= 0.1), split at IoU 0.5."""
    from torchvision.ops import box_iou

    rows = []
    for r in records:
        p = preds[int(r.image_id)]
        g = np.asarray(r.boxes, np.float32)[np.asarray(r.labels) == cls]
        d = p["boxes"][(p["labels"] == cls) & (p["scores"] >= min_score)]
        if not len(g) or not len(d):
            continue
        best, j = box_iou(torch.as_tensor(g), torch.as_tensor(d)).max(1)
        for gb, iou, db in zip(g, best.tolist(), d[j.numpy()]):
            if iou >= 0.1:
                rows.append((iou, np.log((db[2] - db[0]) / max(gb[2] - gb[0], 1e-3)),
                             np.log((db[3] - db[1]) / max(gb[3] - gb[1], 1e-3))))
    if not rows:
        return
    a = np.asarray(rows)
    for name, sub in (("IoU >= 0.5", a[a[:, 0] >= 0.5]), ("IoU 0.1-0.5", a[a[:, 0] < 0.5])):
        if len(sub):
            print(f"box extents, {name} ({len(sub)} boxes, score >= {min_score}): log(width ratio) mean "
                  f"{sub[:, 1].mean():+.3f} sd {sub[:, 1].std():.3f}, log(height ratio) mean {sub[:, 2].mean():+.3f} "
                  f"sd {sub[:, 2].std():.3f}")


def gallery(records, preds: dict, cls: int, path: str, n: int, side: int = 96) -> None:
    """Most confident detections of ``cls`` that overlap no labelled box of any class (IoU < 0.1),
    and the most confident ones that match a label (IoU >= 0.5): two grids of crops, 2x the box."""
    from PIL import Image, ImageDraw
    from torchvision.ops import box_iou

    from benthos.data.images import load_image

    fps, tps = [], []
    for r in records:
        p = preds[int(r.image_id)]
        own = p["labels"] == cls
        boxes, scores = p["boxes"][own], p["scores"][own]
        if not len(boxes):
            continue
        gb = torch.as_tensor(np.asarray(r.boxes, np.float32))
        iou_any = box_iou(torch.as_tensor(boxes), gb).max(1).values.numpy() if len(gb) else np.zeros(len(boxes))
        gsel = torch.as_tensor(np.asarray(r.labels) == cls)
        iou_own = (box_iou(torch.as_tensor(boxes), gb[gsel]).max(1).values.numpy() if gsel.any()
                   else np.zeros(len(boxes)))
        for b, sc, ia, io in zip(boxes, scores, iou_any, iou_own):
            if ia < 0.1:
                fps.append((float(sc), r.image_path, b))
            elif io >= 0.5:
                tps.append((float(sc), r.image_path, b))
    rows = []
    for title, items in (("false positives", sorted(fps, key=lambda t: -t[0])[:n]),
                         ("true positives", sorted(tps, key=lambda t: -t[0])[:n])):
        cols = 8
        sheet = Image.new("RGB", (cols * side, 18 + ((len(items) + cols - 1) // cols) * (side + 14)), "white")
        d = ImageDraw.Draw(sheet)
        d.text((4, 3), f"most confident {title} (score)", fill="black")
        for i, (sc, img_path, b) in enumerate(items):
            x0, y0, x1, y1 = b.tolist()
            cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 16)
            crop = load_image(img_path).crop((cx - half, cy - half, cx + half, cy + half)).resize((side, side))
            ImageDraw.Draw(crop).rectangle([side / 4, side / 4, 3 * side / 4, 3 * side / 4], outline="red")
            ox, oy = (i % cols) * side, 18 + (i // cols) * (side + 14)
            sheet.paste(crop, (ox, oy))
            d.text((ox + 2, oy + side), f"{sc:.2f}", fill="black")
        rows.append(sheet)
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    out.save(path)
    print(f"gallery -> {path} ({len(fps)} false positives, {len(tps)} true positives in all)")


if __name__ == "__main__":
    main()
