"""Classification jobs, one function each: evaluate a run, predict images or points to a CSV, finish
a training run (evaluate + report), add the biodiversity sections to its report."""
from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benthos.errors import BenthosError
from benthos.runs.atomic import atomic_write_json, atomic_write_text

TTA_MODES = ("dihedral", "flip", "none")
VIEW_CHOICES = ("adaptive",) + TTA_MODES  # adaptive: the run's views, the extra ones only where the first is unsure


def temperature_of(meta: dict, tta: str | None = None) -> float:
    """The run's fitted softmax temperature (1.0 for runs without calibration); for ``tta="adaptive"``
    the one fitted on the adaptive rule's logits."""
    calibration = meta.get("calibration") or {}
    if tta == "adaptive":
        return float(calibration["views"]["temperature"])
    return float(calibration.get("temperature", 1.0))


def tta_of(meta: dict, tta: str | None = None) -> str:
    """The test-time views to use: ``tta`` when given (checked), else "adaptive" where training
    fitted the rule (:mod:`benthos.train.views`), else the run's own views."""
    fitted = bool((meta.get("calibration") or {}).get("views"))
    if tta is None:
        return "adaptive" if fitted else meta.get("tta", "none")
    if tta not in VIEW_CHOICES:
        raise BenthosError(f"tta {tta!r}: choose one of {', '.join(VIEW_CHOICES)}")
    if tta == "adaptive" and not fitted:
        raise BenthosError("tta 'adaptive': this run has no fitted view margin (it was trained before benthos "
                           "fitted one, or without test-time views); use dihedral, flip or none, or refit it with "
                           "benthos.train.calibrate.calibrate_run(RUN)")
    return tta


def view_rule_of(meta: dict, tta: str) -> tuple[str, float | None]:
    """(views, margin) for :func:`benthos.infer.predict_samples`: an adaptive ``tta`` is the run's
    own views with its fitted margin."""
    if tta == "adaptive":
        views = meta["calibration"]["views"]
        return views["mode"], float(views["margin"])
    return tta, None


def evaluate_run(run_dir: str | os.PathLike, data: str | None = None, format: str | None = None,
                 images: str | None = None, split: str = "test", write: bool = True,
                 tta: str | None = None, device: str | None = None,
                 out: str | os.PathLike | None = None, allow_outside: bool = False) -> dict[str, Any]:
    """Evaluate a run on DATA (labels matched by name), or on its own held-out split.

    ``tta``: "adaptive", "dihedral", "flip" or "none" (default: as ``benthos predict``), to
    see what ``benthos predict --tta`` would cost on your own labelled images.

    Its own held-out split: writes ``evaluation.json`` (metrics + confusion matrix, used by ecology
    corrections) and refreshes ``report.html`` in the run folder. Other data never replaces them: the
    evaluation goes beside (``evaluation_<data>.json`` with ``report_<data>.html``), or to ``out``.
    ``ev["written"]`` says where. ``allow_outside``: take images DATA names outside its own folder.
    """
    from benthos.data import load_classification, load_split
    from benthos.evaluate import evaluate_by_name
    from benthos.infer import predict_samples
    from benthos.runs import load_run

    run_dir = Path(run_dir)
    model, meta = load_run(run_dir, kind=("classifier", "ensemble"))
    if data:
        cfg = meta.get("config") or {}  # boxes and points are cut as for training
        ds = load_classification(data, format=format, images=images, margin=float(cfg.get("margin", 0.1)),
                                 patch_size=int(cfg.get("patch_size", 224)), allow_outside=allow_outside)
        samples, source = ds.samples, str(data)
    else:
        splits = load_split(run_dir / "split.json")
        samples = splits.get(split) or splits.get("val") or []
        source = f"the run's held-out '{split}' split"
    if not samples:
        raise BenthosError(f"nothing to evaluate in {source}: no labelled images")
    tta = tta_of(meta, tta)
    temperature = temperature_of(meta, tta)
    views, margin = view_rule_of(meta, tta)
    probs, logits = predict_samples(model, samples, meta["preprocessing"], tta=views, margin=margin,
                                    temperature=temperature,
                                    device=device)
    ev = evaluate_by_name([s.label for s in samples], probs, meta["classes"])
    ev["data"] = source
    ev["tta"] = tta
    ev["temperature"] = temperature
    ev["calibrated"] = bool(meta.get("calibration"))  # a fitted T can be 1.0; absent T means not calibrated
    counts = meta.get("data", {}).get("counts", {})
    total = sum(counts.values()) or 1
    ev["train_priors"] = [counts.get(c, 0) / total for c in meta["classes"]]
    mistakes = _mistakes(samples, probs, meta["classes"])
    ev["mistakes"] = mistakes  # kept so a later `benthos report` can redraw the gallery
    if write:
        from benthos.report.classification import write_report
        from benthos.runs.run import evaluation_path, report_path

        target = evaluation_path(run_dir, data, out)
        atomic_write_json(target, ev)
        write_report(run_dir, ev, mistakes, path=report_path(target))
        ev["written"] = str(target)
    return ev


