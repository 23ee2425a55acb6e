"""The lecture's detector lineage on one data set: OverFeat, R-CNN, Fast R-CNN, Faster R-CNN, YOLO v1,
SSD, R-FCN (and the YOLO-style detector written here), each trained by the CLI under a stated budget.

    nice -n 10 python benchmarks/bench_lineage.py --data /path/noaa_brittlestar_det/annotations.json \\
        --group-pattern '/(\\d\\d)[_-]\\d\\d[_-]\\d\\d[_-]\\d\\d' --max-minutes 30 --out .bench/lineage_noaa
    nice -n 10 python benchmarks/bench_lineage.py --data /path/aquarium_train/annotations.json \\
        --seed 0 --max-minutes 30 --out .bench/lineage_aquarium

Every detector is trained with ``benthos detect train`` on the same split (the first run's
split.json is passed to the others with ``--split``): whole groups held out with
``--group-pattern`` (frames of one dive look alike), else a seeded 80/20 split of the frames.
``--limit-images N`` uses N frames spread over the set (a smoke test of this script; the data
are never copied, a subset annotation file is written under OUT).

Per detector it prints and writes (CSV, default ``benchmarks/results/lineage_<data>.csv``):
AP50 and AP overall and per class on the held-out frames; seconds per frame at batch 1 on
the held-out frames, with the region proposals included and, for the proposal-based detectors,
separately (selective search timed with the disk cache off); training minutes and seconds per
training frame processed; proposals per frame and their recall at IoU 0.5 (selective search,
or the RPN's for Faster R-CNN and R-FCN). Beside the measured ratios it prints the lecture's
claims. Runs already trained under OUT are reused (delete the folder to retrain).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

LINEAGE = ["overfeat_lite0", "rcnn_lite0", "fast_rcnn_lite0_fpn", "fasterrcnn_lite0_fpn", "yolov1_lite0",
           "ssd_lite0", "rfcn_lite0_fpn", "yolo_lite0"]
CLAIMS = [
    ("Fast R-CNN trains faster than R-CNN (VGG16)", "~9x", "train_s_per_frame", "rcnn_lite0", "fast_rcnn_lite0_fpn"),
    ("Fast R-CNN tests faster than R-CNN (VGG16, proposals excluded)", "~213x", "s_per_frame_net", "rcnn_lite0",
     "fast_rcnn_lite0_fpn"),
    ("R-FCN tests faster than Faster R-CNN", ">1x (2.5-20x in the paper)", "s_per_frame", "fasterrcnn_lite0_fpn",
     "rfcn_lite0_fpn"),
]


def subset_annotations(data: Path, n: int, out: Path) -> Path:
    """``n`` images of a COCO file, evenly spaced in its order (so that frames of several dives are
    in it), with absolute image paths, written under ``out``."""
    from benthos.runs.atomic import atomic_write_json

    doc = json.loads(data.read_text(encoding="utf-8"))
    images = doc["images"][:: max(1, len(doc["images"]) // n)][:n]
    ids = {im["id"] for im in images}
    for im in images:
        im["file_name"] = str((data.parent / "images" / im["file_name"]).resolve()) \
            if (data.parent / "images" / im["file_name"]).is_file() else str((data.parent / im["file_name"]).resolve())
    sub = dict(doc, images=images, annotations=[a for a in doc["annotations"] if a["image_id"] in ids])
    return atomic_write_json(out / f"annotations_{n}_frames.json", sub)


def train(name: str, ann: Path, out: Path, minutes: float, split: Path | None, args) -> Path:
    run = out / name
    if (run / "run.json").is_file():
        print(f"{name}: reusing {run}", flush=True)
        return run
    cmd = [sys.executable, "-m", "benthos", "detect", "train", str(ann), "--out", str(run), "--model", name,
           "--max-minutes", str(minutes), "--seed", str(args.seed)]
    if split is not None:
        cmd += ["--split", str(split)]
    elif args.group_pattern:
        cmd += ["--group-pattern", args.group_pattern]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    print("$ " + " ".join(cmd), flush=True)
    with open(out / f"{name}.log", "w", encoding="utf-8") as fh:
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=dict(os.environ))
    if rc != 0:
        raise SystemExit(f"{name}: training failed (exit {rc}); see {out / f'{name}.log'}")
    return run


def val_frames(run: Path, n: int) -> list[Path]:
    from benthos.data.splits import split_paths

    return [Path(p) for p in split_paths(run / "split.json")["val"][:n]]


def gt_of(data, paths: list[Path]) -> list[np.ndarray]:
    by_path = {os.path.abspath(r.image_path): r for r in data.records}
    return [by_path[os.path.abspath(p)].boxes for p in paths]


@torch.no_grad()
def seconds_per_frame(model, images: list[torch.Tensor]) -> float:
    model([images[0]])  # warm-up (and, for the proposal-based ones, the proposals into the cache)
    times = []
    for x in images:
        t = time.perf_counter()
        model([x])
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@torch.no_grad()
def rpn_proposals(model, x: torch.Tensor) -> np.ndarray:
    """The RPN's test-time proposals of a torchvision two-stage detector, in the image's pixels."""
    batch, _ = model.transform([x])
    props, _ = model.rpn(batch, model.backbone(batch.tensors))
    (h, w), (nh, nw) = x.shape[-2:], batch.image_sizes[0]
    return (props[0] * torch.tensor([w / nw, h / nh, w / nw, h / nh])).numpy()


def measure(name: str, run: Path, data, args) -> dict:
    from benthos.data.images import load_image
    from benthos.detect.build import load_detector
    from benthos.detect.dataset import frame_tensor
    from benthos.detect.proposals import SelectiveSearch, proposal_recall

    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    model, _ = load_detector(run, tta=False, backend="torch")  # every architecture in the same runtime
    paths = val_frames(run, args.time_frames)
    ims = [frame_tensor(load_image(p)) for p in paths]
    row = {"detector": name, "year": None, "AP50": info["metrics"].get("AP50"), "AP": info["metrics"].get("mAP"),
           "train_min": info["train_seconds"] / 60, "steps": info["steps"], "epochs": info["epochs_done"],
           "budget_min": info["config"]["max_minutes"], "val_frames": info["split"]["val"]}
    from benthos.detect.registry import detector_spec

    row["year"] = detector_spec(name).year
    for cls, m in info["metrics"].get("per_class", {}).items():
        row[f"AP50:{cls}"], row[f"AP:{cls}"] = m.get("AP50"), m.get("AP")
    provider = model.proposal_provider() if hasattr(model, "proposal_provider") else None
    if provider is not None:
        for x in ims:  # into the cache: the net's own time is measured with proposals read from it
            provider(x)
        row["s_per_frame_net"] = seconds_per_frame(model, ims)
        fresh = SelectiveSearch(provider.settings, cache=False, max_proposals=provider.max_proposals)
        t = [time.perf_counter()]
        props = []
        for x in ims:
            props.append(fresh(x))
            t.append(time.perf_counter())
        row["s_per_frame_proposals"] = statistics.median(np.diff(t))
        row["s_per_frame"] = row["s_per_frame_net"] + row["s_per_frame_proposals"]
        row["proposals"] = "selective search"
    else:
        row["s_per_frame"] = row["s_per_frame_net"] = seconds_per_frame(model, ims)
        row["s_per_frame_proposals"] = None
        props = [rpn_proposals(model, x) for x in ims] if hasattr(model, "rpn") else None
        row["proposals"] = "RPN" if props is not None else "none"
    if props is not None:
        row["proposals_per_frame"] = float(np.mean([len(p) for p in props]))
        row["proposal_recall50"] = proposal_recall(props, gt_of(data, paths), 0.5)
    frames = info["steps"] * info["config"]["batch_size"]
    if info["architecture"] == "rcnn_lite0":  # its feature stage reads frames too
        frames += _rcnn_feature_images(run)
    row["train_s_per_frame"] = info["train_seconds"] / max(frames, 1)
    return row


def _rcnn_feature_images(run: Path) -> int:
    """Frames R-CNN's feature stage read (the row 'features' of the run's history, runs.run.METRICS)."""
    from benthos.runs.run import METRICS

    path = run / METRICS
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("stage") == "features" and row.get("images"):
                return int(float(row["images"]))
    return 0


def fmt(v, nd=3) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="COCO annotations.json (images beside it)")
    ap.add_argument("--out", required=True, help="folder for the runs (never the data)")
    ap.add_argument("--max-minutes", type=float, default=30.0, help="training budget of every detector")
    ap.add_argument("--minutes", default="", help="name=minutes,... per-detector budgets overriding --max-minutes")
    ap.add_argument("--detectors", default=",".join(LINEAGE))
    ap.add_argument("--group-pattern", default=None, help="hold out whole groups (e.g. dives) named by this regex")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default=None, help="a run's split.json to train every detector on (default: the "
                                                   "first run's own split)")
    ap.add_argument("--epochs", type=int, default=None, help="override every detector's epochs (smoke tests)")
    ap.add_argument("--limit-images", type=int, default=None, help="use N frames spread over the set (smoke test)")
    ap.add_argument("--time-frames", type=int, default=20, help="held-out frames timed per detector")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--csv", default=None, help="default: benchmarks/results/lineage_<data folder>.csv")
    args = ap.parse_args()

    from benthos.data.detection import read_detection

    data_path, out = Path(args.data).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ann = subset_annotations(data_path, args.limit_images, out) if args.limit_images else data_path
    data = read_detection(ann)
    budgets = {n: args.max_minutes for n in args.detectors.split(",") if n}
    budgets.update({k: float(v) for k, v in (item.split("=") for item in args.minutes.split(",") if item)})
    print(f"# detector lineage on {data_path.parent.name}: {data.describe()}\n# machine: {platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; budgets of the runs trained here (min): "
          + ", ".join(f"{k}={v:g}" for k, v in budgets.items()) + "\n", flush=True)
    rows, split = [], (Path(args.split).resolve() if args.split else None)
    for name, minutes in budgets.items():
        run = train(name, ann, out, minutes, split, args)
        split = split or (run / "split.json").resolve()
        rows.append(measure(name, run, data, args))
        r = rows[-1]
        print(f"{name}: AP50 {fmt(r['AP50'])} AP {fmt(r['AP'])}, {fmt(r['s_per_frame'], 2)} s/frame "
              f"(proposals {fmt(r['s_per_frame_proposals'], 2)}), trained {r['train_min']:.1f} min "
              f"({r['epochs']} epochs, budget {fmt(r['budget_min'], 0)} min as recorded in its run.json)", flush=True)

    classes = sorted({k.split(":", 1)[1] for r in rows for k in r if k.startswith("AP50:")})
    print("\n| detector | year | AP50 | AP | " + " | ".join(f"AP50 {c}" for c in classes)
          + " | s/frame | of which proposals | train min | train s/frame | proposals/frame | recall@0.5 |")
    print("|---|---|---|---|" + "---|" * len(classes) + "---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["year"] or 0, r["detector"])):
        print(f"| {r['detector']} | {r['year']} | {fmt(r['AP50'])} | {fmt(r['AP'])} | "
              + " | ".join(fmt(r.get(f"AP50:{c}")) for c in classes)
              + f" | {fmt(r['s_per_frame'], 2)} | {fmt(r['s_per_frame_proposals'], 2)} | {r['train_min']:.1f} | "
                f"{fmt(r['train_s_per_frame'], 2)} | {fmt(r.get('proposals_per_frame'), 0)} ({r['proposals']}) | "
                f"{fmt(r.get('proposal_recall50'), 2)} |")

    by = {r["detector"]: r for r in rows}
    print("\n| claim (lecture / papers) | claimed | measured here |\n|---|---|---|")
    for text, claimed, key, slow, fast in CLAIMS:
        if slow in by and fast in by and by[fast].get(key):
            print(f"| {text} | {claimed} | {by[slow][key] / by[fast][key]:.1f}x |")
    ss = [r["s_per_frame_proposals"] for r in rows if r.get("s_per_frame_proposals")]
    if ss:
        print(f"| Faster R-CNN removes the ~2 s per image of selective search | ~2 s | selective search "
              f"{max(ss):.2f} s per frame here |")
    if "rfcn_lite0_fpn" in by and "fasterrcnn_lite0_fpn" in by and by["fasterrcnn_lite0_fpn"]["AP50"]:
        ratio = by["rfcn_lite0_fpn"]["AP50"] / by["fasterrcnn_lite0_fpn"]["AP50"]
        print(f"| R-FCN: accuracy similar to Faster R-CNN (target >= 90% of its AP50) | ~1x | {ratio:.2f}x |")

    path = Path(args.csv) if args.csv else Path(__file__).parent / "results" / f"lineage_{data_path.parent.name}.csv"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    import io

    from benthos.runs.atomic import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
