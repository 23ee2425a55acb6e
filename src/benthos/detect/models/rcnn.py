"""R-CNN (Girshick et al., CVPR 2014): every region proposal warped through a CNN, one SVM per class.

Test time, per image: selective-search proposals (:mod:`benthos.detect.proposals`, cached);
each proposal grown by context padding (16 px at the paper's 227 px warp) and warped to a
square ``crop_size`` input (anisotropically, as the paper; outside the image is the mean
pixel); the zoo classifier's pooled features (efficientnet_lite0, 1280-d) of every warp; one
linear SVM score per class, turned into a probability by a per-class logistic fit (Platt);
class-wise NMS (IoU 0.3); then class-specific box regression on the same features.

Training is the paper's three stages, not one gradient loop (:meth:`RCNN.custom_fit`):

1. fine-tune the CNN on warped regions: proposals with IoU >= 0.5 to a box are that box's
   class, the rest background; batches with a quarter foreground; softmax over C + 1.
2. linear SVMs (scikit-learn), one per class: positives are the annotated boxes, negatives
   proposals with IoU < 0.3 to every box of the class, with hard-negative mining (rounds of
   retraining on the negatives inside the margin). Features are normalised to a mean L2
   norm of 20, as in the paper.
3. box regression (ridge, lambda 1000): per class, from the features of proposals with
   IoU >= 0.6 to one of its boxes, the (dx, dy, dw, dh) targets of the paper.

Features of stage 2/3 are cached on disk per image (keyed by the image's pixels, the
proposals used, the CNN weights and the warp settings), so refitting the SVMs or
regressors with the same CNN costs no CNN pass. Everything learned lives in parameters and
buffers, so the run's model.safetensors holds the whole detector (no sklearn objects kept).

Selective search and thousands of CNN passes per frame make this the slowest detector here
by far, which is the lecture's point; ``max_proposals`` (500 by default here, 2000 in the
paper) and ``crop_size`` (112 px, the paper's 227 px) bound the cost on a CPU.
"""
from __future__ import annotations

import hashlib
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_iou, roi_align

from benthos.detect.proposals import make_provider
from benthos.detect.registry import register_detector

CONTEXT = 16 / 227  # the paper's context padding, as a fraction of the warped size


def grow(boxes: torch.Tensor, crop_size: int, context: float = CONTEXT) -> torch.Tensor:
    """Boxes grown so that, warped to ``crop_size``, ``context * crop_size`` px of surroundings
    lie around the original box on each side."""
    pad = context * crop_size
    f = crop_size / max(crop_size - 2 * pad, 1.0)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * f
    return torch.cat([c - half, c + half], 1)


def encode(gt: torch.Tensor, props: torch.Tensor) -> torch.Tensor:
    """R-CNN's regression targets (dx, dy, dw, dh) of boxes ``gt`` from proposals ``props``."""
    pw, ph = (props[:, 2] - props[:, 0]).clamp(min=1), (props[:, 3] - props[:, 1]).clamp(min=1)
    gw, gh = (gt[:, 2] - gt[:, 0]).clamp(min=1), (gt[:, 3] - gt[:, 1]).clamp(min=1)
    return torch.stack([((gt[:, 0] + gt[:, 2]) - (props[:, 0] + props[:, 2])) / 2 / pw,
                        ((gt[:, 1] + gt[:, 3]) - (props[:, 1] + props[:, 3])) / 2 / ph,
                        (gw / pw).log(), (gh / ph).log()], 1)


def decode(deltas: torch.Tensor, props: torch.Tensor) -> torch.Tensor:
    pw, ph = (props[:, 2] - props[:, 0]).clamp(min=1), (props[:, 3] - props[:, 1]).clamp(min=1)
    cx, cy = (props[:, 0] + props[:, 2]) / 2 + deltas[:, 0] * pw, (props[:, 1] + props[:, 3]) / 2 + deltas[:, 1] * ph
    w, h = pw * deltas[:, 2].clamp(max=math.log(1000 / 16)).exp(), ph * deltas[:, 3].clamp(max=math.log(1000 / 16)).exp()
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


