"""`benthos evaluate RUN [DATA]`: metrics on labelled images (or the run's own test split)."""
from __future__ import annotations

import argparse
import json

from benthos.cli import add_device_flag, add_outside_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="accuracy, per-class scores, confusion matrix, calibration of a trained run")
    p.add_argument("run", help="run folder written by `benthos train`")
    p.add_argument("data", nargs="?", help="labelled images (default: the run's held-out test split)")
    p.add_argument("--format", help="folder | csv | coco | coralnet")
    p.add_argument("--images", help="image folder for COCO/CoralNet annotations")
    p.add_argument("--out", help="evaluation JSON to write (default: RUN/evaluation.json for the run's own test split, "
                                 "RUN/evaluation_<data>.json for other data; the report goes beside it)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tta", choices=["adaptive", "dihedral", "flip", "none"],
                   help="test-time views averaged per image (default: as `benthos predict`); "
                        "compare with the default to see what `benthos predict --tta` would cost")
    add_device_flag(p)
    add_outside_flag(p)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from benthos.tasks import evaluate_run

    ev = evaluate_run(args.run, args.data, format=args.format, images=args.images, tta=args.tta, device=args.device,
                     out=args.out, allow_outside=args.allow_outside_paths)
    if args.json:
        print(json.dumps(ev, indent=2))
        return 0
    print(f"{ev['n']} images from {ev['data']} (test-time views: {ev['tta']})")
    print(f"accuracy {ev['accuracy']:.3f}  balanced accuracy {ev['balanced_accuracy']:.3f}  macro-F1 {ev['macro_f1']:.3f}"
          f"  ECE {ev['ece']:.3f}" + "".join(f"  {k} {v:.3f}" for k, v in ev.get("top_k", {}).items() if k != "top1"))
    if ev.get("unknown_labels"):
        print("labels the model does not know (not scored): " + ", ".join(f"{k} ({v})" for k, v in ev["unknown_labels"].items()))
    print(f"\n{'class':24s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'support':>7s}")
    for name, m in ev["per_class"].items():
        if m["support"]:
            f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{name[:24]:24s} {f(m['precision']):>9s} {f(m['recall']):>7s} {f(m['f1']):>6s} {m['support']:>7d}")
    print(f"\nwrote {ev['written']} and its report beside it")
    return 0
