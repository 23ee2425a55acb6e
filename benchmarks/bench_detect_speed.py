"""Detection speed at the same accuracy: a trained run scored and timed as it predicted before and after
the inference changes, on the run's own held-out frames.

    nice -n 10 python benchmarks/bench_detect_speed.py RUN --annotations ANNOTATIONS.json [--proposals 1000,300]

Settings compared (the same weights every time):
  before      the trunk as trained (frozen BatchNorms applied at every call), torchvision's 1000 test proposals
  folded      BatchNorms folded into the convolutions (the same outputs to float rounding)
  folded+N    and N region proposals per image at test time (the RoI head's cost grows with them)
  folded+N+s1 and RoIAlign with 1 x 1 sampling points per bin at test time (training: 2 x 2)
  onnx+N+s1   the whole detector as one ONNX graph in ONNX Runtime (`detect predict`'s default on a CPU for
              Faster R-CNN; other detectors: their trunk alone, the heads in PyTorch)
For each: AP50 / AP per class on the held-out frames (pycocotools), and seconds per frame at batch 1 (the
median over --frames frames, after a warm-up; image decoding included, as `detect predict` does it). The
settings are timed in turn, --rounds times over, and each one's median round is reported, so that a
slow spell of a shared machine does not fall on one setting only.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch


def seconds_per_frame(model, paths: list[Path]) -> float:
    from benthos.detect.inference import predict_each

    list(predict_each(model, paths[:1]))  # warm-up
    times = []
    for p in paths:
        t = time.perf_counter()
        list(predict_each(model, [p]))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--annotations", type=Path, required=True, help="the annotations the run was trained on")
    ap.add_argument("--images", type=Path)
    ap.add_argument("--proposals", default="1000,300", help="test proposals to try with folding (comma-separated)")
    ap.add_argument("--frames", type=int, default=30, help="held-out frames timed")
    ap.add_argument("--rounds", type=int, default=3, help="times each setting is timed, in turn")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from benthos.data.detection import read_detection
    from benthos.detect.build import load_detector
    from benthos.detect.inference import score_records
    from benthos.detect.splits import run_split

    data = run_split(a.run, read_detection(a.annotations, images=a.images), "val")
    paths = [r.image_path for r in data.records][: a.frames]
    settings = [("before", dict(fold=False, test_proposals=1000, test_roi_sampling=2, backend="torch"))]
    settings += [(f"folded+{n}" if n != 1000 else "folded", dict(fold=True, test_proposals=int(n), test_roi_sampling=2,
                                                                 backend="torch"))
                 for n in a.proposals.split(",")]
    settings += [(f"folded+{n}+s1", dict(fold=True, test_proposals=int(n), test_roi_sampling=1, backend="torch"))
                 for n in a.proposals.split(",")]
    settings += [(f"onnx+{n}+s1", dict(fold=True, test_proposals=int(n), test_roi_sampling=1, backend="onnx"))
                 for n in a.proposals.split(",")]
    print(f"{a.run}: {len(data.records)} held-out frames, {len(paths)} timed; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads")
    print(f"{'setting':16s} {'AP50':>6s} {'AP':>6s}  per class AP50{'':20s} {'s/frame':>8s} {'speed-up':>8s}")
    models = {name: load_detector(a.run, **opts)[0] for name, opts in settings}
    scores = {name: score_records(model, data)[0] for name, model in models.items()}
    rounds = {name: [] for name in models}
    for _ in range(a.rounds):
        for name, model in models.items():
            rounds[name].append(seconds_per_frame(model, paths))
    base = statistics.median(rounds["before"])
    for name, m in scores.items():
        s = statistics.median(rounds[name])
        per = ", ".join(f"{c} {v['AP50']:.3f}" for c, v in m["per_class"].items())
        print(f"{name:16s} {m['AP50']:6.3f} {m['mAP']:6.3f}  {per:34s} {s:8.3f} {base / s:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
