"""Whole jobs, one function each (pyspacer style: a request in, a result out). The CLI calls
these; they join the subsystems (train -> evaluate -> report, predict -> CSV)."""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import BenthosError
from benthos.runs.atomic import atomic_write_json, atomic_write_text

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}


def temperature_of(meta: dict) -> float:
    """The run's fitted softmax temperature (1.0 for runs without calibration)."""
    return float((meta.get("calibration") or {}).get("temperature", 1.0))


def evaluate_run(run_dir: str | os.PathLike, data: str | None = None, format: str | None = None,
                 images: str | None = None, split: str = "test", write: bool = True) -> dict[str, Any]:
    """Evaluate a run on DATA (labels matched by name), or on its own held-out split.

    Writes ``evaluation.json`` (metrics + confusion matrix, used by ecology corrections) and
    refreshes ``report.html`` in the run folder.
    """
    from benthos.data import load_classification, load_split
    from benthos.evaluate import evaluate_by_name
    from benthos.infer import predict_samples
    from benthos.runs import load_run

    run_dir = Path(run_dir)
    model, meta = load_run(run_dir)
    if data:
        ds = load_classification(data, format=format, images=images)
        samples, source = ds.samples, str(data)
    else:
        splits = load_split(run_dir / "split.json")
        samples = splits.get(split) or splits.get("val") or []
        source = f"the run's held-out '{split}' split"
    if not samples:
        raise BenthosError(f"nothing to evaluate in {source}: no labelled images")
    temperature = temperature_of(meta)
    probs, logits = predict_samples(model, samples, meta["preprocessing"], tta=meta.get("tta", "none"),
                                    temperature=temperature)
    ev = evaluate_by_name([s.label for s in samples], probs, meta["classes"])
    ev["data"] = source
    ev["tta"] = meta.get("tta", "none")
    ev["temperature"] = temperature
    ev["calibrated"] = bool(meta.get("calibration"))  # a fitted T can be 1.0; absent T means not calibrated
    counts = meta.get("data", {}).get("counts", {})
    total = sum(counts.values()) or 1
    ev["train_priors"] = [counts.get(c, 0) / total for c in meta["classes"]]
    mistakes = _mistakes(samples, probs, meta["classes"])
    ev["mistakes"] = mistakes  # kept so a later `benthos report` can redraw the gallery
    if write:
        atomic_write_json(run_dir / "evaluation.json", ev)
        from benthos.report.classification import write_report

        write_report(run_dir, ev, mistakes)
    return ev


def _mistakes(samples, probs: np.ndarray, classes: list[str], limit: int = 30) -> list[dict]:
    idx = {c: i for i, c in enumerate(classes)}
    pred = probs.argmax(1)
    wrong = [i for i, s in enumerate(samples) if s.label in idx and pred[i] != idx[s.label]]
    wrong.sort(key=lambda i: -probs[i, pred[i]])
    return [{"path": str(samples[i].path), "true": samples[i].label, "pred": classes[pred[i]],
             "score": float(probs[i, pred[i]]), "box": list(samples[i].box) if samples[i].box else None}
            for i in wrong[:limit]]


def find_images(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files among ``paths``; folders are searched recursively."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTS and f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise BenthosError(f"{p}: no such file or folder")
    if not out:
        raise BenthosError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) found in {', '.join(map(str, paths))}")
    return out


def predict(run_dir: str | os.PathLike, inputs: Sequence[str], out: str | os.PathLike, top_k: int = 3,
            batch_size: int = 32) -> dict[str, Any]:
    """Write a predictions CSV: image, top-k labels/scores, prob:<class> for all classes, energy."""
    import torch

    from benthos.data import Sample, check_image
    from benthos.infer import predict_samples
    from benthos.runs import load_run

    model, meta = load_run(run_dir)
    classes = meta["classes"]
    files = find_images(inputs)
    good, skipped = [], []
    for f in files:
        try:
            check_image(f)
            good.append(f)
        except BenthosError as exc:
            skipped.append(f"{f}: {exc}")
    if not good:
        raise BenthosError("none of the images could be read:\n  " + "\n  ".join(skipped[:10]))
    samples = [Sample(path=f, label=classes[0]) for f in good]
    probs, logits = predict_samples(model, samples, meta["preprocessing"], batch_size=batch_size,
                                    tta=meta.get("tta", "none"), temperature=temperature_of(meta))
    energy = -torch.logsumexp(torch.from_numpy(logits), 1).numpy()
    k = max(1, min(top_k, len(classes)))
    header = ["image", "label", "score"] + [f"{c}_{i}" for i in range(2, k + 1) for c in ("label", "score")]
    header += [f"prob:{c}" for c in classes] + ["energy"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for f, p, e in zip(good, probs, energy):
        order = np.argsort(-p)[:k]
        row = [str(f), classes[order[0]], f"{p[order[0]]:.4f}"]
        for j in order[1:]:
            row += [classes[j], f"{p[j]:.4f}"]
        w.writerow(row + [f"{v:.5f}" for v in p] + [f"{e:.4f}"])
    atomic_write_text(out, buf.getvalue())
    return {"n": len(good), "skipped": skipped, "out": str(out)}


def finish_run(meta: dict, run_dir: str | os.PathLike, report: bool = True) -> str:
    """After training: evaluate on the held-out test split, write the report, summarise."""
    run_dir = Path(run_dir)
    what = f"an ensemble of {len(meta['members'])} {meta['architecture']}" if meta.get("members") else meta["architecture"]
    lines = [f"trained {what} ({meta['strategy']}) on {meta['data']['n_images']} images, "
             f"{len(meta['classes'])} classes, in {meta['duration_s'] / 60:.1f} min -> {run_dir}"]
    if meta["data"].get("n_issues"):
        lines.append(f"{meta['data']['n_issues']} data problems were skipped (listed in {run_dir / 'run.json'})")
    if meta["data"]["split"].get("test") and report:
        ev = evaluate_run(run_dir)
        lines.append(f"held-out test ({ev['n']} images): accuracy {ev['accuracy']:.3f}, balanced accuracy "
                     f"{ev['balanced_accuracy']:.3f}, macro-F1 {ev['macro_f1']:.3f}")
        lines.append(f"report: {run_dir / 'report.html'}")
    elif report:
        from benthos.report.classification import write_report

        write_report(run_dir)
        lines.append(f"report: {run_dir / 'report.html'}")
    return "\n".join(lines)


def report_with_biodiversity(run_dir: str | os.PathLike, predictions: str | os.PathLike, by: list[str] | None = None) -> Path:
    """The run's report with the biodiversity sections of a predictions CSV appended (counts,
    diversity, curves, and counts corrected with the run's held-out confusion matrix)."""
    from benthos.ecology.tasks import report_sections
    from benthos.report.classification import write_report

    run_dir = Path(run_dir)
    evaluation = run_dir / "evaluation.json"
    sections, _ = report_sections(predictions, run_dir / "report.html", by=by,
                                  evaluation=evaluation if evaluation.is_file() else None)
    return write_report(run_dir, extra_sections=sections)
