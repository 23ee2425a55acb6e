"""Counting benchmark: are the animals `benthos detect predict` counts close to the animals annotated?

    nice -n 10 python benchmarks/bench_counts.py /work/shared/data/aquarium_train/annotations.json \
        --out .bench/counts_aquarium --max-minutes 15
    nice -n 10 python benchmarks/bench_counts.py /work/shared/data/noaa_brittlestar_det/annotations.json \
        --out .bench/counts_brittle --group-pattern '/(\\d\\d)[_-]\\d\\d[_-]\\d\\d[_-]\\d\\d'

The annotated photos are split (seeded; whole groups with --group-pattern) into a development part
and a held-out test part (--test-fraction). A detector is trained by the CLI, with every default
(and the stated --max-minutes), on the development part only: its own validation split, inside it,
is where the counting threshold is fitted. `benthos detect predict` then counts the test photos,
which neither training nor the threshold saw, and the counts are compared with their annotations:
total and per class (relative error), and the mean absolute error per photo. Beside the default
(the fitted threshold) the script counts the same boxes at fixed thresholds, at the F1-optimal one,
and by the expected count (calibrated scores summed), to show which is closer to the truth.
Everything it writes goes under --out; the data set is read, never copied.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np


def split_coco(ann: Path, out: Path, test_fraction: float, seed: int, pattern: str | None) -> tuple[Path, Path, dict]:
    """Write dev.json and test.json (file names as in ``ann``; OUT/images links to the photos) and return
    them with the split's record (the same every time for the same arguments)."""
    import re

    doc = json.loads(ann.read_text(encoding="utf-8"))
    groups: dict[str, list[dict]] = {}
    rx = re.compile(pattern) if pattern else None
    for im in doc["images"]:
        m = rx.search("/" + im["file_name"]) if rx else None  # as the path of the photo, which detect train reads
        key = (m.group(1) if m and rx.groups else m.group(0)) if m else f"\0{im['id']}"
        groups.setdefault(key, []).append(im)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target, test = round(len(doc["images"]) * test_fraction), []
    for k in keys:
        if len(test) >= target:
            break
        test += groups[k]
    test_ids = {im["id"] for im in test}
    parts = {}
    for name, keep in (("dev", lambda i: i not in test_ids), ("test", lambda i: i in test_ids)):
        ims = [im for im in doc["images"] if keep(im["id"])]
        anns = [a for a in doc["annotations"] if keep(a["image_id"])]
        path = out / f"{name}.json"
        path.write_text(json.dumps({**doc, "images": ims, "annotations": anns}))
        parts[name] = (path, ims, anns)
    record = {"seed": seed, "test_fraction": test_fraction, "group_pattern": pattern,
              "dev_images": len(parts["dev"][1]), "test_images": len(parts["test"][1]),
              "test_groups": len({k for k in keys if groups[k][0]["id"] in test_ids})}
    return parts["dev"][0], parts["test"][0], record


