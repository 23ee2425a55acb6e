"""`benthos report RUN`: (re)write the run's self-contained HTML report."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write RUN/report.html (learning curves, confusion matrix, mistakes, calibration)")
    p.add_argument("run", help="run folder written by `benthos train` or `benthos detect train`")
    p.add_argument("--evaluate", action="store_true", help="re-evaluate on the run's test split first")
    p.add_argument("--predictions", help="a `benthos predict` CSV: adds the biodiversity sections (counts, diversity, "
                   "rarefaction curves, counts corrected with the run's confusion matrix)")
    p.add_argument("--by", nargs="+", help="sample key for --predictions: image, folder, all, or group COLUMN")
    p.set_defaults(func=_report)

    r = sub.add_parser("review", help="a page to confirm or correct predictions in the browser; its answers are a "
                       "CSV that `benthos train` reads")
    r.add_argument("predictions", help="a `benthos predict` CSV (images or points)")
    r.add_argument("--out", help="the HTML page to write (default: PREDICTIONS_review.html beside the CSV)")
    r.add_argument("--limit", type=int, default=400, help="at most this many items on the page (default 400; 0: all)")
    r.add_argument("--order", choices=["least-sure", "file"], default="least-sure",
                   help="least-sure: lowest score first (default); file: as in the CSV")
    r.add_argument("--patch-size", type=int, default=224, help="side of the patch shown around a point (the run's)")
    r.set_defaults(func=_review)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benthos.runs import read_meta

    meta = read_meta(args.run)  # a clear error if this is not a run folder
    if meta["kind"] == "detector":
        return _detector_report(args, meta)
    if args.evaluate or not (Path(args.run) / "evaluation.json").is_file():
        from benthos.tasks import evaluate_run

        evaluate_run(args.run)
    if args.predictions:
        from benthos.tasks import report_with_biodiversity

        report_with_biodiversity(args.run, args.predictions, by=args.by)
    elif not args.evaluate:
        from benthos.report.classification import write_report

        write_report(args.run)
    print(f"report: {Path(args.run) / 'report.html'}")
    return 0


def _detector_report(args: argparse.Namespace, meta: dict) -> int:
    """A detector's report needs its boxes on the held-out images: evaluated again from the annotations
    it was trained on."""
    from pathlib import Path

    from benthos.errors import BenthosError

    if args.predictions:
        raise BenthosError(f"{args.run} is a detector run: for the biodiversity of its detections use "
                           "`benthos ecology report DETECTIONS.csv`")
    annotations = (meta.get("data") or {}).get("path")
    if not annotations or not Path(annotations).exists():
        raise BenthosError(f"{args.run}: the annotations it was trained on ({annotations or 'not recorded'}) are not "
                           "here; run `benthos detect evaluate RUN ANNOTATIONS --images DIR` to rewrite its report")
    from benthos.tasks.detect import evaluate

    evaluate(args.run, annotations, images=meta["data"].get("images"), format=meta["data"].get("format"), split="val")
    print(f"report: {Path(args.run) / 'report.html'}")
    return 0


def _review(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benthos.ecology.review import write_review

    src = Path(args.predictions)
    out = Path(args.out) if args.out else src.with_name(src.stem + "_review.html")
    res = write_review(src, out, limit=args.limit or None, order=args.order, patch_size=args.patch_size)
    print(f"review page: {res['out']} ({res['shown']}). Open it in a browser; its Download button saves the "
          f"answers as {res['download']}, which `benthos train` reads.")
    return 0
