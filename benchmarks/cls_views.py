"""Accuracy of the default test-time views (adaptive: all 8 only where the first view is unsure)
beside one view and all 8, on labelled test sets, with the views each costs; optionally INT8.

    python benchmarks/cls_views.py .bench/cls_seed0/test30.csv .bench/cls_seed0_def \\
        .bench/cls_seed1/test30.csv .bench/cls_seed1_def .bench/cls_seed2/test30.csv .bench/cls_seed2_def [--int8]

Arguments come in pairs: TEST RUN (the 70/30 splits of benchmarks/bench_classify.py, RUN trained on
the 70 with `benthos train TRAIN70 --out RUN --test-fraction 0`). Every view of every test image is
scored once (PyTorch, fp32) and the three rules are read off those logits; a run trained before the
rule existed is fitted first (`calibrate_run`, which rewrites its run.json calibration record).
``--int8``: the same for the run exported INT8 (ONNX Runtime, ranges from 128 training images).
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from benthos.data import load_classification
from benthos.infer.predict import view_logits
from benthos.infer.views import adaptive_logits, first_margin, n_views
from benthos.runs import load_run


def rules(views: np.ndarray, y: np.ndarray, margin: float) -> dict:
    unsure = first_margin(views[0]) < margin
    return {"one": float((views[0].argmax(1) == y).mean()), "all": float((views.mean(0).argmax(1) == y).mean()),
            "adaptive": float((adaptive_logits(views, margin).argmax(1) == y).mean()),
            "views_per_image": 1 + (len(views) - 1) * float(unsure.mean()),
            "changed": int((adaptive_logits(views, margin).argmax(1) != views.mean(0).argmax(1)).sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="TEST RUN [TEST RUN ...]")
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args(argv)
    if len(args.pairs) % 2:
        ap.error("give TEST RUN pairs")
    torch.set_num_threads(2)
    head = "| test set | run | n | 1 view | 8 views | default (adaptive) | views per image | labels unlike 8 views |"
    print(head + (" INT8 1 view | INT8 8 views | INT8 adaptive |" if args.int8 else ""))
    print("|---" * (head.count("|") - 1 + (3 if args.int8 else 0)) + "|")
    for test, run in zip(args.pairs[::2], args.pairs[1::2]):
        model, meta = load_run(run)
        if not (meta.get("calibration") or {}).get("views"):
            from benthos.train.calibrate import calibrate_run

            print(f"({run}: no fitted margin in run.json; fitting it now on its validation split)", flush=True)
            meta["calibration"] = calibrate_run(run)
        rule = meta["calibration"]["views"]
        samples = [s for s in load_classification(test, allow_outside=True).samples if s.label in meta["classes"]]
        y = np.array([meta["classes"].index(s.label) for s in samples])
        views = view_logits(model, samples, meta["preprocessing"], rule["mode"])
        r = rules(views, y, rule["margin"])
        row = (f"| {test} | {run} (margin {rule['margin']:.3f}) | {len(y)} | {r['one']:.3f} | {r['all']:.3f} | "
               f"**{r['adaptive']:.3f}** | {r['views_per_image']:.2f} of {n_views(rule['mode'])} | {r['changed']} |")
        if args.int8:
            from benthos.infer.backends import onnx_forward
            from benthos.infer.export import write_export

            folder = Path(tempfile.mkdtemp(prefix="int8_")) / "x"
            write_export(run, "onnx", folder, int8=True)
            q = view_logits(model, samples, meta["preprocessing"], rule["mode"], forward=onnx_forward(folder / "model.onnx"))
            qi = rules(q, y, rule["margin"])
            row += f" {qi['one']:.3f} | {qi['all']:.3f} | {qi['adaptive']:.3f} ({qi['views_per_image']:.2f} views) |"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
