"""`benthos detect list|train|evaluate|predict`: detectors through one interface (logic in benthos.detect)."""
from __future__ import annotations

import argparse
import json
import sys

from benthos.cli import add_device_flag

# CLI flag -> DetectConfig key, each with its type; every key has a flag
_TRAIN_FLAGS = [
    ("--detector", str, "detector name (default: the registry default; see `benthos detect list`)"),
    ("--backbone", str, "trunk override (timm name)"),
    ("--image-size", int, "network input, long side in px"),
    ("--epochs", int, None), ("--max-minutes", float, "wall-clock budget; the LR schedule ends with it"),
    ("--batch-size", int, None), ("--optimizer", str, "sgd or adamw"), ("--lr", float, None),
    ("--weight-decay", float, None), ("--warmup-steps", int, None),
    ("--trainable-stages", int, "fine-tune only the last N backbone stages (0: freeze the trunk)"),
    ("--tile", int, "train on tiles of this many px (large photos, mosaics)"), ("--tile-overlap", float, None),
    ("--crop", int, "train on random crops of this many px at the input scale (cheaper steps)"),
    ("--scale-jitter", float, "multi-scale training: each image at a random size in 1 +- this times the input size (with --crop: before cropping)"),
    ("--color-jitter", float, None), ("--val-fraction", float, None), ("--seed", int, None),
    ("--split", str, "split.json of an earlier run: train on and hold out the same images (to compare recipes or "
     "seeds); --val-fraction and --group-pattern are then unused"),
    ("--score-thresh", float, None), ("--threads", int, None),
    ("--box-vote", float, "Faster R-CNN: after NMS, average each box with its class's boxes overlapping it by this "
     "IoU (box voting; 0: off)"),
    ("--num-workers", int, "processes reading images for training (default: 0 on a CPU, up to 4 with a GPU)"),
    ("--eval-every", int, "evaluate every N epochs and keep the best weights"),
    ("--group-pattern", str, "regex on image paths naming each frame's dive/video/transect (first group), e.g. "
     "'(EX\\d+)_'; groups never straddle the train/validation split"),
    ("--ema-decay", float, "moving average of weights, evaluated and saved (0: off)"),
    ("--normalize", str, "input normalisation: 'backbone' (the statistics the trunk's pretrained weights expect, "
     "default) or 'imagenet' (as detector runs before 2026-12-04)"),
]


def register(sub) -> None:
    p = sub.add_parser("detect", help="train, evaluate and run box detectors (Faster R-CNN, SSD, YOLO, ...)")
    s = p.add_subparsers(dest="detect_command", metavar="ACTION")

    ls = s.add_parser("list", help="list registered detectors")
    ls.add_argument("pattern", nargs="?")
    ls.set_defaults(func=_list)

    t = s.add_parser("train", help="train a detector on COCO/YOLO/VOC boxes")
    t.add_argument("annotations", help="COCO JSON, YOLO folder or VOC folder")
    t.add_argument("--images", help="image folder (default: beside the annotations)")
    t.add_argument("--format", choices=["coco", "yolo", "voc"])
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--config", help="YAML with DetectConfig keys; flags override it")
    for flag, typ, help_ in _TRAIN_FLAGS:
        t.add_argument(flag, type=typ, help=help_)
    t.add_argument("--anchor-sizes", help="JSON list of per-level size lists, e.g. '[[16,24],[32,48],[64,96],[128,256]]'")
    t.add_argument("--no-pretrained", action="store_true", help="random trunk weights")
    t.add_argument("--no-hflip", action="store_true")
    t.add_argument("--no-vflip", action="store_true")
    t.add_argument("--transpose", action="store_true", default=None,
                   help="also swap x and y in training (with the flips: all 8 right-angle rotations and mirrors)")
    t.add_argument("--no-channels-last", action="store_true")
    t.add_argument("--no-resume", action="store_true", help="ignore RUN/checkpoints/last.ckpt")
    t.add_argument("--tta", action="store_true", default=None,
                   help="score (and later predict) with the mirror image too: slightly better AP, over twice the time")
    t.set_defaults(func=_train)

    e = s.add_parser("evaluate", help="COCO mAP/AP50/AP75, per class and by size; writes evaluation.json + report.html")
    e.add_argument("run")
    e.add_argument("annotations")
    e.add_argument("--images")
    e.add_argument("--format", choices=["coco", "yolo", "voc"])
    e.add_argument("--split", default="val", choices=["val", "all"], help="the run's held-out images, or all")
    e.add_argument("--tile", type=int, help="predict in tiles of this many px")
    e.add_argument("--json", action="store_true", help="print metrics as JSON")
    _tta_flags(e)
    _box_vote_flag(e)
    add_device_flag(e)
    e.set_defaults(func=_evaluate)

    pr = s.add_parser("predict", help="boxes for images: detections.csv, detections.coco.json, counts.csv")
    pr.add_argument("run")
    pr.add_argument("images", help="an image or a folder (searched recursively)")
    pr.add_argument("--out", required=True, help="folder for the output files")
    pr.add_argument("--tile", type=int, help="tile images larger than this many px, with overlap, and merge")
    pr.add_argument("--overlap", type=float, default=0.2, help="overlap between neighbouring tiles, as a fraction of a tile (with --tile; default 0.2)")
    pr.add_argument("--score-thresh", type=float, default=0.05, help="lowest score written")
    pr.add_argument("--count-thresh", type=float, default=0.5, help="lowest score counted in counts.csv")
    pr.add_argument("--shard", metavar="I/N", help="predict only the I-th of N shares of the images, into "
                    "OUT/shard_IofN/ (join the shares with `benthos detect merge OUT`)")
    _tta_flags(pr)
    _box_vote_flag(pr)
    add_device_flag(pr)
    pr.set_defaults(func=_predict,
                    on_interrupt="the images finished so far are kept: run the same command again to continue")
    m = s.add_parser("merge", help="join the shares of `detect predict --shard I/N` into one set of output files")
    m.add_argument("shares", nargs="+", help="the folder given as --out to every share (it holds shard_IofN/), "
                   "or the share folders themselves")
    m.add_argument("--out", help="folder for the merged detections.csv, detections.coco.json, counts.csv "
                   "(default: the folder holding the shares)")
    m.add_argument("--count-thresh", type=float, help="lowest score counted in counts.csv (default: as the shares were counted)")
    m.set_defaults(func=_merge)
    p.set_defaults(func=lambda a: p.print_help())


