"""`benthos report RUN`: (re)write the run's self-contained HTML report."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write RUN/report.html (learning curves, confusion matrix, mistakes, calibration)")
    p.add_argument("run", help="run folder written by `benthos train`")
    p.add_argument("--evaluate", action="store_true", help="re-evaluate on the run's test split first")
    p.add_argument("--predictions", help="a `benthos predict` CSV: adds the biodiversity sections (counts, diversity, "
                   "rarefaction curves, counts corrected with the run's confusion matrix)")
    p.add_argument("--by", nargs="+", help="sample key for --predictions: image, folder, all, or group COLUMN")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benthos.runs import read_meta

    read_meta(args.run)  # a clear error if this is not a run folder
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
