"""`benthos detect list|train|evaluate|predict|merge`: detectors through one interface (jobs in
benthos.tasks.detect). Every DetectConfig key is a flag of `detect train` (and a YAML key for --config)."""
from __future__ import annotations

import argparse
import json
import sys

from benthos.cli import DEPRECATED, add_config_flags, add_device_flag, add_outside_flag, config_values

HELP = {
    "model": "detector name (default: the registry default; see `benthos detect list`)",
    "backbone": "trunk override (timm name)", "pretrained_backbone": "ImageNet weights for the trunk",
    "input_size": "network input, long side in px", "max_minutes": "wall-clock budget; the LR schedule ends with it",
    "optimizer": "sgd or adamw",
    "trainable_stages": "fine-tune only the last N trunk stages (0: freeze the trunk)",
    "anchor_sizes": "one list of sizes per feature map, e.g. '[[16,24],[32,48],[64,96],[128,256]]'",
    "tile": "train on tiles of this many px (large photos, mosaics)",
    "tile_overlap": "overlap between neighbouring tiles, as a fraction of a tile",
    "crop": "train on random crops of this many px at the input scale (cheaper steps)",
    "scale_jitter": "multi-scale training: each image at a random size in 1 +- this times the input size "
                    "(with --crop: before cropping)",
    "hflip": "random left-right flips", "vflip": "random up-down flips",
    "transpose": "also swap x and y in training (with the flips: all 8 right-angle rotations and mirrors)",
    "split": "split.json of an earlier run: train on and hold out the same images (to compare recipes or seeds); "
             "--val-fraction and --group-pattern are then unused",
    "group_pattern": "regex on image paths naming each frame's dive/video/transect (first group), e.g. '(EX\\d+)_'; "
                     "groups never straddle the train/validation split",
    "normalize": "input normalisation: 'backbone' (the statistics the trunk's pretrained weights expect) or 'imagenet'",
    "ema_decay": "moving average of weights, evaluated and saved (0: off)",
    "score_thresh": "lowest score of a box kept", "threads": "CPU threads for training",
    "box_vote": "Faster R-CNN: after NMS, average each box with its class's boxes overlapping it by this IoU "
                "(box voting; 0: off)",
    "tta": "test-time views for the held-out scores and later predictions: none, or flip (the mirror image too: "
           "slightly better AP, over twice the time)",
    "channels_last": "NHWC memory layout (faster convolutions on CPUs)",
    "num_workers": "processes reading images for training (default: 0 on a CPU, up to 4 with a GPU)",
    "eval_every": "evaluate every N epochs and keep the best weights",
    "limit_train_batches": "at most this many batches per epoch (quick trials)",
    "resume": "continue from RUN/checkpoints/last.ckpt when there is one",
    "roi_op": "Faster/Fast R-CNN: align (RoIAlign) or pool (RoI max pooling, the papers')",
    "max_proposals": "R-CNN/Fast R-CNN: selective-search proposals kept per image",
    "test_proposals": "Faster R-CNN/R-FCN: RPN proposals kept per image at test time (the RoI head's cost grows "
                      "with them)",
    "test_roi_sampling": "Faster R-CNN with RoIAlign: sampling points per bin side at test time (training keeps 2)",
    "allow_outside_paths": "read images that the annotations name outside their own folder (and --images); by "
                           "default each such record is skipped and named",
}

TTA_HELP = ("test-time views: flip also predicts on the mirror image and merges (slightly better AP, over twice "
            "the time); none: one pass (default: as the run was configured, none unless trained with --tta flip)")
BOX_VOTE_HELP = ("Faster R-CNN: after NMS, average each box with its class's boxes overlapping it by this IoU "
                 "(0: off; default: as the run was configured)")
TEST_PROPOSALS_HELP = ("Faster R-CNN / R-FCN: region proposals kept per image (the RoI head's cost grows with them; "
                       "default: as the run was configured)")
TEST_ROI_SAMPLING_HELP = ("Faster R-CNN with RoIAlign: sampling points per bin side at test time (default: as the run "
                          "was configured; 1 for new runs of the default detector, 2 before)")
BACKEND_HELP = ("onnx: Faster R-CNN as one ONNX graph in ONNX Runtime (the default on a CPU when it is installed), "
                "other detectors' trunk (backbone + FPN) only; exported once into RUN/export/. torch: all in PyTorch")
MIN_SCORE_HELP = ("count boxes with at least this score (default: the run's counting threshold, fitted on its "
                  "validation images when it was trained; 0.5 for runs trained before it was)")

