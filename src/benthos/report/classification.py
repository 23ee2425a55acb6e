"""The classification report: one self-contained HTML page for a run folder.

Everything is embedded (plots as PNG data URIs, thumbnails as JPEG data URIs, inline CSS),
so the file can be mailed or archived and opened offline. It reads ``run.json`` and
tolerates any key being absent: a half-finished or hand-made run still gets a report.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benthos.errors import DataError
from benthos.report import plots
from benthos.report.html import figure_png, fmt, gallery, kpis, kv_table, section, table, thumbnail, write_page

MAX_MISTAKES = 30
DASH = "\u2014"  # shown for undefined values (None), e.g. precision of a never-predicted class


def write_report(
    run_dir: str | os.PathLike,
    evaluation: dict | None = None,
    mistakes: list[dict] | None = None,
    extra_sections: list[str] | None = None,
    path: str | os.PathLike | None = None,
) -> Path:
    """Write ``run_dir/report.html`` (or ``path``: the report of an evaluation on other data) and return its path.

    ``evaluation``: a dict from :func:`benthos.evaluate.classification_metrics` (defaults to
    ``run_dir/evaluation.json`` if present). ``mistakes``: dicts with ``path``, ``true``,
    ``pred``, ``score`` and optional ``box`` (x0, y0, x1, y1); the most confident are shown
    (defaults to the list ``evaluate`` keeps in the evaluation).
    ``extra_sections``: HTML strings appended as they are (e.g. from ``html.section``).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run folder {run_dir} not found; pass the folder that holds run.json")
    run = _read_json(run_dir / "run.json")
    if evaluation is None:
        evaluation = _read_json(run_dir / "evaluation.json") or None
    if mistakes is None and evaluation:
        mistakes = evaluation.get("mistakes")
    sections = [
        section("Summary", _summary(run, evaluation), anchor="summary"),
        section("Learning curves", _member_curves(run["member_histories"]) if run.get("member_histories")
                else _curves(run.get("history")), anchor="curves"),
    ]
    if evaluation and evaluation.get("confusion_matrix"):
        sections += [
            section("Confusion matrix", _confusion(evaluation), anchor="confusion"),
            section("Per-class scores", _per_class(evaluation), anchor="per-class"),
        ]
    else:
        sections.append(section("Evaluation", '<p class="note">No evaluation yet: run <code>benthos evaluate</code> '
                                "to add the confusion matrix, per-class scores and calibration.</p>", anchor="evaluation"))
    if mistakes:
        sections.append(section("Most confident mistakes", _mistakes(mistakes), anchor="mistakes"))
    if evaluation and evaluation.get("reliability"):
        sections.append(section("Calibration", _calibration(evaluation), anchor="calibration"))
    sections += list(extra_sections or [])
    arch = run.get("architecture") or "unknown model"
    return write_page(Path(path) if path else run_dir / "report.html", f"Classification report: {run_dir.name}", sections,
                      subtitle=f"{arch} \u00b7 {len(run.get('classes') or [])} classes")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level, found {type(data).__name__}")
    return data


