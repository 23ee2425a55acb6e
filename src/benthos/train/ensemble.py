"""Cross-fitted ensembles (``members: K``): K classifiers whose average predicts.

The images outside the test split are cut into K disjoint validation folds of
``val_fraction`` each (stratified and grouped like any split) and the rest. Member *i*
trains on everything except fold *i* and early-stops on fold *i*, so every image trains
K-1 members (or all K) and no member is judged on images it trained on. The softmax
temperature of the average is fitted on out-of-fold logits: each fold scored by the one
member that did not train on it (``benthos.train.calibrate``).

Each member is an ordinary run folder under ``RUN/members/m<i>`` (weights, sidecar,
checkpoints, logs), trained one after another; ``--resume RUN`` skips the finished members
and resumes the interrupted one. ``benthos.runs.load_run`` returns the members wrapped in
:class:`benthos.models.ensemble.Ensemble`, so evaluation, prediction and the report need nothing else.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import yaml

from benthos.data import save_split
from benthos.data.splits import check_split
from benthos.runs import read_meta, write_meta
from benthos.runs.atomic import atomic_write_text
from benthos.runs.run import versions
from benthos.train.config import TrainConfig

log = logging.getLogger("benthos.train")


def fold_split(cfg: TrainConfig, data) -> dict[str, list[int]]:
    """``train`` (every member trains on it), ``val0``..``val<K-1>`` (one member's validation
    fold each), ``test``; plus ``val``, the union of the folds, for `benthos evaluate --split val`."""
    from benthos.train.engine import split_with_added

    k = cfg.members
    fractions = {"train": 1 - k * cfg.val_fraction - cfg.test_fraction,
                 **{f"val{i}": cfg.val_fraction for i in range(k)}, "test": cfg.test_fraction}
    # added items (--add): training only, never in a fold; answers about a fold's photos train the other members
    split = split_with_added(data, fractions, cfg.seed, folds=tuple(f"val{i}" for i in range(k)))
    split["val"] = [j for i in range(k) for j in split.get(f"val{i}", [])]
    return split


def member_split(split: dict[str, list[int]], i: int, k: int, samples=None) -> dict[str, list[int]]:
    """Member ``i``'s split: it trains on ``train`` and the other members' folds, validates on fold ``i``.

    Answers (--add) about photos in another member's fold (``added_val<m>``) train this member too,
    replacing the fold items they answer (``samples`` tells which: the data the split indexes).
    Those about its own fold stay out of its training, listed as ``added_val<i>``, and the fold items
    replaced are listed as ``replaced`` (trained by no one here): so every member sees every item of
    the ensemble, and so every class of it."""
    from benthos.train.engine import _item_key

    extra = [j for m in range(k) if m != i for j in split.get(f"added_val{m}", [])]
    answered = {_item_key(samples[j]) for j in extra} if extra else set()
    others, replaced = [], []
    for j in (j for m in range(k) if m != i for j in split.get(f"val{m}", [])):
        (replaced if answered and _item_key(samples[j]) in answered else others).append(j)
    out = {"train": sorted(split.get("train", []) + others + extra), "val": split.get(f"val{i}", [])}
    if split.get("test"):
        out["test"] = split["test"]
    if "added" in split:  # the member reads the same --add files and finds them where the ensemble put them
        out["added"] = sorted(split["added"] + extra)
    if split.get(f"added_val{i}"):
        out[f"added_val{i}"] = split[f"added_val{i}"]
    if replaced:
        out["replaced"] = replaced
    return out


def train_ensemble(cfg: TrainConfig, run_dir: Path) -> dict[str, Any]:
    from benthos.train.engine import load_data, train

    data = load_data(cfg)
    split_file = run_dir / "split.json"
    # resumed: the same items in the same places, or a clear refusal
    split = check_split(split_file, data.samples) if cfg.resume and split_file.is_file() else fold_split(cfg, data)
    empty = [i for i in range(cfg.members) if not split.get(f"val{i}")]
    if empty:
        from benthos.errors import BenthosError

        raise BenthosError(f"{cfg.data}: too few images for {cfg.members} validation folds of {cfg.val_fraction:.0%} "
                           f"(fold {empty[0]} is empty); use fewer members or more images")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_split(split_file, data.samples, split, seed=cfg.seed, members=cfg.members, added_total=data.added)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    metas: list[dict] = []
    for i in range(cfg.members):
        mdir = run_dir / "members" / f"m{i}"
        if (mdir / "run.json").is_file():
            log.info("member %d of %d: already trained (%s)", i + 1, cfg.members, mdir)
            metas.append(read_meta(mdir, kind="classifier"))
            continue
        if (mdir / "config.yaml").is_file():
            mcfg = TrainConfig(data=cfg.data, resume=str(mdir))
        else:
            mdir.mkdir(parents=True, exist_ok=True)
            save_split(mdir / "split.json", data.samples, member_split(split, i, cfg.members, data.samples),
                       seed=cfg.seed, added_total=data.added)
            budget = None
            if cfg.max_minutes:  # what is left of the budget, shared among the members still to train
                spent = sum(m.get("duration_s", 0) for m in metas) / 60
                budget = max(0.5, (cfg.max_minutes - spent) / (cfg.members - i))
            # members train one after another in this process: one device each (a DDP launch per member
            # would re-run the whole ensemble in every worker)
            mcfg = dataclasses.replace(cfg, out=str(mdir), members=1, split=str(mdir / "split.json"), seed=cfg.seed + i,
                                       calibrate=False, report=False, resume=None, max_minutes=budget,
                                       devices="1" if str(cfg.devices) == "auto" else cfg.devices)
        log.info("member %d of %d -> %s", i + 1, cfg.members, mdir)
        metas.append(train(mcfg))

    first = metas[0]
    # each member logs the images it could not read mid-run; the ensemble names each once
    unreadable = list(dict.fromkeys(u for m in metas for u in m["data"].get("unreadable_during_training", [])))
    meta = {
        "architecture": cfg.model, "classes": first["classes"], "preprocessing": first["preprocessing"],
        "tta": first["tta"], "model_options": cfg.model_options, "strategy": cfg.strategy, "config": cfg.to_dict(),
        "members": [f"members/m{i}" for i in range(cfg.members)],
        "data": {**first["data"], "split": {k: len(v) for k, v in split.items()},
                 "unreadable_during_training": unreadable[:200], "n_unreadable_during_training": len(unreadable)},
        "history": first["history"], "member_histories": [m["history"] for m in metas],
        "timings": {"fit_s": round(sum(m["timings"].get("fit_s", 0) for m in metas), 1),
                    "epochs": [m["timings"].get("epochs") for m in metas]},
        "duration_s": round(sum(m.get("duration_s", 0) for m in metas), 1),  # the members' training, summed
        "versions": versions(),
    }
    write_meta(run_dir, meta, kind="ensemble")
    if cfg.calibrate:
        from benthos.train.calibrate import calibrate_run, calibration_line

        record = calibrate_run(run_dir)
        if record:
            meta["calibration"] = record
            log.info(calibration_line(record, "out-of-fold images"))
    return meta
