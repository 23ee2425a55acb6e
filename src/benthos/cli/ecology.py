"""``benthos ecology ...``: counts, cover, diversity, corrections, unknown taxa, taxonomy, Darwin Core, report.

Thin layer: every handler parses, calls ``benthos.ecology.tasks`` and prints.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any


def _by(p: argparse.ArgumentParser, what: str = "sample") -> None:
    p.add_argument("--by", nargs="+", metavar="KEY", default=None,
                   help=f"{what}: image (default), folder (parent folder name), all, or group COLUMN "
                        "(a column of --metadata, or of the predictions CSV)")
    p.add_argument("--metadata", metavar="CSV", help="image metadata CSV with an 'image' column (station, transect, site, eventDate, ...)")


def _min_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-score", type=float, default=None, metavar="SCORE",
                   help="count only predictions with at least this score, for every class (detections: default the "
                        "counting threshold recorded beside the file by `benthos detect predict`, else 0.5; "
                        "classifications: all counted)")


def register(subparsers: Any) -> None:
    eco = subparsers.add_parser("ecology", help="counts, cover, diversity, corrections, unknown taxa, taxonomy, Darwin Core",
                                description="From predictions to biodiversity estimates.")
    sub = eco.add_subparsers(dest="ecology_command", metavar="COMMAND")
    eco.set_defaults(func=lambda a: (eco.print_help(), 0)[1])

    p = sub.add_parser("counts", help="counts per taxon per image or group (long and wide CSV)")
    p.add_argument("predictions", help="classification, point or detection predictions CSV")
    _by(p)
    _min_score(p)
    p.add_argument("--exclude", nargs="*", default=[], metavar="LABEL", help="labels that are not taxa (e.g. sand)")
    p.add_argument("--out", metavar="CSV", help="long CSV sample,taxon,count (default: print it)")
    p.add_argument("--wide", metavar="CSV", help="also write a wide CSV (one row per sample, one column per taxon)")
    p.set_defaults(func=_counts)

    p = sub.add_parser("merge", help="join prediction CSVs (e.g. the shares of `benthos predict --shard I/N`) into one")
    p.add_argument("predictions", nargs="+", help="prediction CSVs of one run and one kind")
    p.add_argument("--out", required=True, metavar="CSV")
    p.set_defaults(func=_merge)

    p = sub.add_parser("cover", help="percent cover from point classifications (CoralNet style)")
    p.add_argument("predictions", help="point predictions CSV (with row,column), from `benthos predict RUN points.csv` "
                                       "or `--grid`/`--points`")
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
    p.add_argument("--points", action="store_true",
                   help="the counts are classified points (cover), not individuals; implied by a 'points' column")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_diversity)

    p = sub.add_parser("correct", help="misclassification-corrected counts (ACC, EM) with bootstrap intervals")
    p.add_argument("predictions")
    p.add_argument("--evaluation", required=True, help="RUN folder or its evaluation.json (held-out confusion matrix)")
    _by(p)
    p.add_argument("--method", nargs="+", choices=["acc", "em"], default=["acc", "em"])
    _min_score(p)
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="CSV", help="write sample,taxon,unit,naive,acc,acc_lower,... rows")
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
    p.add_argument("--taxonomy", help="taxonomy CSV (label,phylum,...,species; WoRMS names): the only source of "
                                      "scientificName; a label whose row has no rank is not a taxon and is left out")
    p.add_argument("--model", default="", help="model name for identificationRemarks (default: the architecture "
                                               "recorded with the predictions)")
    _min_score(p)
    p.add_argument("--exclude", nargs="*", default=[], metavar="LABEL", help="labels that are not taxa (substrates)")
    p.add_argument("--media-base", metavar="DIR", help="write associatedMedia as photo paths relative to DIR")
    p.add_argument("--media-url", metavar="URL", help="write associatedMedia as URL/<photo path relative to "
                                                      "--media-base, or to the photos' shared folder>")
    p.add_argument("--title", default="", help="dataset title (eml.xml; needed for a .zip)")
    p.add_argument("--creator", default="", help="dataset creator, 'Given Surname' (eml.xml; needed for a .zip)")
    p.add_argument("--licence", "--license", dest="licence", default="", metavar="LICENCE",
                   help="CC0-1.0, CC-BY-4.0 or CC-BY-NC-4.0 (the licences GBIF and OBIS accept; needed for a .zip)")
    p.set_defaults(func=_darwincore)

    p = sub.add_parser("report", help="standalone HTML biodiversity report")
    p.add_argument("predictions")
    p.add_argument("--out", required=True, metavar="FILE.html")
    _by(p)
    p.add_argument("--evaluation", help="RUN folder or evaluation.json: adds naive vs corrected")
    p.add_argument("--calibrate", metavar="VAL_CSV", help="validation predictions: adds the unknown-taxa gallery")
    p.add_argument("--score", choices=["energy", "confidence"], default="energy")
    _min_score(p)
    p.add_argument("--bootstrap", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_report)


def _dumps(obj: Any) -> str:
    from benthos.runs.atomic import json_text

    return json_text(obj)  # NaN -> null


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def _num(v: Any, digits: int = 3) -> str:
    """A table cell: fixed decimals, n/a for an undefined value."""
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:.{digits}f}"
    return str(v)


def _say(line: str | None, data_on_stdout: bool = False) -> None:
    """A status line: on stdout, unless stdout carries the data (CSV, JSON), then on stderr."""
    if line:
        print(line, file=sys.stderr if data_on_stdout else sys.stdout)


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _counts(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology.tables import to_csv_text

    table, c = tasks.counts(a.predictions, a.by, a.metadata, a.min_score, tuple(a.exclude))
    to_stdout = not a.out
    _say(c.note, to_stdout)
    if a.wide:
        table.write_wide(a.wide)
    if a.out:
        table.write_long(a.out)
        what = "points" if table.points else "boxes counted" if c.preds.kind == "detection" else "predictions counted"
        print(f"{int(table.counts.sum())} {what}, {len(table.samples)} samples, "
              f"{int((table.counts.sum(0) > 0).sum())} taxa -> {a.out}" + (f", {a.wide}" if a.wide else ""))
    else:
        sys.stdout.write(to_csv_text(table.long_rows(), ["sample", "taxon", table.unit]))
    return 0


def _merge(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks

    res = tasks.merge(a.predictions, a.out)
    print(f"merged {res['files']} files: {res['rows']} rows, {res['images']} images -> {res['out']}")
    return 0


def _cover(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology.tables import text_table, to_csv_text, write_csv
    from benthos.ecology.counts import cover_columns

    rows = tasks.cover(a.predictions, a.by, a.metadata)
    cols = cover_columns(rows)
    if not a.out:
        sys.stdout.write(to_csv_text(rows, cols))
        return 0
    write_csv(a.out, rows, cols)
    every = [r for r in rows if r["level"] == "all"]
    annotated = "annotated_cover" in cols
    head = ["taxon", "cover %", "points", f"mean over {every[0]['n_images']} images +- sd"]
    if annotated:
        head += ["annotated cover %", "annotated mean"]
    table = []
    for r in sorted(every, key=lambda r: -r["cover"]):
        line = [r["taxon"], f"{r['cover']:.1f}", f"{r['points']}/{r['total_points']}",
                f"{r['cover_mean']:.1f} +- {r['cover_sd']:.1f}"]
        if annotated:
            line += [_num(r["annotated_cover"], 1), _num(r["annotated_cover_mean"], 1)]
        table.append(line)
    print(f"percent cover over all {every[0]['total_points']} points ({every[0]['n_images']} images) -> {a.out}")
    print(text_table(table, head))
    if annotated:
        print("annotated: the same points' labels in the CoralNet CSV they were predicted from")
    return 0


DIVERSITY_LEGEND = (
    "Shannon H' = -sum p ln p (natural log); Gini-Simpson = 1 - sum p^2; Hill q1 = exp(H') and Hill q2 = 1 / sum p^2 "
    "are effective numbers of taxa; evenness J' = H' / ln(taxa) (Pielou); coverage = 1 - F1/n (Good: the share of "
    "individuals belonging to taxa seen more than once); Chao1 = taxa + F1(F1-1) / (2(F2+1)), F1 and F2 the taxa "
    "seen once and twice; ACE: Chao & Lee (1992); taxa in m: expected taxa among m individuals drawn at random (Hurlbert)")


def _diversity(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology.tables import text_table, write_csv
    from benthos.ecology.diversity import POINTS_NOTE
    from benthos.ecology.rarefaction import Curve

    res, acc, table = tasks.diversity(a.counts, tuple(a.depth), curves=not a.no_curves or bool(a.curves),
                                      nboot=a.bootstrap, seed=a.seed, points=a.points)
    if table.points and (a.curves or a.accumulation or a.depth):
        _warn([f"--curves, --accumulation and --depth are left out for points: {POINTS_NOTE}"])
    if a.curves and not table.points:
        rows = [r for s, d in res.items() for r in Curve.from_dict(d["curves"]).rows(s)]
        write_csv(a.curves, rows, ["sample", "order", "m", "method", "value", "lower", "upper"])
    if a.accumulation and acc is not None:
        write_csv(a.accumulation, [dict(samples=k, richness=r, sd=sd if acc["sd"] else None, collector=c) for k, r, sd, c in
                                   zip(acc["samples"], acc["richness"], acc["sd"] or [None] * len(acc["samples"]), acc["collector"])],
                  ["samples", "richness", "sd", "collector"])
    if a.json:
        if a.no_curves:
            for d in res.values():
                d.pop("curves", None)
        print(_dumps(res))
        return 0
    head = ["sample", "points" if table.points else "individuals", "taxa", "Shannon H'", "Gini-Simpson", "Hill q1",
            "Hill q2", "evenness J'"]
    depths = [] if table.points else list(next(iter(res.values()))["rarefied"])
    if not table.points:
        head += ["coverage", "Chao1 (95% CI)", "ACE"] + [f"taxa in {m}" for m in depths]
    rows = []
    for s, d in res.items():
        r = [s, d["n"], d["richness"], _num(d["shannon"]), _num(d["simpson"]), _num(d["hill_q1"], 2),
             _num(d["hill_q2"], 2), _num(d["pielou"])]
        if not table.points:
            lo, hi = d["chao1_ci"]
            r += [_num(d["goods_coverage"]), f"{d['chao1']:.1f} ({lo:.1f}-{hi:.1f})", _num(d["ace"], 1)]
            r += [_num(d["rarefied"][m], 2) for m in depths]
        rows.append(r)
    print(text_table(rows, head))
    asym = [(s, d["asymptotic"]) for s, d in res.items() if d.get("asymptotic")]
    if asym:
        print("\nestimated for the whole community (Chao et al. 2014; observed -> estimated, 95% bootstrap interval):")
        arows = []
        for s, e in asym:
            arows.append([s] + [f"{e[k]['observed']:.2f} -> " + ("n/a" if e[k]["estimate"] is None else f"{e[k]['estimate']:.2f}")
                                + (f" ({e[k]['lower']:.1f}-{e[k]['upper']:.1f})" if e[k]["lower"] is not None else "")
                                for k in ("q0", "q1", "q2")])
        print(text_table(arows, ["sample", "taxa (q0)", "Shannon diversity (q1)", "Simpson diversity (q2)"]))
    notes = [f"{s}: {why}" for s, d in res.items() for k, why in d["undefined"].items()]
    if notes:
        print("\nnot defined:\n  " + "\n  ".join(notes))
    if table.points:
        print("\n" + textwrap.fill(f"note: {POINTS_NOTE}.", 100))
    legend = ("Shannon H' = -sum p ln p; Gini-Simpson = 1 - sum p^2; Hill q1 = exp(H'), Hill q2 = 1 / sum p^2 "
              "(effective numbers of taxa); evenness J' = H' / ln(taxa); p: a taxon's share of the points"
              if table.points else DIVERSITY_LEGEND)
    print("\n" + textwrap.fill(legend, 100))
    if acc is not None and len(acc["samples"]) > 1:
        print("taxa found as samples are added (mean over random orders): "
              + ", ".join(f"{k} {'sample' if k == 1 else 'samples'} {r:.1f}" for k, r in zip(acc["samples"], acc["richness"])))
    return 0


def _correct(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks
    from benthos.ecology.tables import text_table, write_csv

    res = tasks.correct(a.predictions, a.evaluation, a.by, a.metadata, tuple(a.method), a.bootstrap, a.seed, a.min_score)
    rows = [r for c in res.corrections for r in c.rows()]
    if a.out:
        write_csv(a.out, rows, list(rows[0].keys()))
    _say(res.counted.note, a.json)
    if a.json:
        _warn(res.warnings)
        print(_dumps({"corrections": {c.sample: c.to_dict() for c in res.corrections}, "warnings": res.warnings,
                      "threshold": res.counted.threshold.to_dict() if res.counted.threshold else None}))
        return 0
    for c in res.corrections:
        methods = list(c.corrected)
        points = c.points
        digits = 1
        print(f"\n[{c.sample}] {c.n} {'points: percent cover' if points else 'predictions: counts'}, naive and corrected "
              "(95% bootstrap interval)")
        head = ["taxon", "naive"] + [f"{m}" for m in methods] + (["annotated"] if c.annotated is not None else [])
        table = []
        for r in c.rows():
            line = [r["taxon"], _num(r["naive"], digits) if points else r["naive"]]
            for m in methods:
                ci = f" ({r[m + '_lower']:.{digits}f}-{r[m + '_upper']:.{digits}f})" if r.get(m + "_lower") is not None else ""
                line.append(f"{r[m]:.{digits}f}{ci}")
            if c.annotated is not None:
                line.append(_num(r["annotated"], digits))
            table.append(line)
        print(text_table(table, head))
        figs = ("richness", "hill_q1", "hill_q2")
        names = {"richness": "taxa", "hill_q1": "Hill q1 (exp Shannon)", "hill_q2": "Hill q2 (inverse Simpson)"}
        drows = []
        for fig in figs:
            line = [names[fig]]
            for m, v in c.diversity.items():
                line.append(f"{v[fig]['value']:.2f}" + (f" ({v[fig]['lower']:.2f}-{v[fig]['upper']:.2f})" if "lower" in v[fig] else ""))
            drows.append(line)
        print(text_table(drows, ["diversity", *c.diversity]))
    print("\n" + textwrap.fill("acc: adjusted classify-and-count (inverts the held-out confusion matrix); em: Saerens "
                               "et al. (2002) prior-shift EM on the softmax. Intervals resample the predictions and the "
                               "held-out examples behind the matrix.", 100))
    if res.evaluation.path:
        print(f"held-out errors from {res.evaluation.path}" + (f" ({res.evaluation.data})" if res.evaluation.data else ""))
    _warn(res.warnings)
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
    from benthos.ecology.tables import write_csv

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

    res = tasks.darwincore(a.predictions, a.out, a.by, a.metadata, a.taxonomy, a.model, a.min_score, tuple(a.exclude),
                           a.title, a.creator, a.licence, a.media_base, a.media_url)
    _say(res["counted"].note)
    print(f"{res['n']} occurrences -> {res['path']}")
    if res["unnamed"]:
        print(f"{len(res['unnamed'])} labels have no scientific name (no --taxonomy row naming them), exported as "
              f"verbatimIdentification with scientificName empty: {', '.join(res['unnamed'])}")
        _warn(["OBIS and GBIF reject occurrences without a scientificName: give --taxonomy with a WoRMS name for each "
               "taxon, and no ranks for substrates"])
    _warn(res["warnings"])
    return 0


def _report(a: argparse.Namespace) -> int:
    from benthos.ecology import tasks

    path, note = tasks.report(a.predictions, a.out, a.by, a.metadata, a.evaluation, a.calibrate, a.score, a.bootstrap,
                              a.seed, a.min_score)
    _say(note)
    print(f"report -> {path}")
    return 0
