"""`benthos train`: data in, a trained and evaluated classifier run folder out.

Lightning runs the loop (progress bar, CSV log, mixed precision and multi-GPU/multi-node by
its flags, resumable checkpoints); this module only assembles data, model and strategy.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benthos.data import (ImageDataset, build_transforms, check_split, eval_transforms, load_classification,
                          load_split_indices, save_split, split_samples)
from benthos.data.splits import read_split_file, split_meta
from benthos.errors import BenthosError, ConfigError
from benthos.models import check_input_size, create_model, model_card, preprocessing
from benthos.runs import save_weights, write_meta
from benthos.runs.atomic import atomic_write, atomic_write_text
from benthos.runs.run import read_unreadable, unreadable_log, versions
from benthos.train.config import TrainConfig

log = logging.getLogger("benthos.train")
PATCHES = "patches"  # box/point patches cut once for training (benthos.data.patchcache); removed after


def _checkpoint_io():
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Checkpoints written to a temporary file and renamed: a kill never leaves half a file."""

        def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
            atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))

        def load_checkpoint(self, path, map_location=None, weights_only=None):
            return torch.load(path, map_location=map_location or "cpu", weights_only=True)

    return AtomicCheckpointIO()


def _callbacks(cfg: TrainConfig, run_dir: Path, validate: bool = True) -> list:
    import lightning.pytorch as pl

    from benthos.train import seeding
    from benthos.train.stopping import NearBestStopper

    class RNGState(pl.Callback):
        """Resume with the training process's random streams (dropout, mixup) as the uninterrupted run
        had them; the data order and augmentations need none (benthos.train.seeding)."""

        def on_save_checkpoint(self, trainer, module, checkpoint):
            checkpoint["rng"] = seeding.capture()

        def on_load_checkpoint(self, trainer, module, checkpoint):
            if checkpoint.get("rng"):
                seeding.restore(checkpoint["rng"])

    class BestWeights(pl.Callback):
        """Stop when the validation loss rises (benthos.train.stopping) and keep the latest weights
        whose validation loss is within the tolerance of the best, as safetensors in the run folder."""

        def __init__(self):
            self.stopper = NearBestStopper(cfg.patience, cfg.stop_tolerance)

        def on_validation_epoch_end(self, trainer, module):
            if trainer.sanity_checking:
                return
            loss = float(trainer.callback_metrics.get("val_loss", float("inf")))  # synced over ranks
            keep, stop = self.stopper.update(loss)
            if keep and trainer.is_global_zero:
                save_weights(run_dir, module.eval_model().native_state_dict())
            if stop:
                trainer.should_stop = bool(trainer.strategy.reduce_boolean_decision(True, all=False))

        def state_dict(self):
            return self.stopper.state_dict()

        def load_state_dict(self, state):
            self.stopper.load_state_dict(state)

    class LatestWeights(pl.Callback):
        """Without a validation split: the full schedule, the newest weights kept after every epoch.
        (Lightning calls checkpoint callbacks last, so the epoch's history row is in its checkpoint.)"""

        def on_train_epoch_end(self, trainer, module):
            module.record_epoch()
            if trainer.is_global_zero:
                save_weights(run_dir, module.eval_model().native_state_dict())

    return [
        # the newest state after every epoch, replacing the previous one (atomically, see CheckpointIO)
        pl.callbacks.ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                                     every_n_epochs=1, enable_version_counter=False),
        BestWeights() if validate else LatestWeights(), RNGState(),
    ]


def load_data(cfg: TrainConfig):
    data = load_classification(cfg.data, format=cfg.format, images=cfg.images, on_error=cfg.on_error,
                               min_per_class=cfg.min_per_class, margin=cfg.margin, patch_size=cfg.patch_size,
                               allow_outside=cfg.allow_outside_paths)
    if cfg.add:
        data = _with_added(cfg, data)
    if len(data.classes) < 2:
        raise BenthosError(f"{cfg.data}: found {len(data.classes)} class(es) with usable images; a classifier needs at least 2")
    return data


