"""``benthos data inspect`` and ``benthos data convert``."""
from __future__ import annotations

import argparse
import json
import sys

from benthos.cli import add_outside_flag

FORMATS = ["folder", "csv", "coco", "coralnet"]
BOX_FORMATS = ["coco", "yolo", "voc"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="inspect and convert datasets",
                            description="Inspect classification datasets and convert detection annotations.")
    data_sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 0)

    p = data_sub.add_parser("inspect", help="class counts, imbalance, image sizes/modes, unreadable files, duplicates",
                            description="Read a dataset (image folder, CSV manifest, COCO JSON or CoralNet CSV) "
                                        "and report what is in it and what is wrong with it.")
    p.add_argument("path", help="class folder, manifest CSV (path,label[,group]), COCO JSON or CoralNet CSV")
    p.add_argument("--format", choices=FORMATS, help="what PATH is (default: recognised from PATH)")
    p.add_argument("--images", help="image folder for COCO/CoralNet (default: images/ next to the file)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_outside_flag(p)
    p.set_defaults(func=_inspect)

    c = data_sub.add_parser("convert", help="convert detection boxes between COCO, YOLO and VOC",
                            description="Convert detection annotations, e.g. --from voc --to coco.")
    c.add_argument("src", help="source annotations (COCO JSON, YOLO folder or VOC folder)")
    c.add_argument("dst", help="destination (COCO JSON file, or a folder for YOLO/VOC)")
    c.add_argument("--from", dest="src_format", required=True, choices=BOX_FORMATS)
    c.add_argument("--to", dest="dst_format", required=True, choices=BOX_FORMATS)
    c.add_argument("--images", help="image folder (default: next to the annotations)")
    add_outside_flag(c)
    c.set_defaults(func=_convert)


def _inspect(args: argparse.Namespace) -> int:
    from benthos.data import format_report, inspect_dataset

    report = inspect_dataset(args.path, format=args.format, images=args.images, allow_outside=args.allow_outside_paths)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from benthos.data.detection import convert_annotations

    data = convert_annotations(args.src, args.dst, args.src_format, args.dst_format, images=args.images,
                               allow_outside=args.allow_outside_paths)
    describe = getattr(data, "describe", None)
    print(f"wrote {args.dst} ({args.dst_format})" + (f": {describe()}" if callable(describe) else ""))
    for issue in getattr(data, "issues", [])[:20]:
        print(f"  {issue}", file=sys.stderr)
    return 0