def _merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benthos.detect.predict import merge_shares

    out = args.out or (args.shares[0] if len(args.shares) == 1 else str(Path(args.shares[0]).parent))
    res = merge_shares(args.shares, out, count_thresh=args.count_thresh)
    print(f"merged {res['shares']} shares: {res['images']} images, {res['detections']} detections; wrote "
          + ", ".join(str(p) for p in res["files"].values()))
    return 0


def _tta_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--tta", dest="tta", action="store_true", default=None,
                   help="also predict on the mirror image and merge: slightly better AP, over twice the time "
                        "(default: as the run was configured, off unless trained with --tta)")
    g.add_argument("--no-tta", dest="tta", action="store_false", help="one pass per image")


def _box_vote_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--box-vote", type=float, metavar="IOU",
                        help="Faster R-CNN: after NMS, average each box with its class's boxes overlapping it by "
                             "this IoU (0: off; default: as the run was configured, 0.6 for runs of "
                             "fasterrcnn_lite0_fpn trained since 2026-12-06, off for older runs)")


def _list(args: argparse.Namespace) -> int:
    from benthos.detect.registry import DEFAULT_DETECTOR, detector_spec, list_detectors

    # oldest method first, as the lecture tells the lineage; the paper on its own indented line
    for n in sorted(list_detectors(args.pattern), key=lambda n: (detector_spec(n).year or 9999, n)):
        s = detector_spec(n)
        mark = " (default)" if n == DEFAULT_DETECTOR else ""
        year = str(s.year) if s.year else "-"
        print(f"{n:26s} {s.method:12s} {s.family:13s} {year:4s} {s.image_size:4d}px  {s.summary}{mark}")
        if s.paper:
            print(f"{'':26s} {s.paper}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from benthos.detect.config import DetectConfig
    from benthos.detect.engine import train_detector
    from benthos.errors import ConfigError

    cfg = DetectConfig.from_yaml(args.config) if args.config else DetectConfig()
    for flag, _, _ in _TRAIN_FLAGS:
        key = flag[2:].replace("-", "_")
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if args.anchor_sizes:
        try:
            cfg.anchor_sizes = json.loads(args.anchor_sizes)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--anchor-sizes {args.anchor_sizes!r} is not JSON ({exc})") from exc
    for flag, key in (("no_pretrained", "pretrained_backbone"), ("no_hflip", "hflip"), ("no_vflip", "vflip"),
                      ("no_channels_last", "channels_last"), ("no_resume", "resume")):
        if getattr(args, flag):
            setattr(cfg, key, False)
    if args.tta:
        cfg.tta = True
    if args.transpose:
        cfg.transpose = True
    info = train_detector(args.annotations, args.out, cfg, images=args.images, format=args.format)
    _print_per_class(info["metrics"].get("per_class", {}))
    return 0


def _print_per_class(per_class: dict) -> None:
    from benthos.report.html import fmt  # NaN (no boxes of the class here) prints as a dash

    for name, c in per_class.items():
        print(f"  {name:20s} AP={fmt(c['AP'])} AP50={fmt(c['AP50'])} (n={c['gt']})")


def _evaluate(args: argparse.Namespace) -> int:
    from benthos.detect.predict import evaluate_run
    from benthos.runs.atomic import json_safe

    m = evaluate_run(args.run, args.annotations, images=args.images, format=args.format, split=args.split,
                     tile=args.tile, tta=args.tta, box_vote=args.box_vote)
    m.pop("pr_curves", None)
    for path in m.get("images_unreadable", []):
        print(f"warning: {path} could not be read; not scored", file=sys.stderr)
    if args.json:
        print(json.dumps(json_safe(m), indent=2, allow_nan=False))
        return 0
    from benthos.report.html import fmt

    print(f"mAP@[.5:.95] {fmt(m['mAP'])}  AP50 {fmt(m['AP50'])}  AP75 {fmt(m['AP75'])}  (small {fmt(m['AP_small'])}, "
          f"medium {fmt(m['AP_medium'])}, large {fmt(m['AP_large'])}) on {m['images']} images")
    _print_per_class(m["per_class"])
    print(f"report: {args.run}/report.html")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import sys

    from benthos.detect.predict import predict_run

    res = predict_run(args.run, args.images, args.out, tile=args.tile, tile_overlap=args.overlap,
                      score_thresh=args.score_thresh, count_thresh=args.count_thresh, tta=args.tta,
                      box_vote=args.box_vote, progress=lambda line: print(line, file=sys.stderr, flush=True), shard=args.shard)
    results = res["results"]
    n = sum(int((r["scores"] >= args.count_thresh).sum()) for r in results)
    print(f"{len(results)} images, {n} detections with score >= {args.count_thresh}; wrote "
          + ", ".join(str(p) for p in res["files"].values()))
    if res["skipped"]:
        print(f"{len(res['skipped'])} files could not be read and were skipped", file=sys.stderr)
    return 0
