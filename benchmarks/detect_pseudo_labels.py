"""Pseudo-labels for a detection training set whose annotators missed animals (an experiment).

On the NOAA brittle-star frames many confident "false positives" of the trained detector are
brittle stars nobody labelled. Training then teaches the detector that such animals are
background. This script takes a trained detector run, predicts on the frames of the run's
*training* split only, and writes a copy of the COCO file in which each confident detection
that overlaps no labelled box (of any class) and is not mostly inside one is added as a box of its predicted class
(``"pseudo": true`` on the record). The held-out frames keep their annotations unchanged, so
a detector retrained on the new file is scored on the same labels as before.

    python benchmarks/detect_pseudo_labels.py RUN ANNOTATIONS.json --images DIR --out new.json \
        [--thresh 0.6] [--iou 0.3] [--inside 0.5]

Prints how many boxes were added per class and score band.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np


def _inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The fraction of each box of a (N,4) that lies inside each box of b (M,4): a part of a labelled animal
    (an arm, a disc) has a low IoU with the animal's box but lies inside it."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(-1)
    return inter / (((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None] + 1e-9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a trained detector run folder (its split.json names the training frames)")
    ap.add_argument("annotations", help="the COCO JSON the run was trained on")
    ap.add_argument("--images", required=True, help="the image folder the run was trained with")
    ap.add_argument("--out", required=True, help="the COCO JSON to write")
    ap.add_argument("--thresh", type=float, default=0.6, help="minimum score of an added box")
    ap.add_argument("--iou", type=float, default=0.3, help="added only if its IoU with every labelled box is below this")
    ap.add_argument("--inside", type=float, default=0.5,
                    help="... and less than this fraction of it lies inside any labelled box (parts of labelled animals)")
    args = ap.parse_args(argv)

    import torch
    from torchvision.ops import box_iou

    from benthos.detect.build import load_detector
    from benthos.detect.inference import predict_images

    coco = json.loads(Path(args.annotations).read_text(encoding="utf-8"))
    split = json.loads((Path(args.run) / "split.json").read_text(encoding="utf-8"))
    train = {Path(p).name for p in split["train"]}
    model, info = load_detector(args.run)
    id_of = {c["name"]: c["id"] for c in coco["categories"]}
    cat_ids = [id_of[name] for name in info["classes"]]  # the run's 0-based labels -> the file's ids
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    images = [im for im in coco["images"] if Path(im["file_name"]).name in train]
    paths = [Path(args.images) / im["file_name"] for im in images]
    results = predict_images(model, paths)
    by_path = {str(r["path"]): r for r in results}
    next_id = max(a["id"] for a in coco["annotations"]) + 1
    added, bands = Counter(), Counter()
    for im, p in zip(images, paths):
        r = by_path.get(str(p))
        if r is None:
            continue
        gt = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in by_image.get(im["id"], []))],
                      dtype=np.float32).reshape(-1, 4)
        keep = r["scores"] >= args.thresh
        boxes, scores, labels = r["boxes"][keep], r["scores"][keep], r["labels"][keep]
        free = np.ones(len(boxes), bool)
        if len(gt):
            iou = box_iou(torch.as_tensor(boxes), torch.as_tensor(gt)).numpy()
            free = (iou.max(1) < args.iou) & (_inside(boxes, gt).max(1) < args.inside)
        for b, s, lab in zip(boxes[free], scores[free], labels[free]):
            x0, y0, x1, y1 = (float(v) for v in b)
            cid = cat_ids[int(lab)]
            coco["annotations"].append({"id": next_id, "image_id": im["id"], "category_id": cid,
                                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                                        "iscrowd": 0, "pseudo": True, "score": round(float(s), 4)})
            next_id += 1
            added[names[cid]] += 1
            bands[(names[cid], f"{min(0.9, np.floor(s * 10) / 10):.1f}+")] += 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(coco), encoding="utf-8")
    n_train = sum(len(by_image.get(im["id"], [])) for im in images)
    print(f"{len(images)} training frames, {n_train} labelled boxes; added {sum(added.values())} pseudo-labels "
          f"(score >= {args.thresh}, IoU < {args.iou} with and < {args.inside} inside every labelled box): {dict(added)}")
    for (name, band), n in sorted(bands.items()):
        print(f"  {name:16s} score {band}: {n}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
