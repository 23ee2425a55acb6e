"""HTML report of a detector: KPIs, per-class and by-size AP, PR curves, detections drawn on images."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benthos.data.detection import DetectionData
from benthos.report import html as H
from benthos.runs.atomic import atomic_write_json

COLOURS = {"tp": (40, 200, 80), "fp": (230, 40, 40), "miss": (255, 200, 0)}


def draw_detections(record, pred: dict, categories: list[str], score_thresh=0.3, iou: float = 0.5):
    """PIL image with true positives (green), false positives (red) and misses (yellow): the boxes at or
    above ``score_thresh`` (a score, or a :class:`~benthos.runs.threshold.CountThreshold`, per class)."""
    from PIL import ImageDraw

    from benthos.data.images import load_image
    from benthos.detect.evaluate import match_detections

    im = load_image(record.image_path)
    if hasattr(score_thresh, "keep"):
        keep = score_thresh.keep([categories[int(k)] for k in pred["labels"]], pred["scores"])
    else:
        keep = pred["scores"] >= score_thresh
    boxes, labels, scores = pred["boxes"][keep], pred["labels"][keep], pred["scores"][keep]
    tp, hit = match_detections(record.boxes, record.labels, boxes, labels, scores, iou)
    d = ImageDraw.Draw(im)
    lw = max(1, round(max(im.size) / 320))
    for b, ok in zip(boxes.tolist(), tp):
        d.rectangle(b, outline=COLOURS["tp" if ok else "fp"], width=lw)
    for b, h in zip(record.boxes.tolist(), hit):
        if not h:
            d.rectangle(b, outline=COLOURS["miss"], width=lw)
    return im, {"tp": int(tp.sum()), "fp": int((~tp).sum()), "miss": int((~hit).sum())}


def _pr_figure(curves: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, c in curves.items():
        ax.plot(c["recall"], c["precision"], label=name)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="PR at IoU 0.5")
    ax.legend(fontsize=8)
    return H.figure_png(fig, "precision-recall curves")


def _unreadable_note(metrics: dict) -> str:
    paths = metrics.get("images_unreadable") or []
    if not paths:
        return ""
    names = ", ".join(H.esc(Path(p).name) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return (f'<p class="note"><b>{len(paths)} image(s) could not be read and are not scored</b>: {names} '
            "(full paths in evaluation.json).</p>")


def write_evaluation(target: str | os.PathLike, info: dict, metrics: dict, data: DetectionData,
                     preds: dict[int, dict], report: bool = True) -> Path:
    """An evaluation file (``metrics``, with pr_curves; ``target`` is its path, or a run folder for its own
    ``evaluation.json``) and, with ``report``, the report beside it (``runs.run.report_path``), drawn from the
    predictions ``preds`` on ``data``: written by both ``detect train`` and ``detect evaluate``."""
    from benthos.runs.atomic import json_safe
    from benthos.runs.run import EVALUATION, report_path

    target = Path(target)
    if target.is_dir() or target.suffix != ".json":
        target = target / EVALUATION
    atomic_write_json(target, json_safe(metrics))
    if report:
        write_detection_report(report_path(target), info, metrics, data, preds)
    return target


def _split_words(metrics: dict) -> str:
    split, where = metrics.get("split", "val"), metrics.get("data")
    if split == "val":
        return "the run's held-out images" + (f" in {where}" if where else "")
    return f"every image of {where}" if where else "every image"


def _postprocess_note(metrics: dict) -> str:
    """How the boxes were merged, when not by plain NMS on one view."""
    said = ["mirror TTA"] if metrics.get("tta") not in (None, False, "none") else []
    if metrics.get("box_vote"):
        said.append(f"box voting at IoU {metrics['box_vote']:g}")
    return "; " + ", ".join(said) if said else ""


def _counts_section(info: dict, data: DetectionData, preds: dict[int, dict]) -> str:
    """Predicted against annotated counts per image at the run's counting threshold."""
    from benthos.detect.counting import count_table, run_threshold

    threshold = run_threshold(info)
    rows = count_table(data, preds, threshold)
    if not rows:
        return ""
    annotated, counted = sum(r["annotated"] for r in rows), sum(r["counted"] for r in rows)
    mae = sum(abs(r["error"]) for r in rows) / len(rows)
    rel = f" ({(counted - annotated) / annotated:+.0%})" if annotated else ""
    fitted = info.get("count_threshold") or {}
    f1 = (fitted.get("f1_optimal") or {}).get("default")
    note = (f'<p class="note">Animals counted: {H.esc(threshold.describe())}'
            + (f"; the F1-optimal threshold would be {f1:.3g}" if f1 is not None else "")
            + ". `benthos detect predict` and `benthos ecology` count with the same threshold unless given "
            "--min-score.</p>")
    summary = H.kpis({"annotated animals": annotated, "counted": counted, "mean abs. error per image": mae}, digits=2)
    detail = ("<details><summary>per image</summary>" + H.table(rows, ["image", "annotated", "counted", "error"])
              + "</details>")
    return H.section("Counts", summary + f'<p class="note">total counted{H.esc(rel)} against annotated.</p>'
                     + note + detail)