def _with_added(cfg: TrainConfig, data):
    """``data`` followed by the samples of every ``cfg.add`` file (``ClassificationData.added`` of them).
    Their taxa join the class list, new names included (a taxon the expert named in `benthos review`)."""
    from dataclasses import replace

    from benthos.data import ClassificationData

    extra, issues = [], list(data.issues)
    for path in cfg.add:
        more = load_classification(path, images=cfg.images, on_error=cfg.on_error, min_per_class=1,
                                   margin=cfg.margin, patch_size=cfg.patch_size,
                                   allow_outside=True)  # the user's own answers (`benthos review`): photos where they are
        issues += more.issues
        extra += [replace(s, meta={**s.meta, "added": str(path)}) for s in more.samples]
    classes = sorted(set(data.classes) | {s.label for s in extra})
    return ClassificationData(data.samples + extra, classes, issues, data.source, added=len(extra))


def make_split(cfg: TrainConfig, data) -> dict[str, list[int]]:
    if cfg.split:  # a split reused from another run: the same items (added ones included) at the same places
        doc = read_split_file(cfg.split)  # read once; a clear DataError when missing or malformed
        split = load_split_indices(cfg.split, doc)
        if data.added and "added" not in split:
            raise ConfigError(f"--add with --split {cfg.split}: that split was made without added items, so it "
                              "does not say where they go; give one of the two (or a split made with the same --add)")
        made_with = split_meta(cfg.split, doc).get("added_total")  # None: a split written before it was recorded
        if "added" in split and made_with is not None and made_with != data.added:
            raise ConfigError(f"--split {cfg.split} was made with {made_with} added item(s) (--add), this run reads "
                              f"{data.added}: give the same --add files as the run that made it, or leave --split out")
        return check_split(cfg.split, data.samples, reused=True, doc=doc)
    fractions = {"train": 1 - cfg.val_fraction - cfg.test_fraction, "val": cfg.val_fraction, "test": cfg.test_fraction}
    return split_with_added(data, fractions, cfg.seed)


def split_with_added(data, fractions: dict[str, float], seed: int, folds: tuple[str, ...] = ()) -> dict[str, list[int]]:
    """``data``'s own samples split by ``fractions`` (stratified, grouped by photo, seeded); then its
    added items (the last ``data.added`` samples, from --add) put into ``train`` and listed as
    ``added``: training only; a photo in any other part stays out of training entirely, and an
    answer about an item already in training replaces it.

    ``folds``: parts that are one ensemble member's validation fold each (``val0``, ``val1``, ...).
    An answer about a photo in fold F goes to ``added_F`` instead: it trains every member but the
    one validated on F (:func:`benthos.train.ensemble.member_split`), and replaces there the item it
    answers; of two answers about one item, the later one counts."""
    n = len(data.samples) - data.added
    split = split_samples(data.samples[:n], {k: v for k, v in fractions.items() if v > 0}, seed=seed, grouped=True,
                          rare="train")
    if data.added:
        where = {data.samples[i].path.resolve(): k for k, idx in split.items() if k != "train" for i in idx}
        part = {i: where.get(data.samples[i].path.resolve(), "train") for i in range(n, len(data.samples))}
        keep = [i for i, k in part.items() if k == "train" or k in folds]
        if len(keep) < data.added:
            log.warning("%d of the %d added items are from photos held out for validation or test; left out so "
                        "that those stay unseen", data.added - len(keep), data.added)
        # an answer about an item already in training replaces it (its label is the expert's); of two
        # answers about one item, the later one counts
        latest = {_item_key(data.samples[i]): i for i in keep}
        keep = [i for i in keep if latest[_item_key(data.samples[i])] == i]
        train = [i for i in split.get("train", []) if _item_key(data.samples[i]) not in latest]
        if len(train) < len(split.get("train", [])):
            log.info("%d of DATA's training items were answered again in --add: the answers' labels replace "
                     "theirs", len(split.get("train", [])) - len(train))
        in_fold = {f: [i for i in keep if part[i] == f] for f in folds}
        bound = {i for idx in in_fold.values() for i in idx}
        if bound:
            log.info("%d added items are from photos in a validation fold: each trains every member but the one "
                     "validated on that fold", len(bound))
        keep = [i for i in keep if i not in bound]
        split["train"] = train + keep
        split["added"] = keep
        split.update({f"added_{f}": idx for f, idx in in_fold.items() if idx})
    return split