class RCNN(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "efficientnet_lite0", pretrained_backbone: bool = True,
                 image_size: int = 640, crop_size: int = 112, trainable_stages: int | None = None,
                 score_thresh: float = 0.05, nms_thresh: float = 0.3, detections_per_img: int = 300,
                 normalize: str = "backbone", proposer=None, rois_per_image: int = 32, feature_batch: int = 128,
                 svm_c: float = 1e-3, negatives_per_image: int = 96, ridge: float = 1000.0) -> None:
        super().__init__()
        from benthos.detect.backbones import trunk_normalisation, zoo_classifier

        zoo = zoo_classifier(backbone, pretrained_backbone, trainable_stages)
        self.cnn = zoo.body  # pooled features
        dim = zoo.head.in_features
        self.num_classes, self.image_size, self.crop_size = num_classes, image_size, crop_size
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.rois_per_image, self.feature_batch = rois_per_image, feature_batch
        self.svm_c, self.negatives_per_image, self.ridge = svm_c, negatives_per_image, ridge
        self.proposer = proposer
        self.finetune_head = nn.Linear(dim, num_classes + 1)  # stage 1's softmax; scores until the SVMs exist
        # stages 2-3: learned outside autograd, kept as buffers so model.safetensors holds them
        self.register_buffer("fitted", torch.zeros(()))
        self.register_buffer("feat_scale", torch.ones(()))
        self.register_buffer("svm_weight", torch.zeros(num_classes, dim))
        self.register_buffer("svm_bias", torch.zeros(num_classes))
        self.register_buffer("platt", torch.tensor([[1.0, 0.0]] * num_classes))
        self.register_buffer("reg_weight", torch.zeros(num_classes, 4, dim))
        self.register_buffer("reg_bias", torch.zeros(num_classes, 4))
        mean, std = trunk_normalisation(backbone, normalize)
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)

    def proposal_provider(self):
        return self.proposer

    # -- regions -> features
    def _proposals(self, image: torch.Tensor, given: torch.Tensor | None = None) -> torch.Tensor:
        from torchvision.ops import boxes as box_ops

        p = (self.proposer.tensor(image) if given is None else given.to(image.device)).reshape(-1, 4).float()
        p = box_ops.clip_boxes_to_image(p, tuple(image.shape[-2:]))
        return p[box_ops.remove_small_boxes(p, 1.0)]

    def warp(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """(K, 3, crop, crop) normalised warps of ``boxes`` (grown by the context padding) of ``image``."""
        x = ((image - self.mean) / self.std)[None]
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), grow(boxes, self.crop_size)], 1)
        return roi_align(x, rois, self.crop_size, 1.0, sampling_ratio=2, aligned=True)

    def features(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        out = [self.cnn(self.warp(image, boxes[i: i + self.feature_batch]))
               for i in range(0, len(boxes), self.feature_batch)]
        return torch.cat(out) if out else boxes.new_zeros(0, self.finetune_head.in_features)

    # -- stage 1 (also what a plain gradient step trains): softmax over warped regions
    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        if not self.training:
            return [self.detect(im) for im in images]
        if targets is None:
            raise ValueError("targets are needed in training mode")
        crops, labels = [], []
        for im, t in zip(images, targets):
            gt, lab = t["boxes"].reshape(-1, 4).float(), t["labels"].long()
            boxes = torch.cat([gt, self._proposals(im, t.get("proposals"))])
            if len(boxes) == 0:
                boxes = im.new_tensor([[0, 0, im.shape[-1], im.shape[-2]]])  # the whole frame, as background
            y = torch.zeros(len(boxes), dtype=torch.long, device=im.device)
            if len(gt):
                iou, g = box_iou(boxes, gt).max(1)
                y = torch.where(iou >= 0.5, lab[g], y)
            fg, bg = (y > 0).nonzero()[:, 0], (y == 0).nonzero()[:, 0]
            nf = min(len(fg), self.rois_per_image // 4)
            pick = torch.cat([fg[torch.randperm(len(fg))[:nf]], bg[torch.randperm(len(bg))[: self.rois_per_image - nf]]])
            crops.append(self.warp(im, boxes[pick]))
            labels.append(y[pick])
        logits = self.finetune_head(self.cnn(torch.cat(crops)))
        return {"loss_classifier": F.cross_entropy(logits, torch.cat(labels))}

    # -- test time
    def scores(self, feats: torch.Tensor) -> torch.Tensor:
        """(P, C) class probabilities: Platt-scaled SVM margins once fitted, else the fine-tuning softmax."""
        if not bool(self.fitted):
            return self.finetune_head(feats).softmax(-1)[:, 1:]
        margin = feats * self.feat_scale @ self.svm_weight.t() + self.svm_bias
        return torch.sigmoid(self.platt[:, 0] * margin + self.platt[:, 1])

    @torch.no_grad()
    def detect(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        props = self._proposals(image)
        feats = self.features(image, props)
        probs = self.scores(feats)
        idx, lab = (probs > self.score_thresh).nonzero(as_tuple=True)
        sc = probs[idx, lab]
        boxes = props[idx]
        if bool(self.fitted) and len(idx):  # class-specific regression, applied after NMS as the paper
            keep = batched_nms(boxes, sc, lab, self.nms_thresh)[: self.detections_per_img]
            idx, lab, sc = idx[keep], lab[keep], sc[keep]
            deltas = torch.einsum("pd,pkd->pk", feats[idx] * self.feat_scale, self.reg_weight[lab]) + self.reg_bias[lab]
            boxes = decode(deltas, props[idx])
            h, w = image.shape[-2:]
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        else:
            keep = batched_nms(boxes, sc, lab, self.nms_thresh)[: self.detections_per_img]
            boxes, sc, lab = boxes[keep], sc[keep], lab[keep]
        return {"boxes": boxes, "scores": sc, "labels": lab + 1}

    # -- the three training stages
    def custom_fit(self, train_data, val_data, cfg, out: Path, log) -> list[dict]:
        """Fine-tune the CNN, then fit the SVMs and box regressors (the engine saves and scores after).

        With ``cfg.max_minutes`` the budget is split: half for fine-tuning, 35% for features (images
        in a seeded order until it is spent), the rest for the SVMs and regressors."""
        budget = cfg.max_minutes * 60 if cfg.max_minutes else None
        t0 = time.monotonic()
        history = self._finetune(train_data, cfg, log, budget * 0.5 if budget else None)
        step = history[-1]["step"] if history else 0
        self.eval()
        remaining = budget - (time.monotonic() - t0) if budget else None
        pool = self._feature_pool(train_data, cfg, log, remaining * 0.7 if budget else None)
        history.append({"epoch": len(history) + 1, "stage": "features", "step": step, "images": pool["images"],
                        "cached": pool["cached"], "seconds": round(time.monotonic() - t0, 1)})
        svm = self._fit_svms(pool, log)
        history.append({"epoch": len(history) + 1, "stage": "svm", "step": step, **svm,
                        "seconds": round(time.monotonic() - t0, 1)})
        reg = self._fit_regressors(pool, log)
        history.append({"epoch": len(history) + 1, "stage": "bbox_reg", "step": step, **reg,
                        "seconds": round(time.monotonic() - t0, 1)})
        self.fitted.fill_(1.0)
        return history

    def _finetune(self, data, cfg, log, seconds: float | None) -> list[dict]:
        from benthos.detect.dataset import DetectionDataset, collate
        from benthos.detect.engine import lr_factor

        ds = DetectionDataset(data.records, train=True, hflip=cfg.hflip, vflip=cfg.vflip, transpose=cfg.transpose,
                              color_jitter=cfg.color_jitter, proposals=self.proposer)
        loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, collate_fn=collate,
                                             generator=torch.Generator().manual_seed(cfg.seed),
                                             drop_last=len(ds) > cfg.batch_size)
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        steps = max(1, min(len(loader), cfg.limit_train_batches or len(loader)) * cfg.epochs)
        t0, step, history = time.monotonic(), 0, []
        for epoch in range(cfg.epochs):
            self.train()
            total, n = 0.0, 0
            for b, (ims, targets, _) in enumerate(loader):
                if cfg.limit_train_batches and b >= cfg.limit_train_batches:
                    break
                if not ims:
                    continue
                progress = max(step / steps, (time.monotonic() - t0) / seconds if seconds else 0.0)
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(progress, step, cfg.warmup_steps)
                loss = self(list(ims), list(targets))["loss_classifier"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                step, total, n = step + 1, total + float(loss.detach()), n + 1
                if seconds and time.monotonic() - t0 > seconds:
                    break
            row = {"epoch": epoch + 1, "stage": "finetune", "step": step, "seconds": round(time.monotonic() - t0, 1),
                   "lr": opt.param_groups[0]["lr"], "loss_classifier": total / max(n, 1)}
            history.append(row)
            log("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
            if seconds and time.monotonic() - t0 > seconds:
                log(f"fine-tuning: its share of the time budget ({seconds / 60:.1f} min) is spent")
                break
        return history

    def _weights_digest(self) -> str:
        h = hashlib.sha256()
        for k, v in self.cnn.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    @torch.no_grad()
    def _feature_pool(self, data, cfg, log, seconds: float | None) -> dict:
        """Per image: features of the annotated boxes, of up to ``negatives_per_image`` proposals
        with IoU < 0.3 to every box, and of the proposals with IoU >= 0.6 (regression); cached."""
        from benthos.data.images import load_image
        from benthos.detect.proposals import cache_dir, image_digest, to_pixels
        from benthos.errors import BenthosError

        wdig = self._weights_digest()
        setting = f"{self.proposer.settings.key()}|{self.proposer.max_proposals}|{self.crop_size}|{CONTEXT}|{wdig}"
        root = cache_dir().parent / "rcnn_features"
        order = list(range(len(data.records)))
        random.Random(cfg.seed).shuffle(order)
        feats, labels, kinds, ious, targets = [], [], [], [], []
        t0, last, cached, used = time.monotonic(), time.monotonic(), 0, 0
        for k, i in enumerate(order):
            if seconds is not None and time.monotonic() - t0 > seconds and used:
                log(f"features: time share spent after {used} of {len(order)} training images")
                break
            r = data.records[i]
            try:
                pil = load_image(r.image_path)
            except BenthosError:
                continue
            pixels = to_pixels(pil).copy()
            image = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255)
            sx, sy = pil.size[0] / r.width, pil.size[1] / r.height
            gt = torch.from_numpy(np.asarray(r.boxes, np.float32).reshape(-1, 4) * np.array([sx, sy, sx, sy],
                                                                                             np.float32))
            lab = torch.from_numpy(np.asarray(r.labels)).long() + 1
            props = self._proposals(image)
            boxes, lab_all, kind, best, tgt = self._regions(gt, lab, props, image_digest(pixels))
            key = hashlib.sha256((image_digest(pixels) + setting).encode() + boxes.numpy().tobytes()).hexdigest()
            f = _read_features(root / key[:2] / f"{key}.safetensors", key)
            if f is None:
                f = self.features(image, boxes).half()
                _write_features(root / key[:2] / f"{key}.safetensors", key, f)
            else:
                cached += 1
            used += 1
            feats.append(f.float())
            labels.append(lab_all)
            kinds.append(kind)
            ious.append(best)
            targets.append(tgt)
            if time.monotonic() - last > 30:
                log(f"features: {k + 1}/{len(order)} images ({cached} from the cache)")
                last = time.monotonic()
        cat = (lambda xs, d: torch.cat(xs) if xs else torch.zeros(0, *d))
        return {"features": cat(feats, (self.finetune_head.in_features,)), "labels": cat(labels, ()).long(),
                "kind": cat(kinds, ()).long(), "iou": cat(ious, ()), "boxes": cat(targets, (8,)),
                "images": used, "cached": cached}

    def _regions(self, gt, lab, props, seed: str):
        """Boxes whose features stage 2/3 need, with (label, kind 0=gt 1=negative 2=regression,
        best IoU, [proposal, matched box])."""
        rng = np.random.default_rng(int(seed[:8], 16))  # the same sample each run: the feature cache hits
        if len(gt) and len(props):
            iou, g = box_iou(props, gt).max(1)
        else:
            iou, g = props.new_zeros(len(props)), torch.zeros(len(props), dtype=torch.long)
        neg = (iou < 0.3).nonzero()[:, 0].numpy()
        neg = np.sort(rng.permutation(neg)[: self.negatives_per_image])
        reg = (iou >= 0.6).nonzero()[:, 0].numpy()
        reg = np.sort(rng.permutation(reg)[: self.negatives_per_image // 2])
        neg_t, reg_t = torch.from_numpy(neg).long(), torch.from_numpy(reg).long()
        boxes = torch.cat([gt, props[neg_t], props[reg_t]])
        labels = torch.cat([lab, torch.zeros(len(neg_t), dtype=torch.long),
                            lab[g[reg_t]] if len(reg_t) else torch.zeros(0, dtype=torch.long)])
        kind = torch.cat([torch.zeros(len(gt)), torch.ones(len(neg_t)), torch.full((len(reg_t),), 2.0)])
        best = torch.cat([torch.ones(len(gt)), iou[neg_t], iou[reg_t]])
        pairs = torch.cat([torch.cat([gt, gt], 1), torch.cat([props[neg_t], props[neg_t]], 1),
                           torch.cat([props[reg_t], gt[g[reg_t]] if len(reg_t) else props[reg_t]], 1)])
        return boxes, labels, kind, best, pairs

    def _fit_svms(self, pool: dict, log) -> dict:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        X = pool["features"]
        if len(X):
            self.feat_scale.fill_(20.0 / float(X.norm(dim=1).mean().clamp(min=1e-6)))  # the paper's mean norm 20
        X = (X * self.feat_scale).numpy()
        kind, y = pool["kind"].numpy(), pool["labels"].numpy()
        rng = np.random.default_rng(0)
        info = {"positives": 0, "negatives": 0, "hard_rounds": 0}
        for c in range(1, self.num_classes + 1):
            pos = np.where((kind == 0) & (y == c))[0]
            # negatives for class c: background proposals and the boxes of the other classes
            negs = np.where((kind == 1) | ((kind == 0) & (y != c)))[0]
            info["positives"] += len(pos)
            info["negatives"] += len(negs)
            if len(pos) == 0 or len(negs) == 0:
                log(f"svm: class {c} has {len(pos)} positives and {len(negs)} negatives; it keeps no detector")
                continue
            active = rng.permutation(negs)[: max(4 * len(pos), 500)]
            svm = None
            for rounds in range(4):  # hard-negative mining over the pool
                idx = np.concatenate([pos, active])
                svm = LinearSVC(C=self.svm_c, class_weight={1: 2.0, 0: 1.0}, max_iter=5000)
                svm.fit(X[idx], (np.arange(len(idx)) < len(pos)).astype(int))
                margin = svm.decision_function(X[negs])
                hard = negs[margin > -1.0]
                new = np.setdiff1d(hard, active)
                info["hard_rounds"] = max(info["hard_rounds"], rounds + 1)
                if len(new) == 0:
                    break
                active = np.union1d(active, new)
            self.svm_weight[c - 1] = torch.from_numpy(svm.coef_[0]).float()
            self.svm_bias[c - 1] = float(svm.intercept_[0])
            idx = np.concatenate([pos, negs])
            m = svm.decision_function(X[idx])[:, None]
            platt = LogisticRegression(C=1.0).fit(m, (np.arange(len(idx)) < len(pos)).astype(int))
            self.platt[c - 1] = torch.tensor([float(platt.coef_[0, 0]), float(platt.intercept_[0])])
        log(f"svm: {self.num_classes} linear SVMs on {info['positives']} positives and {info['negatives']} "
            f"negatives, {info['hard_rounds']} round(s) of hard-negative mining")
        return info

    def _fit_regressors(self, pool: dict, log) -> dict:
        from sklearn.linear_model import Ridge

        X = (pool["features"] * self.feat_scale).numpy()
        kind, y = pool["kind"].numpy(), pool["labels"].numpy()
        pairs = pool["boxes"]
        samples = 0
        for c in range(1, self.num_classes + 1):
            idx = np.where((kind == 2) & (y == c))[0]
            if len(idx) < 10:
                continue  # too few to fit 4 x D weights; boxes of this class stay as proposed
            t = encode(pairs[idx, 4:], pairs[idx, :4]).numpy()
            reg = Ridge(alpha=self.ridge).fit(X[idx], t)
            self.reg_weight[c - 1] = torch.from_numpy(reg.coef_).float()
            self.reg_bias[c - 1] = torch.from_numpy(np.asarray(reg.intercept_)).float()
            samples += len(idx)
        log(f"bbox regression: ridge (lambda {self.ridge:g}) on {samples} proposals with IoU >= 0.6")
        return {"regression_samples": samples}


def _read_features(path: Path, key: str) -> torch.Tensor | None:
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("key") != key:
                return None
            return f.get_tensor("features")
    except Exception:  # torn or foreign file: computed again
        return None


def _write_features(path: Path, key: str, feats: torch.Tensor) -> None:
    from safetensors.torch import save_file

    from benthos.runs.atomic import atomic_write

    try:
        atomic_write(path, lambda tmp: save_file({"features": feats.contiguous()}, tmp,
                                                 metadata={"key": key, "kind": "benthos-rcnn-features"}))
    except OSError:
        pass


@register_detector("rcnn_lite0", family="two-stage", method="rcnn", backbone="efficientnet_lite0", image_size=640,
                   summary="R-CNN: selective search, each region warped (112 px, context 16/227) through the zoo "
                   "CNN, one linear SVM per class, ridge box regression", year=2014,
                   paper="Girshick et al., Rich feature hierarchies (R-CNN), CVPR 2014",
                   optimizer="sgd", lr=0.005, weight_decay=5e-4, batch_size=4, epochs=3, trainable_stages=5,
                   max_proposals=500)
def rcnn_lite0(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
               backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, score_thresh: float = 0.05,
               nms_thresh: float = 0.3, detections_per_img: int = 300, normalize: str = "backbone",
               max_proposals: int | None = None, proposal_side: int | None = None, proposal_k: int | None = None,
               crop_size: int = 112, **_) -> RCNN:
    proposer = make_provider(500 if max_proposals is None else max_proposals, proposal_side, proposal_k)
    return RCNN(num_classes, backbone, pretrained_backbone, image_size, crop_size=crop_size,
                trainable_stages=trainable_stages, score_thresh=score_thresh, nms_thresh=nms_thresh,
                detections_per_img=detections_per_img, normalize=normalize, proposer=proposer)