def _mistakes(samples, probs: np.ndarray, classes: list[str], limit: int = 30) -> list[dict]:
    idx = {c: i for i, c in enumerate(classes)}
    pred = probs.argmax(1)
    wrong = [i for i, s in enumerate(samples) if s.label in idx and pred[i] != idx[s.label]]
    wrong.sort(key=lambda i: -probs[i, pred[i]])
    return [{"path": str(samples[i].path), "true": samples[i].label, "pred": classes[pred[i]],
             "score": float(probs[i, pred[i]]), "box": list(samples[i].box) if samples[i].box else None}
            for i in wrong[:limit]]


def point_samples(csv_path: str | os.PathLike, images: str | os.PathLike | None, patch_size: int,
                  keep=None) -> tuple[list, list[str]]:
    """The points of a CoralNet-style CSV (``Name,Row,Column``; a Label column is allowed and
    ignored) as patch samples in file order, and one message per skipped row or photo."""
    from benthos.data.regions import read_coralnet
    from benthos.errors import DataError

    try:
        samples, issues = read_coralnet(Path(csv_path), Path(images) if images else None, patch_size, labelled=False,
                                        keep=keep, columns=True)
    except DataError as exc:
        raise DataError(f"{exc} (`benthos predict` takes images, folders or one CSV of points; to score a "
                        "labelled CSV manifest use `benthos evaluate RUN FILE.csv`)") from None
    return samples, [str(i) for i in issues]


def carried_columns(csv_path: str | os.PathLike) -> tuple[list[str], Callable[[Any], list[str]]]:
    """The columns of a points CSV that its predictions carry (CoralNet's Date, Aux1-Aux5, ...; the
    point's own label as ``annotated_label``), and the function giving a sample's values. Taken
    from the CSV's header, so every share of a sharded job writes the same columns."""
    from benthos.data.regions import csv_header, is_point_column, label_column

    head = csv_header(Path(csv_path))
    names = [c.strip() for c in head if c.strip() and not is_point_column(c)]
    labelled = label_column(head) is not None
    ours = {"image", "label", "score", "energy", "row", "column", "annotated_label"}
    header = [f"input:{n}" if n.lower() in ours or n.lower().startswith(("prob:", "label_", "score_")) else n
              for n in names] + (["annotated_label"] if labelled else [])

    def values(s) -> list[str]:
        cols = s.meta.get("columns") or {}
        return [cols.get(n, "") for n in names] + ([s.label] if labelled else [])

    return header, values


def is_points_csv(inputs: Sequence[str | os.PathLike]) -> bool:
    """One CSV file among the inputs: points to classify (see :func:`point_samples`)."""
    return len(inputs) == 1 and Path(inputs[0]).suffix.lower() == ".csv" and Path(inputs[0]).is_file()