def _counts(samples, classes: list[str]) -> dict[str, int]:
    """Samples per class, in class order."""
    c = Counter(s.label for s in samples)
    return {name: c.get(name, 0) for name in classes}


def _item_key(s) -> tuple:
    """What makes two samples the same item: the photo, and the region cut from it."""
    return (str(s.path.resolve()), None if s.box is None else tuple(round(float(v), 1) for v in s.box))


def _class_weights(labels: list[int], n: int) -> torch.Tensor:
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    w = counts.sum() / (n * np.maximum(counts, 1))
    return torch.tensor(w, dtype=torch.float32)


# Options about where and how a run is computed, not what it learns: a resumed run may take new values
# (another machine, fewer workers, a time budget, no report, trusting the manifest's paths outside its folder,
# which a run started before that check existed needs), which replace the saved ones.
RUNTIME_OPTIONS = ("accelerator", "devices", "num_nodes", "ddp_strategy", "num_workers", "max_minutes",
                   "precision", "channels_last", "report", "allow_outside_paths")
_PATH_OPTIONS = ("data", "images", "split", "weights", "add")


def _same_setting(key: str, given: Any, saved: Any) -> bool:
    """Whether a flag given to --resume says the same as the run's config.yaml: paths compared as the
    files they name (relative or absolute, ./ or not), numbers and strings by value."""
    if given == saved:
        return True
    if key in _PATH_OPTIONS:
        if key == "add":
            return isinstance(given, list) and isinstance(saved, list) and len(given) == len(saved) \
                and all(_same_setting("data", a, b) for a, b in zip(given, saved))
        if isinstance(given, str) and isinstance(saved, str):
            return Path(given).expanduser().resolve() == Path(saved).expanduser().resolve()
        return False
    return str(given) == str(saved)


