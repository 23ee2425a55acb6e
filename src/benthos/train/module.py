"""The LightningModule: a zoo model, its loss, per-stage learning rates, EMA weights."""
from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F

from benthos.models import ZooModel
from benthos.train.config import TrainConfig
from benthos.train.ema import EMA


def stage_param_groups(model: ZooModel, cfg: TrainConfig) -> list[dict]:
    """One optimiser group per stage: the head at ``lr``, each stage below at ``lr * lr_decay^depth``
    (the lecture's 'smaller learning rates for the lower, more generic layers'). No weight decay
    on biases and norms."""
    groups = model.param_groups()
    n = len(groups)
    out = []
    for i, (name, params) in enumerate(groups):
        depth = n - 1 - i
        lr = cfg.lr * (cfg.lr_decay**depth if cfg.strategy in ("fine-tune", "gradual", "freeze-bottom") else 1.0)
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        for ps, wd in ((decay, cfg.weight_decay), (no_decay, 0.0)):
            if ps:
                out.append({"params": ps, "lr": lr, "initial_lr": lr, "weight_decay": wd, "stage": name})
    return out


class ClassifierModule(pl.LightningModule):
    def __init__(self, model: ZooModel, cfg: TrainConfig, class_weights: torch.Tensor | None, steps_per_epoch: int):
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(model.num_classes))
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.history: list[dict] = []
        self._reset_epoch_stats()

    # -- steps ---------------------------------------------------------------------------
    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, weight=self.class_weights, label_smoothing=self.cfg.label_smoothing)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        lam, perm = 1.0, None
        if self.cfg.mixup > 0:  # mixup (Zhang et al. 2018): blended images, the loss blended alike
            a = torch.tensor(float(self.cfg.mixup))
            lam = float(torch.distributions.Beta(a, a).sample())
            perm = torch.randperm(len(y), device=y.device)
            x = lam * x + (1 - lam) * x[perm]

        def loss_of(z):
            return self._loss(z, y) if perm is None else lam * self._loss(z, y) + (1 - lam) * self._loss(z, y[perm])

        logits, aux = self.model.forward_with_aux(x)
        loss = loss_of(logits) + sum(self.cfg.aux_weight * loss_of(a) for a in aux)
        if perm is not None and lam < 0.5:
            y = y[perm]  # training accuracy against the dominant image's label
        self._train_loss += float(loss.detach()) * len(y)
        self._train_correct += int((logits.argmax(-1) == y).sum())
        self._train_n += len(y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        self.log("train_acc", (logits.argmax(-1) == y).float().mean(), on_step=False, on_epoch=True, batch_size=len(y),
                 sync_dist=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.ema is not None:
            if next(self.ema.module.parameters()).device != self.device:
                self.ema.module.to(self.device)
            self.ema.update(self.model)

    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def validation_step(self, batch, batch_idx):
        x, y = batch
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.eval_model()(x)
        # unweighted, unsmoothed loss: the honest quantity to early-stop on
        loss = F.cross_entropy(logits, y)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        self.log("val_acc", (logits.argmax(-1) == y).float().mean(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(y), sync_dist=True)

    def on_validation_epoch_end(self):
        # validation runs after this epoch's training batches and before the checkpoint is
        # written (on_validation_end), so the row is complete and travels with the checkpoint
        if self.trainer.sanity_checking:
            return
        self.record_epoch()

    def record_epoch(self) -> None:
        """Append this epoch's row (training statistics, and validation metrics when there are any)."""
        m = self.trainer.callback_metrics
        n = max(1, self._train_n)
        row = {"epoch": self.current_epoch, "train_loss": self._train_loss / n, "train_acc": self._train_correct / n}
        for k in ("val_loss", "val_acc"):
            if k in m:
                row[k] = float(m[k])
        self.history.append(row)

    def _reset_epoch_stats(self) -> None:
        self._train_loss, self._train_correct, self._train_n = 0.0, 0, 0

    # -- freezing ------------------------------------------------------------------------
    def on_train_epoch_start(self):
        self._reset_epoch_stats()
        cfg = self.cfg
        # >=, not ==: a run resumed after the unfreezing epoch builds its model frozen again
        if cfg.strategy == "gradual" and self.current_epoch >= cfg.gradual_epochs:
            for p in self.model.parameters():
                p.requires_grad_(True)
        # frozen layers keep their ImageNet BN statistics
        for m in self.model.frozen_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()

    # -- optimiser -----------------------------------------------------------------------
    def configure_optimizers(self):
        opt = torch.optim.AdamW(stage_param_groups(self.model, self.cfg))
        total = self.steps_per_epoch * self.cfg.epochs
        warm = int(self.steps_per_epoch * self.cfg.warmup_epochs)

        def schedule(step: int) -> float:  # linear warm-up, then cosine to 1% of the peak
            if step < warm:
                return (step + 1) / warm
            t = min(1.0, (step - warm) / max(1, total - warm))
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- checkpoint extras: EMA weights and history travel with the resumable state --------
    def on_save_checkpoint(self, checkpoint):
        if self.ema is not None:
            checkpoint["ema_state"] = self.ema.module.state_dict()
            checkpoint["ema_updates"] = self.ema.updates
        checkpoint["history"] = self.history

    def on_load_checkpoint(self, checkpoint):
        if self.ema is not None and "ema_state" in checkpoint:
            self.ema.module.load_state_dict(checkpoint["ema_state"])
            self.ema.updates = checkpoint.get("ema_updates", 0)
        self.history = list(checkpoint.get("history", []))
