"""A trained detector scored on its held-out frames at other prediction settings.

    python benchmarks/detect_eval_sweep.py RUN --data ANNOTATIONS.json [--sizes 640 704 768] [--nms 0.5 0.6 0.7]

Prediction-time settings cost no training: the input size (a model trained with multi-scale
jitter may prefer a size above its nominal one) and the IoU threshold of the final per-class
NMS (brittle stars sit in clusters, where 0.5 can suppress a neighbour). Every combination is
scored on the run's held-out split; nothing is written into the run folder.

The held-out frames are the test set here (the detection benchmark has no third split), so a
setting that wins in this sweep is a hypothesis: confirm it on another split before it becomes
a default. Prints one line per setting: size, NMS IoU, AP50 and AP of each class, mAP, seconds.

Measured 2026-12-04 on .bench/det_ms25 (the default trained with --scale-jitter 0.25; held-out
video hours, 121 frames; brittle_star AP50 / AP):
    size 640  nms 0.40 0.358 / 0.132    nms 0.50 0.357 / 0.133    nms 0.60 0.338    nms 0.70 0.300
    size 736                            nms 0.50 0.396 / 0.149    nms 0.60 0.376    nms 0.70 0.327
    size 800  nms 0.40 0.385 / 0.138    nms 0.50 0.390 / 0.144
The default model trained at one size scores 0.392 / 0.145 at 640 px and NMS 0.5; nothing here beats it.
"""
import argparse
import time
from pathlib import Path

import torch

from benthos.data.detection import read_detection
from benthos.detect.inference import predict_records
from benthos.detect.sizing import set_input_size
from benthos.detect.evaluate import coco_metrics
from benthos.detect.build import load_detector
from benthos.detect.splits import run_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", required=True, help="the annotations the run was trained on (COCO/YOLO/VOC)")
    ap.add_argument("--images", default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="input sizes (default: the run's)")
    ap.add_argument("--nms", type=float, nargs="+", default=None, help="final NMS IoU thresholds (default: the run's)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, info = load_detector(a.run)
    data = run_split(a.run, read_detection(a.data, None, a.images), "val")
    heads = getattr(model, "roi_heads", None) or model  # Faster R-CNN keeps it in roi_heads
    sizes = a.sizes or [info["input_size"]]
    nms = a.nms or [heads.nms_thresh]
    print(f"{a.run}: {len(data.records)} held-out frames, {info['detector']}, trained at {info['image_size']} px")
    for size in sizes:
        set_input_size(model, size)
        for t in nms:
            heads.nms_thresh = t
            t0 = time.monotonic()
            m = coco_metrics(data, predict_records(model, data.records))
            per = "  ".join(f"{k} AP50 {v['AP50']:.3f} AP {v['AP']:.3f}" for k, v in m["per_class"].items())
            print(f"size {size}  nms {t:.2f}  {per}  mAP {m['mAP']:.3f}  ({time.monotonic() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
