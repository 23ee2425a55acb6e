"""Training loop for detectors (Lightning Fabric) and the run folder it writes.

Fabric keeps the loop plain (detectors return loss dicts; torchvision models switch
behaviour on ``.train()``), while giving precision/device handling. The LR follows a
warm-up then cosine decay over *progress* = max(step / total steps, time / budget), so a
``max_minutes`` budget still ends with a decayed learning rate.
"""
from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benthos.data.detection import DetectionData, read_detection
from benthos.data.issues import DataIssue
from benthos.detect.config import DetectConfig
from benthos.detect.dataset import DetectionDataset, collate
from benthos.errors import ConfigError
from benthos.infer.device import loader_workers
from benthos.runs.atomic import atomic_write, atomic_write_json, atomic_write_text
from benthos.train.ema import EMA

CKPT = "checkpoints/last.ckpt"


def versions() -> dict:
    import timm
    import torchvision

    import benthos

    out = {"benthos": benthos.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
           "timm": timm.__version__}
    try:
        import lightning

        out["lightning"] = lightning.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def image_groups(data: DetectionData, pattern: str | None) -> list[str]:
    """The group (dive, video, transect) of every record: the first capture group of ``pattern``
    searched in the image path (the whole match if it has no group); unmatched images are
    their own group."""
    import re

    if not pattern:
        return [f"\0{i}" for i in range(len(data.records))]
    rx = re.compile(pattern)
    out = []
    for i, r in enumerate(data.records):
        m = rx.search(r.image_path.as_posix())
        out.append((m.group(1) if rx.groups else m.group(0)) if m else f"\0{i}")
    return out


def split_records(data: DetectionData, val_fraction: float, seed: int, group_pattern: str | None = None,
                  groups: list[str] | None = None) -> dict[str, list[int]]:
    """Seeded split (every record appears once). With ``group_pattern`` whole groups are drawn
    for validation until it holds ``val_fraction`` of the images, so frames of one dive or
    video never sit on both sides (frames of one video look alike: an image split flatters).
    ``groups``: :func:`image_groups` of ``data`` when the caller has them already."""
    groups = groups if groups is not None else image_groups(data, group_pattern)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = list(members)
    random.Random(seed).shuffle(keys)
    if len(keys) < 2:
        if group_pattern and len(data.records) > 1:
            from benthos.errors import ConfigError

            raise ConfigError(f"group_pattern {group_pattern!r} puts all {len(data.records)} images in one group; "
                              "a split needs at least two groups (check the pattern against your file names).")
        return {"train": sorted(range(len(data.records))), "val": []}
    target = max(1, round(len(data.records) * val_fraction))
    val: list[int] = []
    for g in keys[:-1]:  # the last group always trains
        if len(val) >= target:
            break
        if len(val) + len(members[g]) > target * 1.5 and val:
            continue  # a big group would overshoot the fraction; try smaller ones
        val += members[g]
    held = set(val)
    train = [i for i in range(len(data.records)) if i not in held]
    return {"train": sorted(train), "val": sorted(val)}