DEPRECATED[("detect", "train")] = {"--detector": "--model", "--image-size": "--input-size",
                                   "--no-pretrained": "--no-pretrained-backbone"}
DEPRECATED[("detect", "evaluate")] = {"--overlap": "--tile-overlap"}
DEPRECATED[("detect", "predict")] = {"--overlap": "--tile-overlap", "--count-thresh": "--min-score"}
DEPRECATED[("detect", "merge")] = {"--count-thresh": "--min-score"}


def _tta_flag(parser: argparse.ArgumentParser, flag: str = "--tta", text: str = TTA_HELP) -> None:
    """``--tta [none|flip]`` (a bare ``--tta`` means flip, as it did when it was a switch) and ``--no-tta``."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument(flag, nargs="?", const="flip", choices=["none", "flip"], default=argparse.SUPPRESS, help=text)
    g.add_argument("--no-tta", dest="tta", action="store_const", const="none", default=argparse.SUPPRESS,
                   help="one pass per image (the same as --tta none)")


def _tile_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tile", type=int, help="predict in tiles of this many px (large survey photos), merged")
    parser.add_argument("--tile-overlap", type=float, default=0.2,
                        help="overlap between neighbouring tiles, as a fraction of a tile (with --tile; default 0.2)")


def register(sub) -> None:
    from benthos.detect.config import DetectConfig

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
    t.add_argument("--config", help="YAML with any of the keys below (flags override it)")
    add_config_flags(t, DetectConfig, HELP, skip=("extra",), custom={"tta": lambda q, flag, text: _tta_flag(q)})
    t.set_defaults(func=_train)

    e = s.add_parser("evaluate", help="COCO mAP/AP50/AP75, per class and by size, and counts against the annotations")
    e.add_argument("run")
    e.add_argument("annotations")
    e.add_argument("--images")
    e.add_argument("--format", choices=["coco", "yolo", "voc"])
    e.add_argument("--split", default="auto", choices=["auto", "val", "all"],
                   help="val: the run's held-out images among the annotations; all: every image; auto (default): "
                        "val for the annotations the run was trained on, all for any other")
    e.add_argument("--out", help="evaluation JSON to write (default: RUN/evaluation.json for the run's held-out "
                                 "images, RUN/evaluation_<data>.json for other data; the report goes beside it)")
    _tile_flags(e)
    e.add_argument("--json", action="store_true", help="print metrics as JSON")
    _tta_flag(e)
    e.add_argument("--box-vote", type=float, metavar="IOU", help=BOX_VOTE_HELP)
    e.add_argument("--test-proposals", type=int, metavar="N", help=TEST_PROPOSALS_HELP)
    e.add_argument("--test-roi-sampling", type=int, metavar="N", help=TEST_ROI_SAMPLING_HELP)
    e.add_argument("--backend", choices=["torch", "onnx"], help=BACKEND_HELP)
    add_device_flag(e)
    add_outside_flag(e)
    e.set_defaults(func=_evaluate)

    pr = s.add_parser("predict", help="boxes for images: detections.csv, detections.coco.json, counts.csv")
    pr.add_argument("run")
    pr.add_argument("images", help="an image or a folder (searched recursively)")
    pr.add_argument("--out", required=True, help="folder for the output files")
    _tile_flags(pr)
    pr.add_argument("--score-thresh", type=float, help="lowest score written (default 0.05, or the run's lower "
                    "floor: 0.005 for YOLO v1)")
    pr.add_argument("--min-score", type=float, help=MIN_SCORE_HELP)
    pr.add_argument("--shard", metavar="I/N", help="predict only the I-th of N shares of the images, into "
                    "OUT/shard_IofN/ (join the shares with `benthos detect merge OUT`)")
    _tta_flag(pr)
    pr.add_argument("--box-vote", type=float, metavar="IOU", help=BOX_VOTE_HELP)
    pr.add_argument("--test-proposals", type=int, metavar="N", help=TEST_PROPOSALS_HELP)
    pr.add_argument("--test-roi-sampling", type=int, metavar="N", help=TEST_ROI_SAMPLING_HELP)
    pr.add_argument("--backend", choices=["torch", "onnx"], help=BACKEND_HELP)
    add_device_flag(pr)
    pr.set_defaults(func=_predict,
                    on_interrupt="the images finished so far are kept: run the same command again to continue")

    m = s.add_parser("merge", help="join the shares of `detect predict --shard I/N` into one set of output files")
    m.add_argument("shares", nargs="+", help="the folder given as --out to every share (it holds shard_IofN/), "
                   "or the share folders themselves")
    m.add_argument("--out", help="folder for the merged detections.csv, detections.coco.json, counts.csv "
                   "(default: the folder holding the shares)")
    m.add_argument("--min-score", type=float, help="count boxes with at least this score (default: as the shares "
                                                   "were counted)")
    m.set_defaults(func=_merge)
    p.set_defaults(func=lambda a: p.print_help())


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
    from benthos.tasks.detect import train

    base = DetectConfig.from_yaml(args.config).to_dict() if args.config else {}
    values = config_values(args, exclude=("annotations", "images", "format", "out", "detect_command"))
    cfg = DetectConfig.from_dict({**base, **values}, "the command line" if not args.config else args.config)
    info = train(args.annotations, args.out, cfg, images=args.images, format=args.format)
    _print_per_class(info["metrics"].get("per_class", {}))
    return 0


def _print_per_class(per_class: dict) -> None:
    from benthos.report.html import fmt  # NaN (no boxes of the class here) prints as a dash

    for name, c in per_class.items():
        print(f"  {name:20s} AP={fmt(c['AP'])} AP50={fmt(c['AP50'])} (n={c['gt']})")


def _evaluate(args: argparse.Namespace) -> int:
    from benthos.runs.atomic import json_safe
    from benthos.tasks.detect import evaluate

    m = evaluate(args.run, args.annotations, images=args.images, format=args.format, split=args.split,
                 tile=args.tile, tile_overlap=args.tile_overlap, tta=getattr(args, "tta", None),
                 box_vote=args.box_vote, out=args.out, device=args.device, allow_outside=args.allow_outside_paths,
                 test_proposals=args.test_proposals, backend=args.backend, test_roi_sampling=args.test_roi_sampling)
    m.pop("pr_curves", None)
    for path in m.get("images_unreadable", []):
        print(f"warning: {path} could not be read; not scored", file=sys.stderr)
    if args.json:
        print(json.dumps(json_safe(m), indent=2, allow_nan=False))
        return 0
    from benthos.report.html import fmt

    where = "the run's held-out images" if m["split"] == "val" else "every image"
    print(f"mAP@[.5:.95] {fmt(m['mAP'])}  AP50 {fmt(m['AP50'])}  AP75 {fmt(m['AP75'])}  (small {fmt(m['AP_small'])}, "
          f"medium {fmt(m['AP_medium'])}, large {fmt(m['AP_large'])}) on {m['images']} images ({where})")
    _print_per_class(m["per_class"])
    c = m.get("counts") or {}
    if c.get("annotated") is not None:
        from benthos.detect.counting import run_threshold

        print(f"counts: {c['counted']} counted against {c['annotated']} annotated "
              f"({run_threshold({'count_threshold': c['threshold']}).describe()})")
    print(f"wrote {m['written']} and its report beside it")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from benthos.tasks.detect import predict

    res = predict(args.run, args.images, args.out, tile=args.tile, tile_overlap=args.tile_overlap,
                  score_thresh=args.score_thresh, min_score=args.min_score, tta=getattr(args, "tta", None),
                  box_vote=args.box_vote, progress=lambda line: print(line, file=sys.stderr, flush=True),
                  shard=args.shard, device=args.device, test_proposals=args.test_proposals, backend=args.backend,
                  test_roi_sampling=args.test_roi_sampling)
    from benthos.detect.counting import count_boxes

    results, threshold = res["results"], res["threshold"]
    n = sum(sum(count_boxes(r["labels"], r["scores"], res["classes"], threshold)) for r in results)
    print(f"{len(results)} images, {n} animals counted ({threshold.describe()}), backend {res['backend']}; wrote "
          + ", ".join(str(p) for p in res["files"].values()))
    if res["skipped"]:
        print(f"{len(res['skipped'])} files could not be read and were skipped", file=sys.stderr)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benthos.tasks.detect import merge

    out = args.out or (args.shares[0] if len(args.shares) == 1 else str(Path(args.shares[0]).parent))
    res = merge(args.shares, out, min_score=args.min_score)
    print(f"merged {res['shares']} shares: {res['images']} images, {res['detections']} detections, counted with "
          f"{res['threshold'].describe()}; wrote " + ", ".join(str(p) for p in res["files"].values()))
    return 0
