"""Detector benchmark: AP50/mAP per class, params, MACs, CPU latency per 640x640 frame, training time.

    nice -n 10 python benchmarks/bench_detect.py \
        --data /work/shared/data/noaa_brittlestar_det/annotations.json \
        --minutes yolo_lite0=12,fasterrcnn_lite0_fpn=8,retinanet_lite0_fpn=3 --out .bench/detect

Each detector trains with its registry defaults under a wall-clock budget (the LR schedule
ends with the budget; ``name=default`` trains for the registry's epochs with no budget, as
``benthos detect train`` does), on a seeded 80/20 split, and is scored on the 20% by
pycocotools. ``--group-pattern`` holds out whole groups (dives, videos) instead of frames. Prints one markdown table; raw numbers go to OUT/results.json.
The data set is never copied: runs hold weights and metrics only.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from benthos.data.detection import read_detection
from benthos.detect.config import DetectConfig
from benthos.tasks.detect import train as train_detector
from benthos.detect.build import load_detector
from benthos.runs.atomic import atomic_write_json

NO_OFFLINE_WEIGHTS = {"ssd300_vgg16", "ssdlite320_mobilenet_v3"}


def macs(model: torch.nn.Module, size: int = 640) -> float:
    """Multiply-adds of one eval forward on a size x size frame (torch's FLOP counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model([torch.rand(3, size, size)])
    return fc.get_total_flops() / 2


def latency(model: torch.nn.Module, frames: list[torch.Tensor], repeats: int = 1) -> float:
    """Median seconds per frame (batch 1, after one warm-up)."""
    model.eval()
    times = []
    with torch.no_grad():
        model([frames[0]])
        for _ in range(repeats):
            for x in frames:
                t = time.perf_counter()
                model([x])
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def row_of(info: dict, run: str | Path, frames: list[torch.Tensor], cls: str, adopted: bool = False,
           metrics: dict | None = None) -> dict:
    """One table row: accuracy from ``metrics`` (default: the run's own), cost measured here on
    the model as it was scored (with mirror TTA when the metrics were)."""
    metrics = metrics or info["metrics"]
    tta = metrics.get("tta", "none") not in (False, "none")
    model, _ = load_detector(run, tta="flip" if tta else "none")
    base = model.model if tta else model
    pc = metrics["per_class"].get(cls, {})
    return {"detector": info["architecture"], "run": str(run) if adopted else None, "tta": tta,
            "AP50_cls": pc.get("AP50"), "AP_cls": pc.get("AP"),
            "mAP": metrics["mAP"], "AP50": metrics["AP50"], "params_M": info["params"] / 1e6,
            "GMACs": macs(base) / 1e9 * (2 if tta else 1), "s_per_frame": latency(model, frames),
            "train_min": info["train_seconds"] / 60,
            "epochs": info["epochs_done"], "steps": info.get("steps"), "batch": info["config"]["batch_size"],
            "image_size": info["input_size"], "pretrained": info["config"]["pretrained_backbone"],
            "split": info["split"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="COCO annotations.json (images beside it)")
    ap.add_argument("--minutes", default="", help="name=minutes,... training budget per detector ('default': none)")
    ap.add_argument("--adopt", action="append", default=[], metavar="RUN",
                    help="add a run folder trained elsewhere (e.g. `benthos detect train` with every default) "
                         "to the table: its metrics from run.json, MACs and latency measured here")
    ap.add_argument("--epochs", type=int, default=None, help="epoch cap (default: the detector's)")
    ap.add_argument("--class", dest="cls", default="brittle_star")
    ap.add_argument("--out", default=".bench/detect")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--latency-frames", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--group-pattern", default=None,
                    help="regex on image paths; its first group names the dive/video held out as a whole "
                         r"(NOAA set: '/(\d\d)[_-]\d\d[_-]\d\d[_-]\d\d', the timecode hour)")
    ap.add_argument("--plot", help="write an accuracy-vs-cost figure (PNG) of the table's rows here")
    ap.add_argument("--latency-only", action="store_true",
                    help="re-measure s/frame of the runs already in OUT (e.g. on a quieter machine), no training")
    ap.add_argument("--reevaluate", action="store_true",
                    help="score adopted runs again with today's evaluation (e.g. mirror TTA) instead of their run.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = read_detection(args.data)
    print(f"data: {data.describe()}", flush=True)
    from benthos.data.images import load_image
    from benthos.detect.dataset import frame_tensor

    frames = [frame_tensor(load_image(r.image_path).resize((640, 640))) for r in data.records[: args.latency_frames]]
    budgets = {k: (None if v == "default" else float(v))
               for k, v in (item.split("=") for item in args.minutes.split(",") if item)}
    results = []  # every row measured so far is kept; a row is named by its run folder or detector
    results_file = out / "results.json"
    if results_file.is_file():
        results = json.loads(results_file.read_text())
    done = {r["detector"] for r in results if not r.get("run")}
    if args.latency_only:
        for r in results:
            model, _ = load_detector(r.get("run") or out / r["detector"], tta="flip" if r.get("tta") else "none")
            r["s_per_frame"] = latency(model, frames, repeats=2)
            print(f"{r.get('run') or r['detector']}: {r['s_per_frame']:.3f} s/frame", flush=True)
        atomic_write_json(results_file, results)
        done = set(budgets)
    for run in args.adopt:
        if any(r.get("run") == str(run) and not r.get("tta") for r in results) and not args.reevaluate:
            continue
        info = json.loads((Path(run) / "run.json").read_text())
        metrics = None
        if args.reevaluate:
            from benthos.tasks.detect import evaluate as evaluate_run

            metrics = evaluate_run(run, args.data, report=False)
        row = row_of(info, run, frames, args.cls, adopted=True, metrics=metrics)
        results = [r for r in results if (r.get("run"), bool(r.get("tta"))) != (str(run), row["tta"])] + [row]
        atomic_write_json(results_file, results)
        print(json.dumps(row), flush=True)
    for name, minutes in budgets.items():
        if name in done:
            continue
        cfg = DetectConfig(model=name, max_minutes=minutes, epochs=args.epochs or (None if minutes is None else 100),
                           seed=args.seed, pretrained_backbone=name not in NO_OFFLINE_WEIGHTS, threads=args.threads,
                           group_pattern=args.group_pattern)
        print(f"\n== {name}: {'registry epochs, no budget' if minutes is None else f'{minutes} min'}", flush=True)
        info = train_detector(data, out / name, cfg, log=lambda s: print("  " + s, flush=True))
        row = row_of(info, out / name, frames, args.cls)
        results = [r for r in results if r.get("run") or r["detector"] != name] + [row]
        atomic_write_json(results_file, results)
        print(json.dumps(row), flush=True)
    print(f"\nMachine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; split: seeded ({args.seed}) 80/20 of {len(data.records)} images"
          + (f", whole groups by {args.group_pattern!r}" if args.group_pattern else "") + "\n")
    print(f"| detector | input | AP50 {args.cls} | AP {args.cls} | mAP (all classes) | params (M) | GMACs per frame | "
          "s per 640x640 frame (CPU) | train (min) | steps x batch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        note = (("" if r["pretrained"] else " (no pretrained trunk)") + (" + mirror TTA" if r.get("tta") else "")
                + (f" (run {r['run']})" if r.get("run") else ""))
        print(f"| {r['detector']}{note} | {r['image_size']} | {r['AP50_cls']:.3f} | {r['AP_cls']:.3f} | {r['mAP']:.3f} | "
              f"{r['params_M']:.1f} | {r['GMACs']:.1f} | {r['s_per_frame']:.2f} | {r['train_min']:.1f} | {r.get('steps', '?')} x {r.get('batch', '?')} |")

    if args.plot:
        plot(results, args.cls, args.plot)


def plot(results: list[dict], cls: str, path: str) -> None:
    """AP50 of ``cls`` against CPU seconds per frame (marker area ~ GMACs), one point per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    xmax = max(1.1, max(r["s_per_frame"] for r in results) * 1.2)
    ax.axvline(1.0, color="0.5", ls="--", lw=0.8)
    ax.annotate("1 s budget", (1.0, 0.01), xytext=(-4, 0), textcoords="offset points", ha="right", fontsize=7,
                color="0.4")
    for r in results:
        label = (r["detector"] + (f" ({Path(r['run']).name})" if r.get("run") else "") + (" +TTA" if r.get("tta") else "")
                 + f", {r['train_min']:.0f} min")
        ax.scatter(r["s_per_frame"], r["AP50_cls"], s=20 + 12 * r["GMACs"], alpha=0.7)
        right = r["s_per_frame"] > 0.55 * xmax  # label to the left of points near the right edge
        ax.annotate(label, (r["s_per_frame"], r["AP50_cls"]), textcoords="offset points",
                    xytext=(-6, 4) if right else (6, 4), ha="right" if right else "left", fontsize=8)
    ax.set_xlabel("CPU seconds per 640x640 frame (2 threads, batch 1)")
    ax.set_ylabel(f"AP50, {cls} (held-out frames)")
    ax.set_title("Detectors: accuracy vs cost (marker area ~ GMACs; label: training minutes)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, max(r["AP50_cls"] for r in results) * 1.15)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"plot -> {path}")


if __name__ == "__main__":
    main()
