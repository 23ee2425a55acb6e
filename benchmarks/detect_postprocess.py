"""A trained detector's held-out frames scored with other ways of merging its raw boxes.

    python benchmarks/detect_postprocess.py RUN --data ANNOTATIONS.json [--views 1 2 4] [--scales 800]

The detector is run once per view (the frame, its horizontal mirror, its vertical mirror,
both) with its final NMS switched off, and every box above its score threshold is kept.
Those raw boxes are then merged in several ways, all scored by the same COCO evaluation:

- ``nms``: class-wise NMS at the run's IoU, the best ``detections_per_img`` kept. With one
  view this is what the detector does itself (the first line must repeat the run's score).
- ``vote``: NMS picks the boxes, then each kept box is moved to the score-weighted mean of all
  raw boxes of its class that overlap it by IoU >= 0.5 (box voting, Gidaris & Komodakis 2015).
  Boxes drawn to slightly different extents average out, which matters here: about a tenth
  of the default's AP lies between match IoU 0.3 and 0.5 (docs/bench_detect.md).
- ``wbf``: as ``vote``, and the score becomes the mean over views of the best score each view
  gave inside the cluster (weighted boxes fusion's rescoring, Solovyev et al. 2021): an animal
  found in every view ranks above one found in a single view.
- ``soft``: Gaussian soft-NMS (Bodla et al. 2017, sigma 0.5): overlapping boxes are scored
  down instead of removed, for animals in clusters.

``--scales``: the same views also with the frames resized to these input sizes (multi-scale
test-time augmentation); each merge is then also scored over the views at the run's own size
plus those at each extra size.

``--with RUN2 ...``: other runs trained on the same split (``benthos detect train --split
RUN/split.json --seed N``); their raw boxes join this run's as more views, so each merge is
also scored for the ensemble of all the runs (at the run's own size).

Nothing is written into the run folder. The held-out frames are the test set of this
benchmark, so a winning setting is a hypothesis until it holds on another split.
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch
from torchvision.ops import batched_nms, box_iou

from benthos.data.detection import read_detection
from benthos.detect.dataset import flip_boxes
from benthos.detect.inference import predict_records
from benthos.detect.evaluate import coco_metrics
from benthos.detect.build import load_detector
from benthos.detect.splits import run_split
from benthos.detect.tiling import nms_vote

VIEWS = {1: ["id"], 2: ["id", "h"], 4: ["id", "h", "v", "hv"]}


class Flipped(torch.nn.Module):
    """The model run on a mirrored frame, its boxes mapped back onto the frame."""

    def __init__(self, model: torch.nn.Module, flip: str, size: int | None = None) -> None:
        super().__init__()
        self.model, self.flip, self.size = model, flip, size

    @torch.no_grad()
    def forward(self, images):
        dims = [d for d, f in ((-1, "h"), (-2, "v")) if f in self.flip]
        t = self.model.transform  # torchvision resizes inside the model and maps boxes back to the frame
        own = t.min_size, t.max_size
        if self.size:
            t.min_size, t.max_size = (self.size,), self.size
        try:
            outs = self.model([x.flip(dims) if dims else x for x in images])
        finally:
            t.min_size, t.max_size = own
        for x, o in zip(images, outs):
            h, w = x.shape[-2:]
            o["boxes"] = flip_boxes(o["boxes"], w if "h" in self.flip else None, h if "v" in self.flip else None)
        return outs


def merge(raw: list[dict], how: str, nms_iou: float, limit: int, vote_iou: float = 0.5,
          sigma: float = 0.5) -> dict:
    """One image's raw boxes from ``len(raw)`` views -> final detections (numpy, 0-based labels)."""
    b = torch.cat([torch.as_tensor(r["boxes"]) for r in raw]).float()
    s = torch.cat([torch.as_tensor(r["scores"]) for r in raw]).float()
    lab = torch.cat([torch.as_tensor(r["labels"]) for r in raw]).long()
    view = torch.cat([torch.full((len(r["scores"]),), i) for i, r in enumerate(raw)])
    if how == "soft":
        b, s, lab = soft_nms(b, s, lab, sigma)
        keep = s.argsort(descending=True)[:limit]
        return {"boxes": b[keep].numpy(), "scores": s[keep].numpy(), "labels": lab[keep].numpy()}
    if how in ("nms", "vote"):  # what the detector does with ``extra: {box_vote: IOU}`` (0: plain NMS)
        out = nms_vote(b, s, lab, nms_iou, limit, vote_iou if how == "vote" else 0.0)
        return {k: v.numpy() for k, v in out.items()}
    keep = batched_nms(b, s, lab, nms_iou)[:limit]
    kb, ks, kl = b[keep].clone(), s[keep].clone(), lab[keep]
    if len(keep):  # weighted boxes fusion
        same = kl[:, None] == lab[None, :]
        iou = box_iou(kb, b) * same  # K x N
        iou = iou * (iou == iou.amax(0, keepdim=True))  # each raw box joins one cluster: the kept box it overlaps most
        member = iou >= vote_iou  # raw boxes in each kept box's cluster
        w = s[None, :] * member
        kb = (w @ b) / w.sum(1, keepdim=True)
        ks = torch.stack([(s[None, :] * (member & (view == v)[None, :])).amax(1) for v in range(len(raw))], 1).mean(1)
    order = ks.argsort(descending=True)
    return {"boxes": kb[order].numpy(), "scores": ks[order].numpy(), "labels": kl[order].numpy()}