def _summary(run: dict, ev: dict | None) -> str:
    metrics = ev or run.get("metrics") or {}
    key = {name: metrics.get(k) for name, k in [("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                                                 ("macro F1", "macro_f1"), ("ECE", "ece"), ("samples", "n")]}
    for k, v in (metrics.get("top_k") or {}).items():
        if k != "top1":
            key[f"top-{k[3:]} accuracy"] = v
    key = {k: v for k, v in key.items() if isinstance(v, (int, float))}
    head = kpis(key) if key else '<p class="note">No metrics recorded.</p>'
    classes = run.get("classes") or (ev or {}).get("classes") or []
    config = run.get("config") or {}
    rows = [
        ("model", run.get("architecture")),
        ("classes", f"{len(classes)}: {_clip(', '.join(map(str, classes)))}" if classes else None),
        ("data", _describe({k: v for k, v in (run.get("data") or {}).items()
                            if k not in ("unreadable_during_training", "n_unreadable_during_training")})),
        ("strategy", _describe(_find(config, "strategy"))),
        *([("ensemble", f"{len(run['members'])} members, each validated on its own fold; their logits averaged")]
          if run.get("members") else []),
        ("epochs", " + ".join(str(len(h)) for h in run["member_histories"]) if run.get("member_histories")
         else len(run["history"]) if run.get("history") else None),
        ("duration", _duration(run.get("duration_s"))),
        *([("trained on", on)] if (on := _trained_on(run.get("timings"))) else []),
        ("preprocessing", _describe(run.get("preprocessing"))),
        ("test-time views", {"dihedral": "8 (4 rotations x mirror), logits averaged", "flip": "2 (image and mirror)",
                             "none": "1"}.get((ev or {}).get("tta") or run.get("tta"))),
        ("versions", _describe(run.get("versions"))),
    ]
    data = run.get("data") or {}
    if data.get("n_unreadable_during_training"):
        rows.append(("images unreadable during training (a blank stood in for each)",
                     f"{data['n_unreadable_during_training']}: {_clip('; '.join(data.get('unreadable_during_training', [])))}"))
    if ev and ev.get("n_unknown"):
        rows.append(("labels unknown to the model (left out)", _describe(ev.get("unknown_labels"))))
    return head + kv_table((k, v if v != "" else None) for k, v in rows)


def _trained_on(timings: Any) -> str:
    """'cuda:0 bf16-mixed' from a run's timings (runs before 2026-12-04 did not record it)."""
    if not isinstance(timings, dict):
        return ""
    return " ".join(str(timings[k]) for k in ("device", "precision") if timings.get(k))


def _member_curves(histories: list) -> str:
    """An ensemble's curves, one pair per member (each early-stops on its own validation fold)."""
    n = len(histories)
    return "".join(f"<h3>Member {i + 1} of {n}</h3>" + _curves(h) for i, h in enumerate(histories))


def _curves(history: Any) -> str:
    fig = plots.learning_curves(history) if isinstance(history, list) and history else None
    if fig is None:
        return '<p class="note">No training history in run.json (no epochs recorded), so no learning curves.</p>'
    return figure_png(fig, alt="learning curves")


def _confusion(ev: dict) -> str:
    classes = ev.get("classes") or [str(i) for i in range(len(ev["confusion_matrix"]))]
    note = ('<p class="note">Rows: true class (number of samples); columns: predicted class. '
            "Each cell is the percentage of the true class predicted as that column; the diagonal is recall.</p>")
    return note + figure_png(plots.confusion_heatmap(ev["confusion_matrix"], classes), alt="confusion matrix")


def _per_class(ev: dict) -> str:
    cm, classes = ev["confusion_matrix"], ev.get("classes") or []
    rows = []
    for i, name in enumerate(classes):
        scores = (ev.get("per_class") or {}).get(name, {})
        row = {"class": name, **{k: scores.get(k) for k in ("precision", "recall", "f1", "support")}}
        # the class it is most often mistaken for is what a taxonomist wants to look at next
        off = [(n, j) for j, n in enumerate(cm[i]) if j != i and n]
        n_off, j = max(off) if off else (0, None)
        row["most confused with"] = f"{classes[j]} ({n_off})" if j is not None else ""
        rows.append({k: DASH if v is None else v for k, v in row.items()})
    note = '<p class="note">\u2014 = undefined (class never predicted, or no samples of it in the evaluation set).</p>'
    return table(rows) + note


def _mistakes(mistakes: Sequence[Mapping]) -> str:
    worst = sorted(mistakes, key=lambda m: -float(m.get("score") or 0.0))[:MAX_MISTAKES]
    items, failed = [], 0
    for m in worst:
        try:
            uri = thumbnail(_crop(m["path"], m.get("box")))
        except (OSError, ValueError, KeyError):  # a moved or broken image must not sink the report
            failed += 1
            continue
        items.append((uri, f"{m.get('true')} \u2192 {m.get('pred')} ({fmt(float(m.get('score') or 0.0), 2)})"))
    note = (f"<p class=\"note\">The {len(worst)} most confident wrong predictions of {len(mistakes)}: "
            "true \u2192 predicted (confidence).")
    if failed:
        note += f" {failed} image(s) could not be read and are left out."
    return note + "</p>" + gallery(items)


def _crop(path: str | os.PathLike, box: Sequence[float] | None) -> Any:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        if box is None:
            return im
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty box {box}")
        # pad with grey where the box runs past the image (points near the edge)
        out = Image.new("RGB", (x1 - x0, y1 - y0), (128, 128, 128))
        region = im.crop((max(x0, 0), max(y0, 0), min(x1, im.width), min(y1, im.height)))
        out.paste(region, (max(-x0, 0), max(-y0, 0)))
        return out


def _calibration(ev: dict) -> str:
    ece = ev.get("ece")
    note = ('<p class="note">Top-1 confidence against accuracy in equal-width bins. Bars below the diagonal: '
            "the model is over-confident there. ECE is the sample-weighted mean gap.</p>")
    t = ev.get("temperature")
    calibrated = ev["calibrated"] if "calibrated" in ev else bool(t and abs(float(t) - 1.0) > 1e-6)  # older runs
    if calibrated:
        note += (f'<p class="note">Probabilities are temperature-scaled: logits divided by T = {float(t):.3f}, '
                 "fitted on the validation split after training (predictions unchanged, confidences "
                 f"{'sharpened' if float(t) < 1 else 'softened' if float(t) > 1 else 'unchanged at T = 1'}).</p>")
    else:
        note += ('<p class="note">Probabilities are not temperature-scaled: the run had no validation split to '
                 "fit a temperature on (<code>--val-fraction 0</code>) or calibration was turned off.</p>")
    return note + figure_png(plots.reliability_diagram(ev["reliability"], ece), alt="reliability diagram")


def _find(d: Any, key: str) -> Any:
    """First value under ``key`` anywhere in nested dicts (configs nest strategy differently)."""
    if isinstance(d, Mapping):
        if key in d:
            return d[key]
        for v in d.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _describe(value: Any) -> str | None:
    if value is None or value == {} or value == []:
        return None
    if isinstance(value, Mapping):
        return _clip(", ".join(f"{k}: {_describe(v) or DASH}" for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return _clip(", ".join(fmt(v) for v in value))
    return fmt(value)


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _duration(seconds: Any) -> str | None:
    if not isinstance(seconds, (int, float)):
        return None
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{seconds:.1f} s"