def resolve(cfg: TrainConfig) -> tuple[TrainConfig, Path]:
    """The config to train with and its run folder: checked, or read back from the run being resumed."""
    cfg.validate()
    run_dir = Path(cfg.out)
    if cfg.resume:
        run_dir = Path(cfg.resume)
        if not (run_dir / "config.yaml").is_file():
            raise BenthosError(f"cannot resume {run_dir}: no config.yaml there (was it made by `benthos train`?)")
        saved = TrainConfig.from_yaml(run_dir / "config.yaml").to_dict()
        defaults, given = TrainConfig().to_dict(), cfg.to_dict()
        differ = [k for k, v in given.items() if k not in ("resume", "out", "data", *RUNTIME_OPTIONS)
                  and v != defaults.get(k) and not _same_setting(k, v, saved.get(k))]
        if cfg.data and cfg.data != "(from resumed run)" and saved.get("data") \
                and not _same_setting("data", cfg.data, saved["data"]):
            differ.insert(0, "data")
        if differ:
            raise ConfigError(f"cannot resume {run_dir} with other settings ({', '.join(differ)} differ from its "
                              f"config.yaml): --resume continues a run as it was started; only "
                              f"{', '.join(RUNTIME_OPTIONS)} may change. Start a new run (--out) to train "
                              "with these settings")
        runtime = {k: given[k] for k in RUNTIME_OPTIONS if given[k] != defaults.get(k)}  # this machine, this time
        cfg = TrainConfig.from_dict({**saved, **runtime, "resume": str(run_dir), "out": str(run_dir)})
    elif (run_dir / "run.json").exists():
        raise BenthosError(f"{run_dir} already holds a finished run; choose another --out or delete it")
    return cfg, run_dir


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train one classifier; returns the run's metadata (also written to ``cfg.out/run.json``).
    (``benthos.train.train`` sends ensembles, ``members`` > 1, to ``benthos.train.ensemble``.)"""
    return train_resolved(*resolve(cfg))


def train_resolved(cfg: TrainConfig, run_dir: Path) -> dict[str, Any]:
    import lightning.pytorch as pl
    import yaml

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    t0 = time.time()

    data = load_data(cfg)
    split_file = run_dir / "split.json"
    # resumed: the same items in the same places, or a clear refusal
    split = check_split(split_file, data.samples) if cfg.resume and split_file.is_file() else make_split(cfg, data)
    if data.added:  # a taxon named only in answers that were all left out is not a class of this run
        used = {data.samples[i].label for idx in split.values() for i in idx}
        for name in sorted(set(data.classes) - used):
            log.warning("taxon '%s' is named only in added items that were left out; it is not a class of this run", name)
        data.classes = [c for c in data.classes if c in used]
    classes = data.classes
    class_to_idx = {c: i for i, c in enumerate(classes)}
    used = sorted({i for k in ("train", "val", "test") for i in split.get(k, [])})  # without left-out answers
    if not split.get("val") and cfg.strategy == "linear-probe":
        raise BenthosError("no validation images: the linear probe stops on validation loss; set val_fraction > 0")
    run_dir.mkdir(parents=True, exist_ok=True)  # only now: bad data leaves no empty run folder behind
    if not cfg.resume:
        unreadable_log(run_dir).unlink(missing_ok=True)  # left by an earlier, unfinished run in this folder
    save_split(split_file, data.samples, split, seed=cfg.seed, added_total=data.added)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    card = model_card(cfg.model)
    pre = preprocessing(cfg.model, cfg.weights if cfg.weights and not os.sep in str(cfg.weights) else "imagenet")
    size = cfg.input_size or (224 if card.input_size > 224 and cfg.weights else card.input_size)
    check_input_size(cfg.model, size)
    pre["input_size"] = size
    pre["crop_fraction"] = cfg.eval_crop  # predict and evaluate read it from run.json
    pre["in_chans"] = 3  # photographs are RGB; single-channel nets (LeNet-5) get an adapted first conv
    if card.in_chans != 3:
        pre["mean"], pre["std"] = [0.5] * 3, [0.5] * 3

    model = create_model(cfg.model, weights=cfg.weights, in_chans=3, **cfg.model_options)
    model.reset_classifier(len(classes))
    _apply_strategy(model, cfg)

    train_s = [data.samples[i] for i in split["train"]]
    val_s = [data.samples[i] for i in split.get("val", [])]
    log.info("data: %d train / %d val / %d test %s, %d classes", len(train_s), len(val_s), len(split.get("test", [])),
             data.unit(), len(classes))
    if data.added:
        log.info("  of the training items, %d were added (--add %s)", len(split.get("added", [])), " ".join(cfg.add))
    if not val_s:
        log.info("no validation split: training all %d epochs on every training image, keeping the last weights "
                 "(no early stopping; probabilities are not calibrated)", cfg.epochs)

    if cfg.strategy == "linear-probe":
        from benthos.train.probe import fit_linear_probe

        history, timings = fit_linear_probe(model, cfg, train_s, val_s, class_to_idx, pre, run_dir)
    else:
        history, timings = fit_classifier(model, cfg, train_s, val_s, class_to_idx, pre, run_dir)
        if timings.get("rank", 0) != 0:
            raise SystemExit(0)  # DDP worker: rank 0 writes the run folder

    unreadable = read_unreadable(run_dir)
    if unreadable:
        log.warning("%d images could not be read during training (a blank image stood in for each): %s",
                    len(unreadable), "; ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else ""))
    meta = {
        "architecture": cfg.model, "classes": classes, "preprocessing": pre,
        "tta": cfg.tta_mode(), "model_options": cfg.model_options, "strategy": cfg.strategy, "config": cfg.to_dict(),
        "data": {"source": data.source, "path": str(cfg.data), "n_images": len(used), "unit": data.unit(),
                 "counts": _counts([data.samples[i] for i in used], classes), "issues": [str(i) for i in data.issues[:200]], "n_issues": len(data.issues),
                 "split": {k: len(v) for k, v in split.items()},
                 "unreadable_during_training": unreadable[:200], "n_unreadable_during_training": len(unreadable)},
        "split": {"file": "split.json", "seed": cfg.seed, "reused": cfg.split, **{k: len(v) for k, v in split.items()}},
        "metrics": held_out_metrics(history),
        "history": history, "timings": timings, "duration_s": round(time.time() - t0, 1), "versions": versions(),
    }
    write_meta(run_dir, meta, kind="classifier")
    if cfg.calibrate and val_s:
        from benthos.train.calibrate import calibrate_run, calibration_line

        record = calibrate_run(run_dir)
        if record:
            meta["calibration"] = record
            log.info(calibration_line(record))
    return meta


def held_out_metrics(history: list[dict]) -> dict:
    """The validation scores of the epoch whose weights were kept (the lowest validation loss; every run
    kind records its held-out metrics under run.json ``metrics``; the test split's are in evaluation.json)."""
    scored = [row for row in history if row.get("val_loss") is not None]
    if not scored:
        return {}
    best = min(scored, key=lambda row: row["val_loss"])
    return {"val_loss": best["val_loss"], "val_accuracy": best.get("val_acc"), "epoch": best.get("epoch")}


def _apply_strategy(model, cfg: TrainConfig) -> None:
    if cfg.strategy in ("linear-probe", "gradual"):
        model.freeze_stages(len(model.param_groups()) - 1)
    elif cfg.strategy == "freeze-bottom":
        n = len(model.param_groups()) - 1
        if not 0 <= cfg.freeze_bottom <= n:
            raise BenthosError(f"--freeze-bottom {cfg.freeze_bottom}: {cfg.model} has {n} stages below the head "
                               f"({', '.join(model.stage_names()[:-1])})")
        model.freeze_stages(cfg.freeze_bottom)


def _loaders(cfg, train_s, val_s, class_to_idx, pre, run_dir, start_epoch: int = 0):
    """Training and validation loaders. The training order and each image's augmentation follow from
    (seed, epoch) alone (benthos.train.seeding), so a run resumed at ``start_epoch`` sees what the
    uninterrupted run saw, whatever its DataLoader workers did before."""
    from benthos.train.seeding import EpochSampler, SeededDataset, loader_generator

    ttf = build_transforms(pre["input_size"], pre["mean"], pre["std"], train=True, augment=cfg.augment,
                           crop_scale=cfg.crop_scale)
    vtf = eval_transforms(pre)
    flog = unreadable_log(run_dir)
    train_ds = SeededDataset(ImageDataset(train_s, class_to_idx, ttf, failure_log=flog))
    val_ds = ImageDataset(val_s, class_to_idx, vtf, failure_log=flog)
    labels = [class_to_idx[s.label] for s in train_s]
    weights = _class_weights(labels, len(class_to_idx)).numpy()[labels] if cfg.balance == "sampler" else None
    sampler = EpochSampler(len(train_s), cfg.seed, weights, epoch=start_epoch)
    workers = cfg.loader_workers()
    kw = dict(num_workers=workers, persistent_workers=workers > 0, pin_memory=cfg.on_gpu(),
              generator=loader_generator(cfg.seed))
    train_dl = torch.utils.data.DataLoader(train_ds, cfg.batch_size, sampler=sampler, drop_last=len(train_ds) > cfg.batch_size, **kw)
    val_dl = torch.utils.data.DataLoader(val_ds, cfg.batch_size * 2, **kw) if val_s else None
    return train_dl, val_dl, labels


def fit_classifier(model, cfg, train_s, val_s, class_to_idx, pre, run_dir):
    """Fine-tune ``model`` on ``train_s`` (early-stopped on ``val_s``) with Lightning, saving the kept weights
    in ``run_dir``: (history rows, timings). Boxes and points are cut into patches once first."""
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # cloud-logger tips, GPU-available notes
    warnings.filterwarnings("ignore", message=".*(LeafSpec|number of training batches|does not have many workers|no `val_dataloader`).*")

    if not any(x.box is not None for x in (*train_s, *val_s)):
        return _fit_loop(model, cfg, train_s, val_s, class_to_idx, pre, run_dir)
    from benthos.data.patchcache import cut_patches_once, remove_patches

    # boxes/points: cut once (by one process per machine under DDP), not every epoch
    side = pre["input_size"] if isinstance(pre["input_size"], int) else max(pre["input_size"])
    try:  # a cut stopped half-way (full disk, Ctrl-C) leaves no patches behind either
        cut = cut_patches_once([*train_s, *val_s], run_dir / PATCHES,
                               max_side=math.ceil(2 * side / math.sqrt(cfg.crop_scale)))
        out = _fit_loop(model, cfg, cut[:len(train_s)], cut[len(train_s):], class_to_idx, pre, run_dir)
    except BaseException:
        remove_patches(run_dir / PATCHES)
        raise
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # every rank is done reading before the files go
    remove_patches(run_dir / PATCHES)
    return out


def _fit_loop(model, cfg, train_s, val_s, class_to_idx, pre, run_dir):
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.loggers import CSVLogger

    from benthos.train.module import ClassifierModule

    last = run_dir / "checkpoints" / "last.ckpt"
    resumed_from = None
    if cfg.resume and last.is_file():
        resumed_from = int(torch.load(last, map_location="cpu", weights_only=True)["epoch"]) + 1
        log.info("resuming %s at epoch %d", run_dir, resumed_from)
    train_dl, val_dl, labels = _loaders(cfg, train_s, val_s, class_to_idx, pre, run_dir, resumed_from or 0)
    weights = _class_weights(labels, len(class_to_idx)) if cfg.balance == "weighted-loss" else None
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    module = ClassifierModule(model, cfg, weights, len(train_dl))
    # A resumed run logs beside the first log, which Lightning would otherwise overwrite
    log_version = "" if resumed_from is None else f"resumed_at_epoch_{resumed_from}"
    gpu = cfg.on_gpu()
    try:
        trainer = pl.Trainer(
            max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
            strategy=cfg.ddp_strategy, precision=cfg.precision or ("bf16-mixed" if gpu else "32-true"),
            logger=CSVLogger(str(run_dir), name="logs", version=log_version), callbacks=_callbacks(cfg, run_dir, bool(val_s)),
            plugins=[_checkpoint_io()], deterministic=False, num_sanity_val_steps=0, log_every_n_steps=10,
            max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None, enable_model_summary=False,
            default_root_dir=str(run_dir),
        )
    except (MisconfigurationException, ValueError) as exc:  # Lightning's word on these flags, on one line
        raise ConfigError(f"--accelerator {cfg.accelerator} --devices {cfg.devices} --precision {cfg.precision} "
                          f"--ddp-strategy {cfg.ddp_strategy}: {' '.join(str(exc).split())}") from None
    t = time.time()
    trainer.fit(module, train_dl, val_dl, ckpt_path=str(last) if resumed_from is not None else None)
    seen = len(train_s) * max(1, trainer.current_epoch)
    return module.history, {"fit_s": round(time.time() - t, 1), "epochs": trainer.current_epoch, "rank": trainer.global_rank,
                            "device": str(trainer.strategy.root_device), "precision": str(trainer.precision),
                            "resumed_from_epoch": resumed_from,
                            "train_images_per_s": round(seen / max(1e-9, time.time() - t), 1)}
