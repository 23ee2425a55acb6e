"""The detector training loop (Lightning Fabric): it trains and checkpoints, nothing else.

Fabric keeps the loop plain (detectors return loss dicts; torchvision models switch
behaviour on ``.train()``), while giving precision/device handling. The LR follows a
warm-up then cosine decay over *progress* = max(step / total steps, time / budget), so a
``max_minutes`` budget still ends with a decayed learning rate.

A resumed run is the run it would have been: the checkpoint written after every epoch holds the
weights, the optimizer, the EMA, the history and the state of every random generator (Python's,
NumPy's, torch's and the loader's shuffling), so with the same settings on the same machine an
interrupted and resumed run of a fixed number of epochs ends with the same weights as one that
was never stopped. (A time budget, ``max_minutes``, makes the schedule depend on the clock.)

Detectors that are not trained by one gradient loop (R-CNN's SVMs) define ``custom_fit``; the
engine then calls it instead of the loop. The whole job around it (data, split, run.json,
evaluation, report) is :func:`benthos.tasks.detect.train`.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benthos.data.detection import DetectionData
from benthos.data.issues import DataIssue
from benthos.detect.config import DetectConfig
from benthos.detect.dataset import DetectionDataset, collate
from benthos.detect.sizing import set_input_size, set_train_sizes
from benthos.infer.device import loader_workers
from benthos.runs.atomic import atomic_write, atomic_write_text
from benthos.runs.run import METRICS, save_weights
from benthos.train.ema import EMA

CKPT = "checkpoints/last.ckpt"


@dataclass
class Fit:
    """What training produced: the module to save and score (the EMA's when on), one row per epoch,
    the training time, and the frames that could not be read (one issue each)."""

    model: torch.nn.Module
    history: list[dict]
    seconds: float
    unreadable: list[DataIssue] = field(default_factory=list)
    kept_best: bool = False  # the weights file holds the best epoch (eval_every), not the last


def lr_factor(progress: float, step: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps or the first quarter of the run, whichever ends first (a
    short time budget must not end inside its warm-up), then cosine decay to 2% at ``progress`` 1."""
    warm = min(1.0, max((step + 1) / max(1, warmup), progress / 0.25))
    return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _rng_state(gen: torch.Generator) -> dict:
    np_state = np.random.get_state()
    py = random.getstate()
    return {"python": list(py[1]), "python_pos": py[2], "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
            "numpy_pos": int(np_state[2]), "torch": torch.get_rng_state(), "loader": gen.get_state()}


def _set_rng_state(state: dict, gen: torch.Generator) -> None:
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])
    gen.set_state(state["loader"])


