"""``benthos ecology ...``: counts, cover, diversity, corrections, unknown taxa, taxonomy, Darwin Core, report.

Thin layer: every handler parses, calls ``benthos.ecology.tasks`` and prints.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any


def _by(p: argparse.ArgumentParser, what: str = "sample") -> None:
    p.add_argument("--by", nargs="+", metavar="KEY", default=None,
                   help=f"{what}: image (default), folder (parent folder name), all, or group COLUMN "
                        "(a column of --metadata, or of the predictions CSV)")
    p.add_argument("--metadata", metavar="CSV", help="image metadata CSV with an 'image' column (station, transect, site, eventDate, ...)")


def register(subparsers: Any) -> None:
    eco = subparsers.add_parser("ecology", help="counts, cover, diversity, corrections, unknown taxa, taxonomy, Darwin Core",
                                description="From predictions to biodiversity estimates.")
    sub = eco.add_subparsers(dest="ecology_command", metavar="COMMAND")
    eco.set_defaults(func=lambda a: (eco.print_help(), 0)[1])

    p = sub.add_parser("counts", help="counts per taxon per image or group (long and wide CSV)")
    p.add_argument("predictions", help="classification, point or detection predictions CSV")
    _by(p)
    p.add_argument("--min-score", type=float, default=0.0, help="ignore predictions below this score")
    p.add_argument("--exclude", nargs="*", default=[], metavar="LABEL", help="labels that are not taxa (e.g. sand)")
    p.add_argument("--out", metavar="CSV", help="long CSV sample,taxon,count (default: print it)")
    p.add_argument("--wide", metavar="CSV", help="also write a wide CSV (one row per sample, one column per taxon)")
    p.set_defaults(func=_counts)

    p = sub.add_parser("merge", help="join prediction CSVs (e.g. the shares of `benthos predict --shard I/N`) into one")
    p.add_argument("predictions", nargs="+", help="prediction CSVs of one run and one kind")
    p.add_argument("--out", required=True, metavar="CSV")
    p.set_defaults(func=_merge)

    p = sub.add_parser("cover", help="percent cover from point classifications (CoralNet style)")
    p.add_argument("predictions", help="point predictions CSV (with row,column)")
    _by(p, "groups of images besides per image and all")
    p.add_argument("--out", metavar="CSV")
    p.set_defaults(func=_cover)

    p = sub.add_parser("diversity", help="richness, Shannon, Simpson, Hill numbers, Chao1, ACE, rarefaction curves")
    p.add_argument("counts", help="long counts CSV: sample,taxon,count")
    p.add_argument("--json", action="store_true", help="print a JSON object keyed by sample")
    p.add_argument("--depth", type=int, nargs="*", default=[], help="extra sample sizes for rarefied richness")
    p.add_argument("--bootstrap", type=int, default=50, help="bootstrap replicates for curve intervals (0: none)")
    p.add_argument("--no-curves", action="store_true", help="skip the rarefaction/extrapolation curves")
    p.add_argument("--curves", metavar="CSV", help="write the curves (sample,order,m,method,value,lower,upper)")
    p.add_argument("--accumulation", metavar="CSV", help="write the species-accumulation curve over samples")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_diversity)

    p = sub.add_parser("correct", help="misclassification-corrected counts (ACC, EM) with bootstrap intervals")
    p.add_argument("predictions")
    p.add_argument("--evaluation", required=True, help="RUN folder or its evaluation.json (held-out confusion matrix)")
    _by(p)
    p.add_argument("--method", nargs="+", choices=["acc", "em"], default=["acc", "em"])
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="CSV", help="write sample,taxon,naive,acc,acc_lower,... rows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_correct)

    p = sub.add_parser("unknown", help="flag out-of-distribution predictions, cluster them, write a review queue")
    p.add_argument("predictions")
    p.add_argument("--calibrate", required=True, metavar="VAL_CSV", help="predictions on validation images of known classes")
    p.add_argument("--score", choices=["energy", "confidence", "distance"], default="energy")
    p.add_argument("--keep", type=float, default=0.95, help="fraction of validation items kept as familiar")
    p.add_argument("--features", metavar="NPY", help="survey features aligned with the prediction rows")
    p.add_argument("--val-features", metavar="NPY", help="validation features aligned with --calibrate rows")
    p.add_argument("--cluster-distance", type=float, help="cut height for clustering (default: from validation spread)")
    p.add_argument("--out-dir", required=True, help="folder for review_queue.csv and review_gallery.html")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_unknown)

    p = sub.add_parser("taxonomy", help="check a taxonomy; roll predictions up to a confident rank; per-rank metrics")
    p.add_argument("taxonomy", help="CSV: label,phylum,class,order,family,genus,species")
    p.add_argument("--predictions", help="classification predictions to roll up")
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--evaluation", help="RUN folder or evaluation.json for per-rank metrics")
    p.add_argument("--out", metavar="CSV", help="rolled-up predictions CSV")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_taxonomy)

    p = sub.add_parser("darwincore", help="Darwin Core occurrence CSV, or archive (.zip) for OBIS/GBIF")
    p.add_argument("predictions")
    p.add_argument("--out", required=True, help="occurrence.csv, or NAME.zip for a Darwin Core Archive")
    _by(p, "event (eventID)")
    p.add_argument("--taxonomy", help="taxonomy CSV: scientificName, taxonRank and higher ranks")
    p.add_argument("--model", default="", help="model name for identificationRemarks")
    p.add_argument("--min-score", type=float, default=0.0)
    p.add_argument("--exclude", nargs="*", default=[], metavar="LABEL")
    p.add_argument("--title", default="benthos occurrences", help="dataset title in eml.xml")
    p.set_defaults(func=_darwincore)

    p = sub.add_parser("report", help="standalone HTML biodiversity report")
    p.add_argument("predictions")
    p.add_argument("--out", required=True, metavar="FILE.html")
    _by(p)
    p.add_argument("--evaluation", help="RUN folder or evaluation.json: adds naive vs corrected")
    p.add_argument("--calibrate", metavar="VAL_CSV", help="validation predictions: adds the unknown-taxa gallery")
    p.add_argument("--score", choices=["energy", "confidence"], default="energy")
    p.add_argument("--bootstrap", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_report)


def _dumps(obj: Any) -> str:
    from benthos.runs.atomic import json_text

    return json_text(obj)  # NaN -> null


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _counts(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology._io import to_csv_text

    table = tasks.counts(a.predictions, a.by, a.metadata, a.min_score, tuple(a.exclude))
    if a.wide:
        table.write_wide(a.wide)
    if a.out:
        table.write_long(a.out)
        print(f"{int(table.counts.sum())} predictions, {len(table.samples)} samples, {int((table.counts.sum(0) > 0).sum())} taxa "
              f"-> {a.out}" + (f", {a.wide}" if a.wide else ""))
    else:
        sys.stdout.write(to_csv_text(table.long_rows(), ["sample", "taxon", "count"]))
    return 0


def _merge(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks

    res = tasks.merge(a.predictions, a.out)
    print(f"merged {res['files']} files: {res['rows']} rows, {res['images']} images -> {res['out']}")
    return 0


def _cover(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology._io import to_csv_text, write_csv
    from benthos.ecology.counts import COVER_COLUMNS

    rows = tasks.cover(a.predictions, a.by, a.metadata)
    if a.out:
        write_csv(a.out, rows, COVER_COLUMNS)
        for r in rows:
            if r["level"] == "all":
                print(f"all: {r['taxon']}: {r['cover']:.1f}% cover ({r['points']}/{r['total_points']} points, "
                      f"mean over {r['n_images']} images {r['cover_mean']:.1f} +- {r['cover_sd']:.1f})")
    else:
        sys.stdout.write(to_csv_text(rows, COVER_COLUMNS))
    return 0


def _diversity(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology._io import write_csv
    from benthos.ecology.rarefaction import Curve

    res, acc, table = tasks.diversity(a.counts, tuple(a.depth), curves=not a.no_curves or bool(a.curves),
                                      nboot=a.bootstrap, seed=a.seed)
    if a.curves:
        rows = [r for s, d in res.items() for r in Curve.from_dict(d["curves"]).rows(s)]
        write_csv(a.curves, rows, ["sample", "order", "m", "method", "value", "lower", "upper"])
    if a.accumulation:
        write_csv(a.accumulation, [dict(samples=k, richness=r, sd=sd if acc["sd"] else None, collector=c) for k, r, sd, c in
                                   zip(acc["samples"], acc["richness"], acc["sd"] or [None] * len(acc["samples"]), acc["collector"])],
                  ["samples", "richness", "sd", "collector"])
    if a.json:
        if a.no_curves:
            for d in res.values():
                d.pop("curves", None)
        print(_dumps(res))
        return 0
    for s, d in res.items():
        lo, hi = d["chao1_ci"]
        rar = " ".join(f"rarefied[{m}]={_fmt(v)}" for m, v in d["rarefied"].items())
        print(f"{s}: n={d['n']} richness={d['richness']} shannon={d['shannon']:.3f} simpson={d['simpson']:.3f} "
              f"hill_q1={d['hill_q1']:.2f} hill_q2={d['hill_q2']:.2f} pielou={_fmt(d['pielou'])} coverage={d['goods_coverage']:.3f} "
              f"chao1={d['chao1']:.1f} ({lo:.1f}-{hi:.1f}) ace={_fmt(d['ace'])} {rar}")
        for k, e in d.get("asymptotic", {}).items():
            if e["estimate"] is not None:
                ci = f" ({e['lower']:.1f}-{e['upper']:.1f})" if e["lower"] is not None else ""
                print(f"  asymptotic {k}: observed {e['observed']:.2f}, estimated {e['estimate']:.2f}{ci}")
        for k, why in d["undefined"].items():
            print(f"  {k}: n/a: {why}")
    if len(acc["samples"]) > 1:
        print("accumulation over samples: " + " ".join(f"{k}:{r:.1f}" for k, r in zip(acc["samples"], acc["richness"])))
    return 0


def _correct(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology._io import write_csv

    res = tasks.correct(a.predictions, a.evaluation, a.by, a.metadata, tuple(a.method), a.bootstrap, a.seed)
    rows = [r for c in res for r in c.rows()]
    if a.out:
        write_csv(a.out, rows, list(rows[0].keys()))
    if a.json:
        print(_dumps({c.sample: c.to_dict() for c in res}))
        return 0
    for c in res:
        print(f"[{c.sample}] taxon: naive -> " + ", ".join(c.corrected))
        for r in c.rows():
            parts = [f"{m} {r[m]:.1f}" + (f" ({r[m + '_lower']:.1f}-{r[m + '_upper']:.1f})" if r.get(m + "_lower") is not None else "")
                     for m in c.corrected]
            print(f"  {r['taxon']}: naive {r['naive']} -> " + ", ".join(parts))
        for fig in ("richness", "hill_q1", "hill_q2"):
            vals = c.diversity
            print(f"  {fig}: " + ", ".join(f"{m} {v[fig]['value']:.2f}" + (f" ({v[fig]['lower']:.2f}-{v[fig]['upper']:.2f})" if "lower" in v[fig] else "")
                                          for m, v in vals.items()))
    return 0


def _unknown(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology.unknown import write_review

    preds, cal, res = tasks.unknown(a.predictions, a.calibrate, a.score, a.keep, a.features, a.val_features, a.cluster_distance)
    paths = write_review(a.out_dir, preds, res)
    s = res.summary()
    if a.json:
        print(_dumps({**s, "calibration": {"keep": cal.keep, "n_validation": cal.n_validation, "cluster_distance": cal.cluster_distance},
                      "files": {k: str(v) for k, v in paths.items()}}))
        return 0
    print(f"{s['n_flagged']} of {s['n_predictions']} predictions flagged ({s['score']} > {s['threshold']:.3f}, calibrated to keep "
          f"{cal.keep:.0%} of {cal.n_validation} validation items); {s['candidate_taxa']} candidate taxa; "
          f"richness {s['richness_known']} known + {s['candidate_taxa']} candidates -> {paths['csv']}, {paths['html']}")
    return 0


def _taxonomy(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology._io import write_csv

    res = tasks.taxonomy(a.taxonomy, a.predictions, a.threshold, a.evaluation)
    tax = res["taxonomy"]
    if a.out and "rollup" in res:
        preds = res["predictions"]
        rows = [dict(image=im, label=lb, score=float(s), **r) for im, lb, s, r in zip(preds.images, preds.labels, preds.scores, res["rollup"])]
        write_csv(a.out, rows, ["image", "label", "score", "name", "rank", "probability"])
    if a.json:
        print(_dumps({k: v for k, v in {"labels": len(tax.labels), "ranks": tax.ranks, "rollup": res.get("rollup"),
                                        "metrics": res.get("metrics")}.items() if v is not None}))
        return 0
    print(f"{tax.path}: {len(tax.labels)} labels, ranks {', '.join(tax.ranks)}, "
          f"{sum(not tax.is_taxon(lb) for lb in tax.labels)} non-taxa: OK")
    if "rollup" in res:
        counts: dict[str, int] = {}
        for r in res["rollup"]:
            counts[r["rank"] or "unresolved"] = counts.get(r["rank"] or "unresolved", 0) + 1
        print(f"roll-up at p >= {a.threshold}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + (f" -> {a.out}" if a.out else ""))
    for m in res.get("metrics", []):
        print(f"  {m['metric']} [{m['rank']}]: {_fmt(m['value'])} (n={m['n']})")
    return 0


def _darwincore(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks

    path, n = tasks.darwincore(a.predictions, a.out, a.by, a.metadata, a.taxonomy, a.model, a.min_score, tuple(a.exclude), a.title)
    print(f"{n} occurrences -> {path}")
    return 0


def _report(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks

    path = tasks.report(a.predictions, a.out, a.by, a.metadata, a.evaluation, a.calibrate, a.score, a.bootstrap, a.seed)
    print(f"report -> {path}")
    return 0
