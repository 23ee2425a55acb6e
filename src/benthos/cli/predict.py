"""`benthos predict RUN IMAGES... --out preds.csv`: top-k labels and probabilities per image.

Resumable: rerun the same command after an interruption and only the images not yet
predicted are computed (see benthos.runs.journal)."""
from __future__ import annotations

import argparse

from benthos.cli import add_device_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="label new images with a trained run (CSV out)")
    p.add_argument("run", help="run folder written by `benthos train`")
    p.add_argument("images", nargs="+", help="image files or folders (searched recursively), or one CoralNet-style "
                                             "CSV of points (Name,Row,Column) to classify")
    p.add_argument("--images", dest="image_dir", metavar="DIR",
                   help="the photos of a points CSV (default: an images/ folder beside the CSV, else the CSV's folder)")
    p.add_argument("--points", type=int, metavar="N", help="classify N random points on each photo (CoralNet's "
                   "'simple random'; the same points for the same file name) instead of the whole image: for cover")
    p.add_argument("--grid", metavar="ROWSxCOLS", help="classify a uniform grid of points on each photo, e.g. 5x5")
    p.add_argument("--shard", metavar="I/N", help="predict only the I-th of N shares of the photos (run I = 1..N on "
                   "N machines with the same inputs; join the CSVs with `benthos ecology merge`)")
    p.add_argument("--out", default="predictions.csv", help="CSV to write, or a folder to write predictions.csv into (default: predictions.csv)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tta", choices=["adaptive", "dihedral", "flip", "none"],
                   help="test-time views averaged per image (default: 'adaptive' where training fitted it: the "
                        "run's 8 rotations and mirrors only for images whose first view is unsure; else as the "
                        "run was trained; 'none' is one view, a few points less accurate)")
    p.add_argument("--backend", choices=["torch", "onnx", "openvino"],
                   help="what runs the model (default: the fastest installed; on a CPU ONNX Runtime, then OpenVINO, "
                        "then PyTorch; PyTorch beside a GPU)")
    p.add_argument("--exported", metavar="DIR", help="run this export of the run (`benthos export`, e.g. --int8) "
                   "instead of its own fp32 export")
    add_device_flag(p)
    p.set_defaults(func=_predict, on_interrupt="the images finished so far are kept: run the same command again to continue")


def _predict(args: argparse.Namespace) -> int:
    import sys

    from benthos.tasks import predict

    res = predict(args.run, args.images, args.out, top_k=args.top_k, batch_size=args.batch_size, tta=args.tta,
                  progress=lambda line: print(line, file=sys.stderr, flush=True), images=args.image_dir,
                  points_per_image=args.points, grid=args.grid, shard=args.shard, device=args.device,
                  backend=args.backend,
                  exported=args.exported)
    views = f", {res['views_per_image']:.2f} views per image" if res["tta"] != "none" and res["views_per_image"] else ""
    print(f"predicted {res['n']} {res['unit']} -> {res['out']} (backend {res['backend']}, views {res['tta']}{views})")
    for line in res["skipped"][:20]:
        print(f"skipped {line}", file=sys.stderr)
    if res["skipped"]:
        what = "photos or rows" if res["unit"] == "points" else "files"
        print(f"{len(res['skipped'])} {what} could not be used and were skipped", file=sys.stderr)
    return 0