def write_detection_report(path: str | os.PathLike, info: dict, metrics: dict, data: DetectionData,
                           preds: dict[int, dict], n_gallery: int = 12, score_thresh=None) -> Path:
    """The detector's page. The gallery draws the boxes that are counted: at ``score_thresh`` (a score or a
    CountThreshold), by default the run's counting threshold."""
    from benthos.detect.counting import run_threshold

    cats = data.categories
    score_thresh = run_threshold(info) if score_thresh is None else score_thresh
    arch = info.get("architecture") or info.get("detector")
    size = info.get("input_size") or info.get("image_size")
    sections = [H.section("Summary", H.kpis({k: metrics.get(k, float("nan")) for k in ("mAP", "AP50", "AP75")}
                                             | {"images": metrics.get("images", 0)}) +
                          f'<p class="note">detector {H.esc(arch)}, input {size} px,'
                          f' trained {info.get("train_seconds", "?")} s; images: {H.esc(_split_words(metrics))}'
                          f"{_postprocess_note(metrics)}; COCO metrics by pycocotools.</p>" + _unreadable_note(metrics))]
    rows = [{"class": c, **{k: v for k, v in m.items()}} for c, m in metrics.get("per_class", {}).items()]
    sections.append(H.section("Per class", H.table(rows, ["class", "AP", "AP50", "AP75", "gt"]) +
                              '<p class="note">gt: annotated boxes in the evaluated images. \u2014: not defined '
                              "(no boxes of that class, or of that size, there).</p>"))
    sections.append(H.section("AP by object size (COCO: small < 32², medium < 96² px)",
                              H.table([{k: metrics.get(k, float("nan")) for k in ("AP_small", "AP_medium", "AP_large")}])))
    if metrics.get("pr_curves"):
        sections.append(H.section("Precision-recall", _pr_figure(metrics["pr_curves"])))
    # gallery: the frames with the most mistakes first, then the best
    scored = []
    empty = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, int)}
    for r in data.records:
        p = preds.get(r.image_id, empty)
        scored.append((r, p))
    items = []
    drawn = []
    for r, p in scored[: max(n_gallery * 3, n_gallery)]:
        im, c = draw_detections(r, p, cats, score_thresh)
        drawn.append((c["fp"] + c["miss"], r, im, c))
    drawn.sort(key=lambda t: -t[0])
    picks = drawn[: n_gallery // 2] + drawn[-(n_gallery - n_gallery // 2):] if len(drawn) > n_gallery else drawn
    for _, r, im, c in picks:
        uri = H.thumbnail(im, size=480)
        cap = f"{r.image_path.name}: {c['tp']} TP, {c['fp']} FP, {c['miss']} missed"
        items.append(f'<figure style="width:320px;margin:0"><img src="{uri}" style="width:320px" '
                     f'alt="{H.esc(cap)}"><figcaption>{H.esc(cap)}</figcaption></figure>')
    shown = (f"the boxes counted: {score_thresh.describe(cats)}" if hasattr(score_thresh, "describe")
             else f"score >= {score_thresh}")
    legend = ('<p class="note">green: true positive, red: false positive, yellow: missed (IoU 0.5; '
              f'{H.esc(shown)})</p>')
    sections.append(H.section("Detections", legend + '<div class="gallery">' + "".join(items) + "</div>"))
    counts = _counts_section(info, data, preds)
    if counts:
        sections.insert(1, counts)
    return H.write_page(path, f"Detector report: {arch}", sections,
                        subtitle=", ".join(cats))