def soft_nms(b, s, lab, sigma: float, min_score: float = 0.05):
    """Class-wise Gaussian soft-NMS: each pick scores its overlapping neighbours down by exp(-iou^2/sigma)."""
    ob, os_, ol = [], [], []
    for c in lab.unique():
        m = lab == c
        bc, sc = b[m], s[m].clone()
        iou = box_iou(bc, bc)
        alive = torch.ones(len(sc), dtype=torch.bool)
        while alive.any():
            i = int(torch.where(alive, sc, torch.tensor(-1.0)).argmax())
            alive[i] = False
            ob.append(bc[i]), os_.append(sc[i].clone()), ol.append(c)
            sc = torch.where(alive, sc * torch.exp(-iou[i] ** 2 / sigma), sc)
            alive &= sc >= min_score
    if not ob:
        return b[:0], s[:0], lab[:0]
    return torch.stack(ob), torch.stack(os_), torch.stack(ol)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", required=True, help="the annotations the run was trained on (COCO/YOLO/VOC)")
    ap.add_argument("--images", default=None)
    ap.add_argument("--views", type=int, nargs="+", default=[1, 2, 4], choices=sorted(VIEWS))
    ap.add_argument("--scales", type=int, nargs="*", default=[],
                    help="also run each view at these input sizes (px), merged with the run's own size")
    ap.add_argument("--vote-iou", type=float, nargs="+", default=[0.5])
    ap.add_argument("--split", default="val", choices=["val", "train"],
                    help="the run's held-out frames (default) or its training frames")
    ap.add_argument("--with", dest="others", type=Path, nargs="*", default=[],
                    help="other runs on the same split, merged with this one (an ensemble)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, info = load_detector(a.run)
    data = run_split(a.run, read_detection(a.data, None, a.images), a.split)
    own = {os.path.abspath(p) for p in json.loads((a.run / "split.json").read_text())[a.split]}
    for other in a.others:
        if {os.path.abspath(p) for p in json.loads((other / "split.json").read_text())[a.split]} != own:
            raise SystemExit(f"{other}: its {a.split} frames differ from {a.run}'s; train it with "
                             f"--split {a.run / 'split.json'}")
    heads = model.roi_heads
    nms_iou, limit = heads.nms_thresh, heads.detections_per_img
    print(f"{a.run}: {len(data.records)} {a.split} frames, {info['detector']}, NMS IoU {nms_iou}, "
          f"{limit} detections per frame", flush=True)
    t0 = time.monotonic()
    plain = coco_metrics(data, predict_records(model, data.records))
    print(f"as the detector predicts: brittle_star AP50 {plain['per_class']['brittle_star']['AP50']:.3f} "
          f"({time.monotonic() - t0:.0f} s)", flush=True)
    models = [("", model, [None, *a.scales])]
    for k, other in enumerate(a.others, 1):
        m = load_detector(other)[0]
        t0 = time.monotonic()
        alone = coco_metrics(data, predict_records(m, data.records))
        print(f"{other} alone: brittle_star AP50 {alone['per_class']['brittle_star']['AP50']:.3f} "
              f"AP {alone['per_class']['brittle_star']['AP']:.3f} ({time.monotonic() - t0:.0f} s)", flush=True)
        models.append((f"#{k}", m, [None]))
    raw = {}
    for tag, m, sizes in models:
        heads = m.roi_heads
        heads.nms_thresh, heads.detections_per_img = 1.01, 100_000  # keep every box above the score threshold
        heads.box_vote = 0.0  # a run trained with box voting: the raw boxes, not voted ones
        for size in sizes:
            for flip in VIEWS[max(a.views)]:
                t0 = time.monotonic()
                key = (flip if size is None else f"{flip}@{size}") + tag
                raw[key] = predict_records(Flipped(m, flip, size), data.records)
                print(f"view {key}: {sum(len(p['scores']) for p in raw[key].values())} raw boxes "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
    ids = list(raw["id"])
    sets = [(str(n), VIEWS[n]) for n in a.views]
    sets += [(f"{n}+{n}@{size}", VIEWS[n] + [f"{f}@{size}" for f in VIEWS[n]]) for size in a.scales for n in a.views]
    if a.others:
        tags = [""] + [f"#{k}" for k in range(1, len(a.others) + 1)]
        sets += [(f"{n} x {len(tags)} runs", [f + t for t in tags for f in VIEWS[n]]) for n in a.views]
    for n, keys in sets:
        for how in ("nms", "vote", "wbf", "soft"):
            for vi in (a.vote_iou if how in ("vote", "wbf") else [None]):
                if how == "wbf" and len(keys) == 1:
                    continue
                preds = {i: merge([raw[f][i] for f in keys], how, nms_iou, limit, vi or 0.5) for i in ids}
                m = coco_metrics(data, preds)
                bs = m["per_class"]["brittle_star"]
                tag = f"{how}" + (f" iou {vi}" if vi else "")
                print(f"views {n}  {tag:<14} brittle_star AP50 {bs['AP50']:.3f} AP {bs['AP']:.3f}  "
                      f"mAP {m['mAP']:.3f}  AP50 both {m['AP50']:.3f}", flush=True)


if __name__ == "__main__":
    main()