def predict(run_dir: str | os.PathLike, inputs: Sequence[str], out: str | os.PathLike, top_k: int = 3,
            batch_size: int = 32, tta: str | None = None, progress: Callable[[str], None] | None = None,
            chunk: int = 256, images: str | os.PathLike | None = None, points_per_image: int | None = None,
            grid: str | None = None, shard: str | None = None, device: str | None = None,
            backend: str | None = None, exported: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write a predictions CSV: image, top-k labels/scores, prob:<class> for all classes, energy.
    ``out``: the CSV file, or a folder (existing, or written with a trailing slash) to write
    ``predictions.csv`` into.

    ``inputs`` may instead be one CoralNet-style CSV of points (``Name,Row,Column``, photos in
    ``images`` or beside the CSV): each point's square patch (the run's ``patch_size``) is
    classified and the rows end with ``row,column``, the input ``benthos ecology cover`` reads.
    Photos without points: ``points_per_image`` random points or a ``grid`` ("5x5") of points
    on each image found in ``inputs`` (:func:`benthos.data.regions.layout_points`), classified alike.

    ``shard``: "I/N" predicts only the photos of share I of N (:func:`benthos.runs.shards.in_share`: by a hash of
    the photo's folder and file name, all its points with it), so N machines given the same
    inputs split a survey without talking to each other. Each share writes ``OUT_IofN.csv``
    (and its own journal); an empty share writes just the header. ``benthos ecology merge``
    joins them.

    Resumable: finished images go to ``OUT.partial.jsonl`` (:mod:`benthos.runs.journal`) every
    ``chunk`` images, so rerunning the same command after a kill predicts only the rest. The CSV
    is written (atomically) at the end, in the order the images were found.
    ``tta``: "adaptive", "dihedral", "flip" or "none" (default: adaptive where training fitted its
    margin, else the run's own views; :func:`tta_of`).
    ``backend``: "torch", "onnx" or "openvino" (default: the fastest installed,
    :func:`benthos.infer.backends.choose_backend`); ``exported``: an export of this run to run instead
    of the run's own fp32 export (e.g. ``benthos export --int8``).
    ``progress``: called with a one-line status after each chunk.
    """
    import torch

    from benthos.data import Sample, check_image
    from benthos.data.images import find_images
    from benthos.infer import predict_samples
    from benthos.runs import load_run
    from benthos.runs.journal import SUFFIX, Journal, Progress
    from benthos.runs.run import read_meta, run_identity, weights_digest
    from benthos.runs.shards import forget_record, in_share, parse_shard, record_path

    run_dir = Path(run_dir)
    share = parse_shard(shard) if shard else None
    if Path(out).is_dir() or str(out).endswith(("/", os.sep)):  # `--out results/`: the CSV goes inside
        out = Path(out) / "predictions.csv"
    if share:  # every share its own file and journal, even when the machines write to one folder
        out = Path(out).with_name(f"{Path(out).stem}_{share[0]}of{share[1]}{Path(out).suffix or '.csv'}")
    meta = read_meta(run_dir, kind=("classifier", "ensemble"))
    digest = weights_digest(run_dir)  # of the weights loaded, whatever happens to the file meanwhile
    forget_record(out)  # an earlier file's record must not outlive it (rewritten at the end)
    classes = meta["classes"]
    tta = tta_of(meta, tta)
    views, margin = view_rule_of(meta, tta)
    from benthos.infer.export import run_forward

    forward, backend = run_forward(run_dir, meta, backend, exported, progress, device=device)
    model = load_run(run_dir, kind=("classifier", "ensemble"))[0] if forward is None else None  # an exported model needs no PyTorch one
    points, laid_out = is_points_csv(inputs), points_per_image is not None or grid is not None
    if points_per_image is not None and points_per_image < 1:
        raise BenthosError(f"--points {points_per_image}: give a whole number >= 1 of points per photo")
    patch = int((meta.get("config") or {}).get("patch_size") or 224)
    if points and laid_out:
        raise BenthosError("a points CSV names its points: --points and --grid are for photos without them")
    if points_per_image is not None and grid is not None:
        raise BenthosError("choose --points N (random) or --grid ROWSxCOLS, not both")
    if images and not points:
        csvs = [p for p in inputs if str(p).lower().endswith(".csv") and not Path(p).is_file()]
        raise BenthosError(f"{csvs[0]}: no such file" if csvs else
                           "--images names the photo folder of a points CSV; pass image files or folders directly")
    if points:
        # with a share, only its photos are opened (and only their problems reported)
        samples, skipped_rows = point_samples(inputs[0], images, patch,
                                              keep=(lambda p: in_share(p, share)) if share else None)
        if not samples and not share:
            raise BenthosError(f"{inputs[0]}: no point could be used:\n  " + "\n  ".join(skipped_rows[:10]))
    else:
        files = [f for f in find_images(inputs) if not share or in_share(f, share)]
        if laid_out:
            from benthos.data.regions import parse_grid, photo_points

            samples, issues = photo_points(files, patch, points_per_image, parse_grid(grid) if grid else None)
            skipped_rows = [str(i) for i in issues]
            if not samples and not share:
                raise BenthosError("none of the images could be read:\n  " + "\n  ".join(skipped_rows[:10]))
            points = True
        else:
            samples, skipped_rows = [Sample(path=f, label=classes[0]) for f in files], []
    # a point's key keeps its coordinates as given (10 significant digits): two points are one only if equal
    keys = [f"{s.path}#{s.meta['row']:.10g},{s.meta['column']:.10g}" if points else str(s.path) for s in samples]
    by_key = dict(zip(keys, samples))
    k = max(1, min(top_k, len(classes)))
    header = {"job": "benthos predict", **run_identity(run_dir), "classes": classes,
              "tta": tta, "temperature": temperature_of(meta, tta), "top_k": k, "view_margin": margin,
              "backend": backend}
    if share:
        header["shard"] = list(share)
    if points:
        header["points"] = {"csv": str(Path(inputs[0]).resolve()) if not laid_out else None, "patch_size": patch,
                            "per_image": points_per_image, "grid": grid}
    # a journal from before backends and adaptive views was written by PyTorch scoring every view
    journal = Journal(str(out) + SUFFIX, header, implied={"view_margin": None, "backend": "torch"})
    unit = "points" if points else "images"
    todo = journal.remaining(list(by_key), progress, unit)
    first_seen = {p: n for n, p in enumerate(dict.fromkeys(s.path for s in samples))}
    todo.sort(key=lambda key: first_seen[by_key[key].path])  # a photo's points together: one decode (CSV order kept)
    from benthos.infer.device import pick_device

    if pick_device(device).type != "cpu":  # a GPU finishes 256 images in well under a second: fewer loader restarts
        chunk *= 8
    chunk = max(batch_size, chunk // batch_size * batch_size)
    n0 = len(by_key) - len(todo)  # a point listed twice is predicted once
    status = Progress(len(by_key), n0, progress, unit=unit)
    checked: dict[Path, str | None] = {}  # photo -> why it cannot be read (None: readable)
    stats: dict[str, int] = {}
    with journal:
        for i in range(0, len(todo), chunk):
            batch, records, good = todo[i:i + chunk], [], []
            for key in batch:
                s = by_key[key]
                if s.path not in checked:
                    try:
                        check_image(s.path)
                        checked[s.path] = None
                    except BenthosError as exc:
                        checked[s.path] = str(exc)
                if checked[s.path] is None:
                    good.append(key)
                else:
                    records.append({"image": key, "skipped": checked[s.path]})
            if good:
                probs, logits = predict_samples(model, [dataclasses.replace(by_key[g], label=classes[0]) for g in good],
                                                meta["preprocessing"], batch_size=batch_size, tta=views, margin=margin,
                                                temperature=temperature_of(meta, tta), forward=forward, device=device,
                                                backend=backend, stats=stats)
                stats["images"] = stats.get("images", 0) + len(good)
                energy = -torch.logsumexp(torch.from_numpy(logits), 1).numpy()
                for g, p, e in zip(good, probs, energy):
                    s = by_key[g]
                    row = _prediction_row(str(s.path), p, e, classes, k)
                    if points:
                        row += [f"{s.meta['row']:.10g}", f"{s.meta['column']:.10g}"]
                    records.append({"image": g, "row": row})
            journal.add(records)
            status.update(i + len(batch))
    results = [journal.done[key] for key in keys]
    skipped = list(skipped_rows)
    for r in results:  # a photo that cannot be read is named once, not once per point
        if "skipped" in r:
            path = r["image"].rsplit("#", 1)[0] if points else r["image"]
            line = r["skipped"] if r["skipped"].startswith(path) else f"{path}: {r['skipped']}"
            if line not in skipped:
                skipped.append(line)
    carried, values = carried_columns(inputs[0]) if points and not laid_out else ([], None)
    good_rows = [r["row"] + (values(s) if values else []) for s, r in zip(samples, results) if "row" in r]
    if not good_rows and not share:  # a share with nothing readable writes an empty file: array jobs still succeed
        journal.close(remove=True)
        raise BenthosError("none of the images could be read:\n  " + "\n  ".join(skipped[:10]))
    header_row = ["image", "label", "score"] + [f"{c}_{i}" for i in range(2, k + 1) for c in ("label", "score")]
    header_row += [f"prob:{c}" for c in classes] + ["energy"] + (["row", "column"] if points else []) + carried
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header_row)
    w.writerows(good_rows)
    atomic_write_text(out, buf.getvalue())
    # the CSV's record beside it: which model and settings wrote it, and which share it is (ecology merge checks them)
    atomic_write_json(record_path(out), {**header, "weights_sha256": digest,
                                         "shard": f"{share[0]}/{share[1]}" if share else None,
                                         "rows": len(good_rows), "skipped": len(skipped)})
    journal.close(remove=True)
    return {"n": len(good_rows), "skipped": skipped, "out": str(out), "resumed": n0, "tta": tta,
            "unit": unit, "backend": backend, "views_per_image": stats.get("views", 0) / max(stats.get("images", 0), 1)}


def _prediction_row(image: str, p: np.ndarray, energy: float, classes: list[str], k: int) -> list[str]:
    """One predictions-CSV row: image, top-k labels and scores, every class's probability, energy."""
    order = np.argsort(-p)[:k]
    row = [image, classes[order[0]], f"{p[order[0]]:.4f}"]
    for j in order[1:]:
        row += [classes[j], f"{p[j]:.4f}"]
    return row + [f"{v:.5f}" for v in p] + [f"{energy:.4f}"]


def finish_run(meta: dict, run_dir: str | os.PathLike, report: bool = True) -> str:
    """After training: evaluate on the held-out test split, write the report, summarise."""
    run_dir = Path(run_dir)
    what = f"an ensemble of {len(meta['members'])} {meta['architecture']}" if meta.get("members") else meta["architecture"]
    unit = meta["data"].get("unit", "images")  # "patches (cut from N photos)" for boxes and points
    lines = [f"trained {what} ({meta['strategy']}) on {meta['data']['n_images']} {unit}, "
             f"{len(meta['classes'])} classes, in {meta['duration_s'] / 60:.1f} min -> {run_dir}"]
    if meta["data"].get("n_issues"):
        lines.append(f"{meta['data']['n_issues']} data problems were skipped (listed in {run_dir / 'run.json'})")
    if meta["data"].get("n_unreadable_during_training"):
        lines.append(f"{meta['data']['n_unreadable_during_training']} images could not be read during training; "
                     f"a blank image stood in for each (listed in {run_dir / 'run.json'}: unreadable_during_training)")
    if meta["data"]["split"].get("test") and report:
        ev = evaluate_run(run_dir)
        lines.append(f"held-out test ({ev['n']} {unit.split(' ')[0]}): accuracy {ev['accuracy']:.3f}, balanced accuracy "
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
