"""HTML report of a detector: KPIs, per-class and by-size AP, PR curves, detections drawn on images."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benthos.data.detection import DetectionData
from benthos.report import html as H
from benthos.runs.atomic import atomic_write_json

COLOURS = {"tp": (40, 200, 80), "fp": (230, 40, 40), "miss": (255, 200, 0)}


def draw_detections(record, pred: dict, categories: list[str], score_thresh: float = 0.3, iou: float = 0.5):
    """PIL image with true positives (green), false positives (red) and misses (yellow)."""
    from PIL import ImageDraw

    from benthos.data.images import load_image
    from benthos.detect.evaluate import match_detections

    im = load_image(record.image_path)
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


def write_evaluation(run: str | os.PathLike, info: dict, metrics: dict, data: DetectionData, preds: dict[int, dict],
                     report: bool = True) -> None:
    """A run's ``evaluation.json`` (``metrics``, with pr_curves) and, with ``report``, its ``report.html``
    (from the predictions ``preds`` on ``data``): written by both ``detect train`` and ``detect evaluate``."""
    run = Path(run)
    atomic_write_json(run / "evaluation.json", metrics)
    if report:
        write_detection_report(run / "report.html", info, metrics, data, preds)


def _postprocess_note(metrics: dict) -> str:
    """How the boxes were merged, when not by plain NMS on one view (evaluations record it since 2026-12-06)."""
    said = ["mirror TTA"] if metrics.get("tta") else []
    if metrics.get("box_vote"):
        said.append(f"box voting at IoU {metrics['box_vote']:g}")
    return "; " + ", ".join(said) if said else ""


def write_detection_report(path: str | os.PathLike, info: dict, metrics: dict, data: DetectionData,
                           preds: dict[int, dict], n_gallery: int = 12, score_thresh: float = 0.3) -> Path:
    cats = data.categories
    sections = [H.section("Summary", H.kpis({k: metrics.get(k, float("nan")) for k in ("mAP", "AP50", "AP75")}
                                             | {"images": metrics.get("images", 0)}) +
                          f'<p class="note">detector {H.esc(info.get("detector"))}, input {info.get("image_size")} px,'
                          f' trained {info.get("train_seconds", "?")} s; split: {H.esc(metrics.get("split", "val"))}'
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
    legend = ('<p class="note">green: true positive, red: false positive, yellow: missed (IoU 0.5, '
              f'score &ge; {score_thresh})</p>')
    sections.append(H.section("Detections", legend + '<div class="gallery">' + "".join(items) + "</div>"))
    return H.write_page(path, f"Detector report: {info.get('detector')}", sections,
                        subtitle=", ".join(cats))