def reuse_split(data: DetectionData, path: str | os.PathLike) -> dict[str, list[int]]:
    """The split of an earlier run (its ``split.json``: image paths under "train" and "val") as
    indices into ``data``, so a new recipe or seed is measured on the same held-out images.
    A path is matched as a file (resolved), else by its file name if exactly one image of ``data``
    has that name (the data moved). Refused with a DataError unless it places every image of
    ``data`` exactly once: a held-out set that silently changed would not compare."""
    from collections import defaultdict

    from benthos.data.splits import read_split_file
    from benthos.errors import DataError

    path = Path(path)
    hint = "pass the split.json of a detection run trained on these annotations, or leave --split out"
    doc = read_split_file(path, "a detection run's split.json", hint)
    if not all(isinstance(doc.get(k), list) for k in ("train", "val")) \
            or not all(isinstance(p, str) for k in ("train", "val") for p in doc[k]):
        raise DataError(f"{path}: not a detection run's split.json (it needs lists of image paths under "
                        f"'train' and 'val'); {hint}.")
    by_path, by_name = defaultdict(list), defaultdict(list)
    for i, r in enumerate(data.records):
        by_path[os.path.abspath(r.image_path)].append(i)
        by_name[Path(r.image_path).name].append(i)
    split: dict[str, list[int]] = {}
    for k in ("train", "val"):
        listed, missing, split[k] = set(), [], []
        for p in doc[k]:
            if p in listed:
                raise DataError(f"{path}: {p} is listed twice under '{k}'; {hint}.")
            listed.add(p)
            exact = by_path.get(os.path.abspath(p))
            hits = exact or by_name.get(Path(p).name, [])
            if not exact and len(hits) > 1:
                raise DataError(f"{path}: {p} is not found as a file, and {len(hits)} images of the annotations "
                                f"have its name (e.g. {data.records[hits[0]].image_path}); its paths may be relative "
                                f"to the folder its run was trained from: run from there, or {hint}.")
            if not hits:
                missing.append(p)
            split[k] += hits
        if missing:
            raise DataError(f"{path}: {len(missing)} of its {len(doc[k])} {k} image(s) are not in the annotations "
                            f"(e.g. {missing[0]}); the split was made for other data: {hint}.")
    both = set(split["train"]) & set(split["val"])
    if both:
        raise DataError(f"{path}: {len(both)} image(s) are listed under both 'train' and 'val', e.g. "
                        f"{data.records[min(both)].image_path}; {hint}.")
    placed = set(split["train"]) | set(split["val"])
    if len(placed) < len(data.records):
        first = next(r.image_path for i, r in enumerate(data.records) if i not in placed)
        raise DataError(f"{path}: {len(data.records) - len(placed)} image(s) of the annotations are in neither "
                        f"its train nor its val list (e.g. {first}); {hint}.")
    return {k: sorted(set(v)) for k, v in split.items()}


def _resumed_split(data: DetectionData, out: Path, split: dict[str, list[int]]) -> None:
    """Refuse to resume a run's checkpoint on other training or held-out images than it started with."""
    from benthos.errors import DataError

    try:
        started = reuse_split(data, out / "split.json")
    except DataError as exc:
        raise DataError(f"{out}: cannot resume, its split.json does not fit these annotations ({exc}); "
                        "start a new run (another --out, or --no-resume)") from None
    if started != split:
        raise DataError(f"{out}: this run was started on another split ({len(started['val'])} held-out images, "
                        f"{len(split['val'])} now): resume it with the --split, --seed, --group-pattern and "
                        "--val-fraction it was started with (the same command), or start a new run "
                        "(another --out, or --no-resume)")


def build_model(cfg: DetectConfig, num_classes: int) -> torch.nn.Module:
    from benthos.detect.registry import create_detector

    opts = dict(cfg.extra, backbone=cfg.backbone, trainable_stages=cfg.trainable_stages,
                anchor_sizes=cfg.anchor_sizes, score_thresh=cfg.score_thresh, normalize=cfg.normalize)
    if cfg.box_vote:  # None (a run saved before the key existed) or 0: plain NMS
        opts["box_vote"] = cfg.box_vote
    for key in ("roi_op", "max_proposals"):  # None (or a run saved before the key existed): the builder's default
        if getattr(cfg, key, None) is not None:
            opts[key] = getattr(cfg, key)
    return create_detector(cfg.detector, num_classes, pretrained_backbone=cfg.pretrained_backbone,
                           image_size=cfg.image_size, **opts)


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    # clone: channels_last tensors are not contiguous, and safetensors refuses shared storage
    sd = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(sd, tmp, metadata={"format": "pt", "kind": "benthos-detector"}))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    from benthos.errors import WeightsError

    try:
        missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    except (OSError, RuntimeError) as exc:
        raise WeightsError(f"{path}: cannot load detector weights ({exc})") from exc
    if missing or unexpected:
        raise WeightsError(f"{path}: weights do not match the detector in run.json (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}); was the run folder edited?")


def set_input_size(model: torch.nn.Module, size: int) -> None:
    """Network input size (long side) for every detector family; crops train at scale 1 this way."""
    t = getattr(model, "transform", None)
    if t is not None:  # torchvision detectors
        t.min_size, t.max_size = (size,), size
        if getattr(t, "fixed_size", None):
            t.fixed_size = (size, size)
    else:
        model.image_size = size