def benthos(*args: str) -> None:
    cmd = [sys.executable, "-m", "benthos", *args]
    print("$ benthos " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def refit(run: Path, dev: Path) -> None:
    """The counting threshold fitted again on the run's validation images by today's code, as `detect
    train` fits it, recorded in run.json (the weights and everything else unchanged)."""
    from benthos.data.detection import read_detection
    from benthos.detect.build import load_detector
    from benthos.detect.counting import fit_count_threshold, run_threshold
    from benthos.detect.inference import score_records
    from benthos.detect.splits import run_split
    from benthos.runs.run import read_meta, write_meta

    meta = read_meta(run, kind="detector")
    model, _ = load_detector(run)
    val = run_split(run, read_detection(dev), "val")
    _, preds, val = score_records(model, val)
    meta["count_threshold"] = fit_count_threshold(val, preds, floor=meta["config"]["score_thresh"])
    write_meta(run, meta)
    print("refitted: " + run_threshold(meta).describe(), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("annotations", type=Path, help="COCO annotations.json (images/ beside it)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-minutes", type=float, help="training budget (default: the detector's own epochs)")
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--group-pattern", help="regex on image paths naming each photo's dive/video (held out whole)")
    ap.add_argument("--run", type=Path, help="an existing run trained on OUT/dev.json (skip training), e.g. the one "
                                             "benchmarks/bench_lineage.py trained on it")
    ap.add_argument("--refit", action="store_true", help="fit the run's counting threshold again with today's rule "
                    "(on its own validation images, as training does) and record it in its run.json first")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    dev, test, record = split_coco(a.annotations.resolve(), a.out, a.test_fraction, a.seed, a.group_pattern)
    images = (a.annotations.parent / "images").resolve()
    if not (a.out / "images").exists():  # dev.json and test.json find their photos beside them (a link, not a copy)
        os.symlink(images, a.out / "images")
    run = a.run or a.out / "run"
    if not (run / "run.json").is_file():
        extra = ["--max-minutes", str(a.max_minutes)] if a.max_minutes else []
        extra += ["--group-pattern", a.group_pattern] if a.group_pattern else []
        benthos("detect", "train", str(dev), "--out", str(run), "--seed", str(a.seed), *extra)
    if a.refit:
        refit(run, dev)
    info = json.loads((run / "run.json").read_text())
    classes = info["classes"]
    test_doc = json.loads(test.read_text())
    folder = a.out / "test_images"  # links to the test photos: `detect predict` takes a folder
    folder.mkdir(exist_ok=True)
    for im in test_doc["images"]:
        link = folder / Path(im["file_name"]).name
        if not link.exists():
            os.symlink(images / im["file_name"], link)
    preds = a.out / "predictions"
    if not (preds / "detections.csv").is_file():
        benthos("detect", "predict", str(run), str(folder), "--out", str(preds))

    # the truth, per photo and class
    names = {c["id"]: c["name"] for c in test_doc["categories"]}
    by_id = {im["id"]: Path(im["file_name"]).name for im in test_doc["images"]}
    truth: dict[str, Counter] = {name: Counter() for name in by_id.values()}
    for ann in test_doc["annotations"]:
        truth[by_id[ann["image_id"]]][names[ann["category_id"]]] += 1
    # the boxes, per photo: (class, score)
    import csv

    boxes: dict[str, list[tuple[str, float]]] = {name: [] for name in truth}
    for row in csv.DictReader(open(preds / "detections.csv", newline="")):
        boxes[Path(row["image"]).name].append((row["label"], float(row["score"])))
    fitted = info.get("count_threshold") or {}
    from benthos.detect.counting import CountThreshold, expected_count, run_threshold

    methods: dict[str, callable] = {}
    default = run_threshold(info, str(run))
    methods[f"fitted threshold (default): {default.describe()}"] = \
        lambda bs: Counter(c for c, s in bs if s >= default.of(c))
    if fitted.get("f1_optimal"):
        f1 = fitted["f1_optimal"]
        f1t = CountThreshold(f1["default"], f1.get("per_class") or {}, "record", "F1-optimal on the validation images")
        methods[f"F1-optimal threshold: {f1t.describe()}"] = lambda bs: Counter(c for c, s in bs if s >= f1t.of(c))
    for t in (0.3, 0.5, 0.7):
        methods[f"fixed score >= {t}"] = lambda bs, t=t: Counter(c for c, s in bs if s >= t)
    if fitted.get("score_calibration"):
        cal, ceiling = fitted["score_calibration"], fitted.get("recall_ceiling")
        methods["expected count (calibrated scores / recall ceiling)"] = lambda bs: Counter(
            {c: expected_count(np.array([s for k, s in bs if k == c]), cal, ceiling)[0] for c in classes})

    annotated = sum((truth[p] for p in truth), Counter())
    print(f"\n{record['test_images']} held-out test photos ({record['test_groups']} groups), "
          f"{sum(annotated.values())} annotated animals; detector {info['architecture']}, "
          f"trained {info['train_seconds'] / 60:.1f} min, val AP50 {info['metrics'].get('AP50', float('nan')):.3f}; "
          f"{platform.node()}, {os.cpu_count()} CPUs\n")
    results = []
    for label, count in methods.items():
        per_photo = {p: count(bs) for p, bs in boxes.items()}
        total = sum((per_photo[p] for p in truth), Counter())
        n, gt = sum(total.values()), sum(annotated.values())
        mae = float(np.mean([abs(sum(per_photo[p].values()) - sum(truth[p].values())) for p in truth]))
        per_class = {c: {"counted": round(total[c], 1), "annotated": annotated[c],
                         "error": (total[c] - annotated[c]) / annotated[c] if annotated[c] else None} for c in classes}
        big = [c for c in classes if annotated[c] >= 30]
        ok = abs(n - gt) <= 0.15 * gt and all(abs(per_class[c]["error"]) <= 0.25 for c in big)
        results.append({"method": label, "counted": round(n, 1), "annotated": gt, "error": (n - gt) / gt if gt else None,
                        "mae_per_photo": mae, "per_class": per_class, "meets_goal": ok})
        print(f"{label}\n  total {n:.0f} vs {gt} annotated ({(n - gt) / gt:+.1%}); mean abs error per photo {mae:.2f}; "
              f"goal (total +-15%, classes with >= 30 animals +-25%): {'met' if ok else 'not met'}")
        print("  " + "; ".join(f"{c} {per_class[c]['counted']:.0f}/{annotated[c]}"
                               + (f" ({per_class[c]['error']:+.0%})" if per_class[c]['error'] is not None else "")
                               for c in classes))
    (a.out / "results.json").write_text(json.dumps({"split": record, "run": str(run), "fitted": fitted,
                                                     "results": results}, indent=2))
    print(f"\nwrote {a.out / 'results.json'}")


if __name__ == "__main__":
    main()
