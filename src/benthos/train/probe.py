"""Linear probe: the backbone is frozen, so its features are computed once and cached; every
epoch after the first trains only the head on the cache (the CoralNet/pyspacer recipe)."""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.nn import functional as F

from benthos.data import ImageDataset, eval_transforms
from benthos.runs import save_weights
from benthos.runs.run import unreadable_log


def extract_features(model, samples, class_to_idx, pre, batch_size: int = 64, num_workers: int = 0,
                     channels_last: bool = True, failure_log=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-logit features (on the CPU) and labels; computed on the GPU when there is one, the model
    is then moved back to where it was. The moves happen outside inference mode: parameters moved
    inside it become inference tensors, which later take no gradient (the head would not train)."""
    from benthos.infer.device import model_device, pick_device

    tf = eval_transforms(pre)
    # photo by photo, so the patches (boxes, points) of one photo cost one decode; returned in the given order
    order = sorted(range(len(samples)), key=lambda i: str(samples[i].path))
    ds = ImageDataset([samples[i] for i in order], class_to_idx, tf, failure_log=failure_log, reuse_photo=True)
    loader = torch.utils.data.DataLoader(ds, batch_size, num_workers=num_workers)
    model.eval()
    home, dev = model_device(model), pick_device()
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    feats, labels = [], []
    try:
        with torch.inference_mode():
            for x, y in loader:
                x = x.to(dev, non_blocking=True)
                x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
                feats.append(model.forward_features(x).flatten(1).float().cpu())
                labels.append(y)
    finally:
        model.to(home)
    back = torch.empty(len(order), dtype=torch.long)
    back[torch.as_tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return torch.cat(feats)[back], torch.cat(labels)[back]


def fit_linear_probe(model, cfg, train_s, val_s, class_to_idx, pre, run_dir: Path):
    """Train ``model.head`` on cached features; returns (history, timings).

    A plain loop on purpose: one epoch over cached features takes milliseconds, so a
    framework's per-epoch machinery would cost more than the work.
    """
    if not isinstance(model.head, torch.nn.Linear):
        from benthos.errors import BenthosError

        raise BenthosError(f"linear-probe needs a model whose head is one linear layer; {cfg.model}'s is "
                           f"{type(model.head).__name__}. Use --strategy freeze-bottom instead.")
    t0 = time.time()
    workers = cfg.loader_workers()
    flog = unreadable_log(run_dir)
    xtr, ytr = extract_features(model, train_s, class_to_idx, pre, num_workers=workers, failure_log=flog)
    xva, yva = extract_features(model, val_s, class_to_idx, pre, num_workers=workers, failure_log=flog)
    t_cache = time.time() - t0
    head = model.head
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6  # standardise: one learning rate fits every backbone
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr * 5, weight_decay=cfg.weight_decay)
    counts = torch.bincount(ytr, minlength=len(class_to_idx)).float()
    weight = (counts.sum() / (len(counts) * counts.clamp(min=1))) if cfg.balance != "none" else None
    g = torch.Generator().manual_seed(cfg.seed)
    history, best, best_state, bad, epoch_times = [], float("inf"), None, 0, []
    # fold the standardisation into the head so the saved model takes raw features
    for epoch in range(cfg.epochs * 4):  # head epochs are nearly free: allow more of them
        te = time.time()
        head.train()
        perm = torch.randperm(len(ytr), generator=g)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = F.cross_entropy(head((xtr[idx] - mean) / std), ytr[idx], weight=weight, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        head.eval()
        with torch.no_grad():
            logits = head((xva - mean) / std)
            vloss = float(F.cross_entropy(logits, yva))
            vacc = float((logits.argmax(-1) == yva).float().mean())
        epoch_times.append(time.time() - te)
        history.append({"epoch": epoch, "train_loss": total / len(ytr), "val_loss": vloss, "val_acc": vacc})
        if vloss < best - 1e-4:
            best, bad = vloss, 0
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        else:
            bad += 1
            if bad > cfg.patience * 3:
                break
    head.load_state_dict(best_state)
    _fold_standardisation(head, mean, std)
    save_weights(run_dir, model.native_state_dict())
    first = t_cache + epoch_times[0]
    later = sum(epoch_times[1:]) / max(1, len(epoch_times) - 1)
    return history, {"fit_s": round(time.time() - t0, 2), "epochs": len(history), "feature_cache_s": round(t_cache, 2),
                     "first_epoch_s": round(first, 3), "later_epoch_s": round(later, 5),
                     "speedup_after_first": round(first / max(later, 1e-9), 1)}


@torch.no_grad()
def _fold_standardisation(head: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
    """W((x - m)/s) + b == (W/s) x + (b - W m/s): the saved head works on raw features."""
    w = head.weight / std
    head.bias.sub_((head.weight * (mean / std)).sum(1))
    head.weight.copy_(w)