def fit_detector(model: torch.nn.Module, train_data: DetectionData, val_data: DetectionData, cfg: DetectConfig,
                 out: Path, log: Callable[[str], None] = print) -> Fit:
    """Train ``model`` (built from the resolved ``cfg``) on ``train_data``; checkpoint into ``out`` after
    every epoch and resume from its checkpoint when ``cfg.resume``. With ``cfg.eval_every`` the best
    epoch on ``val_data`` (AP50) is kept in ``out/model.safetensors``; otherwise the caller saves
    :attr:`Fit.model`."""
    from lightning.fabric import Fabric

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # R-CNN and Fast R-CNN: the region proposals of every frame computed (or found in the cache) once, with progress
    proposals = model.proposal_provider() if hasattr(model, "proposal_provider") else None
    if proposals is not None:
        proposals.precompute(train_data.records + val_data.records, log)
    if hasattr(model, "custom_fit"):  # trained in stages of its own (R-CNN: CNN, then SVMs, then box regressors)
        t0 = time.monotonic()
        history = model.custom_fit(train_data, val_data, cfg, out, log)
        write_history(out, history)
        return Fit(model, history, time.monotonic() - t0)

    fabric = Fabric(accelerator="cpu" if not torch.cuda.is_available() else "auto", devices=1, precision="32-true")
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ds = DetectionDataset(train_data.records, train=True, hflip=cfg.hflip, vflip=cfg.vflip, transpose=cfg.transpose,
                          color_jitter=cfg.color_jitter, tile=cfg.tile, tile_overlap=cfg.tile_overlap,
                          crop=cfg.crop, input_size=cfg.input_size, scale_jitter=cfg.scale_jitter,
                          proposals=proposals)
    gen = torch.Generator().manual_seed(cfg.seed)
    # on a CPU frames are read in the training process: four 640 px frames take ~0.1 s of a ~2 s step
    workers = loader_workers(cfg.num_workers, fabric.device)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, collate_fn=collate,
                                         num_workers=workers, persistent_workers=workers > 0,
                                         pin_memory=fabric.device.type == "cuda", generator=gen,
                                         drop_last=len(ds) > cfg.batch_size)
    unreadable: dict[str, DataIssue] = {}  # one issue per image, however many epochs met it
    net = model  # the plain module: trained through Fabric's wrapper, saved and loaded without it
    ema = EMA(net, cfg.ema_decay) if cfg.ema_decay > 0 else None
    model, opt = fabric.setup(model, opt)
    if ema is not None:
        ema.module.to(fabric.device)

    start_epoch, step, spent, history, best = 0, 0, 0.0, [], None
    ckpt = out / CKPT
    if cfg.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch, step, spent = state["epoch"], state["step"], state["seconds"]
        if ema is not None and "ema" in state:
            ema.module.load_state_dict(state["ema"])
            ema.updates = state.get("ema_updates", step)
        history, best = state.get("history", []), state.get("best")
        if "rng" in state:  # checkpoints written before the generators were saved resume with fresh ones
            _set_rng_state(state["rng"], gen)
        log(f"resuming from {ckpt} at epoch {start_epoch}")

    steps_per_epoch = min(len(loader), cfg.limit_train_batches or len(loader))
    total = max(1, steps_per_epoch * cfg.epochs)
    budget = cfg.max_minutes * 60 if cfg.max_minutes else None
    t0 = time.monotonic() - spent
    stopped = False
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        if cfg.crop:
            set_input_size(net, cfg.crop)
        elif cfg.scale_jitter:
            set_train_sizes(net, cfg.input_size, cfg.scale_jitter)
        sums: dict[str, float] = {}
        n = 0
        for b, (ims, targets, skipped) in enumerate(loader):
            if b >= steps_per_epoch:
                break
            for issue in skipped:
                if issue.path not in unreadable:
                    unreadable[issue.path] = issue
                    log(f"skipped {issue}")
            if not ims:
                continue
            elapsed = time.monotonic() - t0
            progress = max(step / total, elapsed / budget if budget else 0.0)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(progress, step, cfg.warmup_steps)
            ims = [im.to(fabric.device, non_blocking=True) for im in ims]
            targets = [{k: v.to(fabric.device) if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
            losses = model(ims, targets)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                log(f"epoch {epoch + 1} step {b + 1}: non-finite loss {float(loss)}, batch skipped")
                opt.zero_grad(set_to_none=True)
                continue
            opt.zero_grad(set_to_none=True)
            fabric.backward(loss)
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            if ema is not None:
                ema.update(net)
            step += 1
            n += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            if budget and time.monotonic() - t0 > budget:
                stopped = True
                break
        set_input_size(net, cfg.input_size)
        final = ema.module if ema is not None else net  # the weights that are evaluated and saved
        row = {"epoch": epoch + 1, "step": step, "seconds": round(time.monotonic() - t0, 1),
               "lr": opt.param_groups[0]["lr"], **{k: v / max(n, 1) for k, v in sums.items()}}
        if cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0) and val_data.records:
            from benthos.detect.inference import score_records

            m = score_records(final, val_data)[0]
            row.update(val_mAP=m["mAP"], val_AP50=m["AP50"])
            if best is None or m["AP50"] > best:
                best = m["AP50"]
                save_weights(out, final.state_dict(), {"kind": "benthos-detector"})
        history.append(row)
        log("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        write_history(out, history)
        state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1, "step": step,
                 "seconds": time.monotonic() - t0, "history": history, "best": best, "rng": _rng_state(gen)}
        if ema is not None:
            state.update(ema=ema.module.state_dict(), ema_updates=ema.updates)
        atomic_write(ckpt, lambda tmp: torch.save(state, tmp))
        if stopped:
            log(f"time budget of {cfg.max_minutes} min reached after epoch {epoch + 1}")
            break
    final = ema.module if ema is not None else net
    return Fit(final, history, time.monotonic() - t0, list(unreadable.values()), kept_best=best is not None)


def write_history(out: Path, history: list[dict]) -> None:
    """One row per epoch in ``RUN/logs/metrics.csv`` (where classifier runs log theirs too)."""
    keys = list(dict.fromkeys(k for row in history for k in row))
    lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in history]
    atomic_write_text(out / METRICS, "\n".join(lines) + "\n")
