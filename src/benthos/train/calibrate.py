"""Temperature scaling (Guo et al. 2017): one scalar T fitted on the validation split.

Dividing logits by T changes no prediction (the arg-max is the same), only how sure the
probabilities are. Label smoothing and test-time augmentation make our classifiers
under-confident (T < 1 sharpens them); over-confident ones get T > 1. Probabilities feed
the reliability diagram, the unknown-taxon threshold and the ecology corrections, so they
should mean what they say.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from benthos.train.temperature import fit_temperature, nll  # noqa: F401 (importable from here too)


def calibrate_run(run_dir: str | os.PathLike) -> dict:
    """Fit T on the run's validation split (with the run's TTA), and for a single model with views the
    adaptive-view rule (:mod:`benthos.train.views`); store them in run.json, return the record."""
    from benthos.data import load_split
    from benthos.evaluate.calibration import expected_calibration_error, reliability_bins
    from benthos.infer import predict_samples
    from benthos.infer.predict import view_logits
    from benthos.runs import load_run, write_meta
    from benthos.train.views import MIN_IMAGES, fit_view_rule

    model, meta = load_run(run_dir)
    index = {c: i for i, c in enumerate(meta["classes"])}
    # an ensemble's average is fitted on out-of-fold logits: each member scores its own
    # validation fold, the images it did not train on (the average has seen them all)
    parts = [(m, Path(run_dir) / sub) for m, sub in zip(model.members, meta["members"])] if meta.get("members") \
        else [(model, Path(run_dir))]
    chunks, labels, views = [], [], None
    tta = meta.get("tta", "none")
    for member, folder in parts:
        val = [s for s in load_split(folder / "split.json").get("val") or [] if s.label in index]
        if val and tta != "none" and not meta.get("members"):
            views = view_logits(member, val, meta["preprocessing"], tta)  # each view kept: the adaptive rule's fit
            chunks.append(views.mean(0))
            labels += [index[s.label] for s in val]
        elif val:
            chunks.append(predict_samples(member, val, meta["preprocessing"], tta=tta)[1])
            labels += [index[s.label] for s in val]
    if len(labels) < 2:
        return {}
    logits, y = np.concatenate(chunks), np.array(labels)
    t = fit_temperature(logits, y)
    ece = {}
    for key, temp in (("before", 1.0), ("after", t)):
        p = torch.as_tensor(logits / temp).softmax(-1).numpy()
        ece[key] = expected_calibration_error(reliability_bins(p.max(1), p.argmax(1) == y))
    record = {"temperature": round(t, 4), "fitted_on": "out-of-fold val" if meta.get("members") else "val", "n": len(y),
              "val_nll_before": round(nll(logits, y), 4), "val_nll_after": round(nll(logits, y, t), 4),
              "val_ece_before": round(ece["before"], 4), "val_ece_after": round(ece["after"], 4)}
    if views is not None and len(y) >= MIN_IMAGES:  # `benthos predict` scores the extra views only where the first is unsure
        record["views"] = fit_view_rule(views, y, tta)
    meta["calibration"] = record
    write_meta(run_dir, meta)
    return record


def calibration_line(record: dict, where: str = "validation images") -> str:
    """The log line for a fitted temperature: what it did to NLL (what it minimises) and ECE."""
    line = (f"calibration: temperature {record['temperature']:.3f} fitted on {record['n']} {where} "
            f"(NLL {record['val_nll_before']:.3f} -> {record['val_nll_after']:.3f}, "
            f"ECE {record['val_ece_before']:.3f} -> {record['val_ece_after']:.3f})")
    if record["val_ece_after"] > record["val_ece_before"]:
        line += (f"; the temperature minimises NLL, and ECE over {record['n']} images is noisy: "
                 "more validation images make both steadier")
    if record.get("views"):
        from benthos.train.views import views_line

        line += "\n" + views_line(record["views"])
    return line