def multiscale_sizes(size: int, jitter: float, step: int = 32) -> tuple[int, ...]:
    """Training sizes for multi-scale training: multiples of ``step`` within ``size`` * (1 +- jitter).

    The last entry is ``size`` itself, so a torchvision transform left with this tuple still
    predicts at ``size`` (it uses ``min_size[-1]`` in eval mode)."""
    lo, hi = max(step, math.ceil(size * (1 - jitter) / step) * step), int(size * (1 + jitter) // step) * step
    return tuple(s for s in range(lo, hi + 1, step) if s != size) + (size,)


def set_train_sizes(model: torch.nn.Module, size: int, jitter: float) -> None:
    """Multi-scale training on whole images: torchvision's transform draws one of these sizes per image.

    Measured on brittle stars (docs/bench_detect.md, 2026-12-04): jitter 0.25 gave held-out AP50
    0.357 at 640 px (0.396 at 736 px) against 0.392 for the default at one size: an option, off by default."""
    check_multiscale(model)
    sizes = multiscale_sizes(size, jitter)
    model.transform.min_size, model.transform.max_size = sizes, max(sizes)


def check_multiscale(model: torch.nn.Module) -> None:
    """Refuse multi-scale training for detectors whose input size is fixed (YOLO, SSD)."""
    t = getattr(model, "transform", None)
    if t is None or getattr(t, "fixed_size", None):
        raise ConfigError("scale_jitter without crop (multi-scale training on whole images) works for the torchvision "
                          "detectors (Faster R-CNN, RetinaNet, FCOS); for this detector use it with --crop")


def _lr_factor(progress: float, step: int, warmup: int) -> float:
    warm = min(1.0, (step + 1) / max(1, warmup))
    return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.no_grad()
def predict_records(model: torch.nn.Module, records, batch_size: int = 4, tile: int | None = None,
                    tile_overlap: float = 0.2, channels_last: bool = True,
                    issues: list | None = None) -> dict[int, dict]:
    """{image_id: {boxes, scores, labels (0-based)}} as numpy, for evaluation.

    An image that cannot be read has no entry (:func:`score_records` leaves it out of the
    score); its :class:`~benthos.data.issues.DataIssue` is appended to ``issues`` when given."""
    from benthos.detect.tiling import predict_tiled
    from benthos.infer.device import model_device

    model.eval()
    dev = model_device(model)
    ds = DetectionDataset(records, train=False)
    out = {}
    for i in range(0, len(ds), batch_size):
        ims, targets, skipped = collate([ds[k] for k in range(i, min(i + batch_size, len(ds)))])
        if issues is not None:
            issues.extend(skipped)
        if not ims:
            continue
        ims = [x.to(dev) for x in ims]  # channels_last lives in the weights; convs then run NHWC
        if tile:
            dets = [predict_tiled(model, x, tile, tile_overlap) for x in ims]
        else:
            dets = model(ims)
        for t, d in zip(targets, dets):
            out[int(t["image_id"])] = {"boxes": d["boxes"].cpu().numpy(), "scores": d["scores"].cpu().numpy(),
                                       "labels": d["labels"].cpu().numpy() - 1}
    return out


def score_records(model: torch.nn.Module, data: DetectionData, issues: list | None = None, tile: int | None = None,
                  channels_last: bool = True) -> tuple[dict, dict[int, dict], DetectionData]:
    """Predict ``data``'s images and score them by COCO metrics: (metrics, predictions, the data scored).

    An image that cannot be read is left out of the score (its boxes are not counted as misses),
    named in ``metrics["images_unreadable"]`` and its DataIssue appended to ``issues`` when given."""
    from benthos.detect.evaluate import coco_metrics

    skipped: list[DataIssue] = []
    preds = predict_records(model, data.records, tile=tile, channels_last=channels_last, issues=skipped)
    if skipped:
        data = data.subset([k for k, r in enumerate(data.records) if r.image_id in preds])
    metrics = coco_metrics(data, preds)
    metrics["images_unreadable"] = [i.path for i in skipped]
    if issues is not None:
        issues.extend(skipped)
    return metrics, preds, data


def _keep_old_normalisation(cfg: DetectConfig, out: Path, log: Callable[[str], None]) -> None:
    """A run started before 2026-12-04 (its config.yaml has no ``normalize``) resumes as it was trained."""
    import yaml

    if not (cfg.resume and (out / CKPT).is_file() and (out / "config.yaml").is_file()):
        return
    try:
        started = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return
    if isinstance(started, dict) and "normalize" not in started and cfg.normalize != "imagenet":
        log("this run was started with ImageNet input normalisation (before 2026-12-04): resuming with it")
        cfg.normalize = DetectConfig.trained_normalize(started)


def train_detector(annotations: str | os.PathLike | DetectionData, out: str | os.PathLike,
                   config: DetectConfig | None = None, images: str | os.PathLike | None = None,
                   format: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Train a detector on boxes in COCO/YOLO/VOC, write the run folder ``out``, return run.json's content."""
    from lightning.fabric import Fabric

    cfg = (config or DetectConfig()).resolved()
    out = Path(out)
    _keep_old_normalisation(cfg, out, log)
    data = annotations if isinstance(annotations, DetectionData) else read_detection(annotations, format, images)
    log(f"data: {data.describe()}")
    for issue in data.issues[:10]:
        log(f"  {issue}")
    if len(data.issues) > 10:
        log(f"  ... {len(data.issues) - 10} more issue(s), counted in run.json")
    if not data.records:
        from benthos.errors import DataError

        raise DataError(f"no usable images in {annotations}; see the issues above.")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # the model first: a bad builder option (e.g. anchor_sizes) is refused before the run folder
    # is written (the split below uses its own random.Random(seed), so the weights' init is unchanged)
    model = build_model(cfg, len(data.categories))
    if cfg.scale_jitter and not cfg.crop:
        check_multiscale(model)  # YOLO/SSD refused here, before the run folder is written
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.split:
        cfg.split = os.path.abspath(cfg.split)  # as config.yaml and run.json record it
        split, made = reuse_split(data, cfg.split), {"reused": cfg.split}
        log(f"split: {len(split['train'])} training and {len(split['val'])} held-out images, as in {cfg.split}")
    else:
        groups = image_groups(data, cfg.group_pattern)
        split = split_records(data, cfg.val_fraction, cfg.seed, cfg.group_pattern, groups=groups)
        made = {"seed": cfg.seed, "val_fraction": cfg.val_fraction, "group_pattern": cfg.group_pattern,
                "groups": len(set(groups))}
    if cfg.resume and (out / CKPT).is_file() and (out / "split.json").is_file():
        _resumed_split(data, out, split)
    train_data, val_data = data.subset(split["train"]), data.subset(split["val"])
    atomic_write_json(out / "split.json", {k: [os.path.abspath(data.records[i].image_path) for i in v]
                                           for k, v in split.items()})
    import yaml

    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    fabric = Fabric(accelerator="cpu" if not torch.cuda.is_available() else "auto", devices=1, precision="32-true")
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # R-CNN and Fast R-CNN: region proposals of every frame computed (or found in the cache) once, with progress
    proposals = model.proposal_provider() if hasattr(model, "proposal_provider") else None
    if proposals is not None:
        proposals.precompute(data.records, log)
    ds = DetectionDataset(train_data.records, train=True, hflip=cfg.hflip, vflip=cfg.vflip, transpose=cfg.transpose,
                          color_jitter=cfg.color_jitter, tile=cfg.tile, tile_overlap=cfg.tile_overlap,
                          crop=cfg.crop, input_size=cfg.image_size, scale_jitter=cfg.scale_jitter,
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
        log(f"resuming from {ckpt} at epoch {start_epoch}")

    steps_per_epoch = min(len(loader), cfg.limit_train_batches or len(loader))
    total = max(1, steps_per_epoch * cfg.epochs)
    budget = cfg.max_minutes * 60 if cfg.max_minutes else None
    t0 = time.monotonic() - spent
    stopped = False
    if hasattr(net, "custom_fit"):  # trained in stages by the model itself (R-CNN: CNN, then SVMs, regressors)
        history = net.custom_fit(train_data, val_data, cfg, out, log)
        _write_history(out, history)
        start_epoch, ema = cfg.epochs, None  # nothing left for the gradient loop; the model itself is saved
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        if cfg.crop:
            set_input_size(net, cfg.crop)
        elif cfg.scale_jitter:
            set_train_sizes(net, cfg.image_size, cfg.scale_jitter)
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
                g["lr"] = cfg.lr * _lr_factor(progress, step, cfg.warmup_steps)
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
        set_input_size(net, cfg.image_size)
        final = ema.module if ema is not None else net  # the weights that are evaluated and saved
        row = {"epoch": epoch + 1, "step": step, "seconds": round(time.monotonic() - t0, 1),
               "lr": opt.param_groups[0]["lr"], **{k: v / max(n, 1) for k, v in sums.items()}}
        if cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0) and val_data.records:
            m = score_records(final, val_data, channels_last=cfg.channels_last)[0]
            row.update(val_mAP=m["mAP"], val_AP50=m["AP50"])
            if best is None or m["AP50"] > best:
                best = m["AP50"]
                _save_weights(final, out / "model.safetensors")
        history.append(row)
        log("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        _write_history(out, history)
        state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1, "step": step,
                 "seconds": time.monotonic() - t0, "history": history, "best": best}
        if ema is not None:
            state.update(ema=ema.module.state_dict(), ema_updates=ema.updates)
        atomic_write(ckpt, lambda tmp: torch.save(state, tmp))
        if stopped:
            log(f"time budget of {cfg.max_minutes} min reached after epoch {epoch + 1}")
            break
    train_seconds = time.monotonic() - t0
    if ema is not None:
        net = ema.module
    if not cfg.eval_every or best is None:
        _save_weights(net, out / "model.safetensors")
    else:  # evaluate the kept (best) weights
        load_weights(net, out / "model.safetensors")
    data.issues.extend(unreadable.values())

    from benthos.detect.tta import with_tta

    scorer = with_tta(net, cfg.tta)
    val_preds, metrics = {}, {}
    if val_data.records:
        skipped: list[DataIssue] = []
        metrics, val_preds, val_data = score_records(scorer, val_data, skipped, channels_last=cfg.channels_last)
        for issue in skipped:
            log(f"not scored: {issue}")
        data.issues.extend(skipped)
        metrics["tta"] = bool(cfg.tta)
        from benthos.detect.predict import box_vote_of

        metrics["box_vote"] = box_vote_of(scorer)  # what the scored model did, as `detect evaluate` records it
    curves = metrics.pop("pr_curves", None)
    info = {
        "kind": "detector", "detector": cfg.detector, "categories": data.categories,
        "image_size": cfg.image_size, "config": cfg.to_dict(),
        "builder_options": {"backbone": cfg.backbone, "anchor_sizes": cfg.anchor_sizes, **cfg.extra},
        "metrics": metrics, "train_seconds": round(train_seconds, 1), "epochs_done": len(history),
        "steps": history[-1]["step"] if history else 0,
        "params": sum(p.numel() for p in net.parameters()), "data": data.summary(),
        "issues": [i.to_dict() for i in data.issues[:200]],
        "split": {**made, "train": len(split["train"]), "val": len(split["val"]), "file": "split.json"},
        "versions": versions(),
    }
    atomic_write_json(out / "run.json", info)
    log(f"val: mAP={metrics.get('mAP', float('nan')):.3f} AP50={metrics.get('AP50', float('nan')):.3f} "
        f"({train_seconds / 60:.1f} min training) -> {out}")
    if val_data.records:  # evaluation.json and the held-out images' report, from the predictions just made
        from benthos.detect.report import write_evaluation

        write_evaluation(out, info, {**metrics, "pr_curves": curves, "split": "val"}, val_data, val_preds)
        log(f"report: {out / 'report.html'}")
    return info


def _write_history(out: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in history]
    atomic_write_text(out / "metrics.csv", "\n".join(lines) + "\n")
