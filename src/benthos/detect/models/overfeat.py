"""OverFeat (Sermanet et al., ICLR 2014): one classifier network slid over the image at several scales.

Sliding a classifier over every window is cheap when its fully connected layers are
convolutions: one pass over a whole (larger) image computes the classifier at every
window position at once, sharing the convolutions of overlapping windows. Here the zoo
classifier (efficientnet_lite0 with its ImageNet weights) is made fully convolutional: its
trunk gives a stride-32 map, its ImageNet classifier becomes a 1x1 convolution (weights
kept) followed by a new 1x1 convolution to the detection classes + background, and a
regressor of 1x1 convolutions predicts, per class, the box edges (l, t, r, b) relative to
each location's window. One convolution pass per scale (``scales``, multiples of the input
size): a location's window is ``window`` cells, so 2.0x sees small animals at 32 px windows
and 0.5x large ones at 128 px.

The trunk is frozen by default (``trainable_stages`` 0), as OverFeat fixed its feature layers when it
trained the regressor: fine-tuned with the classifier at every location (SGD at 0.01, and at 0.003
with only the last two stages trainable), Lite0's last layers went dead within 20 steps on brittle-star
frames (every location's features the same constant) and nothing was found.

Training, as the paper trained on fixed-size crops: each batch at one random scale, and from
each image a ``train_crop`` px window of the rescaled image (around a random object three times
in four), so a step costs the same at every scale; an object is assigned to the scale whose window
matches its size and is learned at the locations whose centres lie inside it, near its
centre; locations inside objects of other scales are ignored; background locations are
mined hard (3 per positive, the highest loss). Losses: softmax cross-entropy, and squared
error on the edges (the paper's L2). Boxes of all scales are merged by class-wise NMS
(``merge="nms"``) or by OverFeat's greedy merge (``merge="overfeat"``: the closest pair of
boxes of a class is averaged while their match score stays below ``merge_thresh``).
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_iou

from benthos.detect.registry import register_detector
from benthos.errors import ConfigError


def fc_as_conv(linear: nn.Linear) -> nn.Conv2d:
    """A fully connected layer as the 1x1 convolution that computes it at every location."""
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1)
    with torch.no_grad():
        conv.weight.copy_(linear.weight[:, :, None, None])
        conv.bias.copy_(linear.bias)
    return conv


def overfeat_merge(boxes: torch.Tensor, scores: torch.Tensor, thresh: float = 1.0,
                   limit: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """OverFeat's greedy merge of one class's boxes: while the best-matching pair's match score
    (centre distance in mean box sizes + 1 - IoU) is below ``thresh``, replace the pair by its
    score-weighted mean box (score: the pair's higher). The ``limit`` best-scored boxes take part."""
    order = scores.argsort(descending=True)[:limit]
    b, s = boxes[order].double(), scores[order].double()
    n = len(b)
    if n < 2:
        return b.to(boxes.dtype), s.to(scores.dtype)

    def match(a: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
        ca, cb = (a[:, :2] + a[:, 2:]) / 2, (bb[:, :2] + bb[:, 2:]) / 2
        size_a = ((a[:, 2:] - a[:, :2]).clamp(min=1e-6).prod(1)).sqrt()
        size_b = ((bb[:, 2:] - bb[:, :2]).clamp(min=1e-6).prod(1)).sqrt()
        d = torch.cdist(ca, cb) / ((size_a[:, None] + size_b[None, :]) / 2)
        return d + 1 - box_iou(a, bb)

    m = match(b, b)
    alive = torch.ones(n, dtype=torch.bool)
    m.fill_diagonal_(math.inf)
    while True:
        k = int(m.argmin())
        i, j = divmod(k, n)
        if not m[i, j] < thresh:
            break
        w = torch.stack([s[i], s[j]])
        b[i] = (w[:, None] * torch.stack([b[i], b[j]])).sum(0) / w.sum()
        s[i] = torch.maximum(s[i], s[j])
        alive[j] = False
        m[j, :], m[:, j] = math.inf, math.inf
        row = match(b[i: i + 1], b)[0]
        row[~alive] = math.inf
        row[i] = math.inf
        m[i, :], m[:, i] = row, row
    return b[alive].to(boxes.dtype), s[alive].to(scores.dtype)


class OverFeat(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "efficientnet_lite0", pretrained_backbone: bool = True,
                 image_size: int = 640, scales=(0.5, 1.0, 2.0), window: float = 2.0, hidden: int = 256,
                 merge: str = "nms", merge_thresh: float = 1.0, trainable_stages: int | None = None,
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 300,
                 normalize: str = "backbone", neg_ratio: int = 3, train_crop: int | None = 320) -> None:
        super().__init__()
        from benthos.detect.backbones import trunk_normalisation, zoo_classifier

        if merge not in ("nms", "overfeat"):
            raise ConfigError(f"merge {merge!r}: use 'nms' (class-wise non-maximum suppression) or 'overfeat' "
                              "(OverFeat's greedy merge)")
        scales = tuple(float(s) for s in (scales if isinstance(scales, (list, tuple)) else [scales]))
        if not scales or any(not 0 < s <= 4 for s in scales):
            raise ConfigError(f"scales {list(scales)}: give input-size multiples between 0 and 4, e.g. [0.5, 1, 2]")
        self.num_classes, self.image_size, self.scales, self.window = num_classes, image_size, scales, window
        self.merge, self.merge_thresh, self.neg_ratio, self.train_crop = merge, merge_thresh, neg_ratio, train_crop
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        zoo = zoo_classifier(backbone, pretrained_backbone, trainable_stages)
        self.body = zoo.body
        feat = zoo.head.in_features
        self.stride = 32
        # the ImageNet classifier as a 1x1 conv (its weights kept), then a new one to classes + background
        self.classifier = nn.Sequential(fc_as_conv(zoo.head), nn.ReLU(inplace=True), nn.Dropout2d(0.2),
                                        nn.Conv2d(zoo.head.out_features, num_classes + 1, 1))
        self.regressor = nn.Sequential(nn.Conv2d(feat, hidden, 1), nn.ReLU(inplace=True),
                                       nn.Conv2d(hidden, 4 * num_classes, 1))
        mean, std = trunk_normalisation(backbone, normalize)
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)

    def _crops(self, images: list[torch.Tensor], targets: list[dict], scale: float):
        """``train_crop`` px windows of the images rescaled to ``scale`` (around a random object three
        times in four), with their boxes (those whose centre is inside), in window pixels."""
        c, crops, out = self.train_crop, [], []
        for im, t in zip(images, targets):
            h, w = im.shape[-2:]
            r = self.image_size * scale / max(h, w)
            H, W = max(1, round(h * r)), max(1, round(w * r))
            big = F.interpolate(im[None], size=(H, W), mode="bilinear", align_corners=False)[0]
            boxes = t["boxes"].reshape(-1, 4).float() * r
            if len(boxes) and random.random() < 0.75:
                cx, cy = boxes[random.randrange(len(boxes))].view(2, 2).mean(0).tolist()
                x0 = int(min(max(cx - random.uniform(0.15, 0.85) * c, 0), max(W - c, 0)))
                y0 = int(min(max(cy - random.uniform(0.15, 0.85) * c, 0), max(H - c, 0)))
            else:
                x0, y0 = random.randint(0, max(W - c, 0)), random.randint(0, max(H - c, 0))
            crop = self.mean.expand(3, c, c).clone()  # outside the image: the mean pixel (0 once normalised)
            piece = big[:, y0: y0 + c, x0: x0 + c]
            crop[:, : piece.shape[1], : piece.shape[2]] = piece
            crops.append(crop)
            b = boxes - boxes.new_tensor([x0, y0, x0, y0])
            centre = (b[:, :2] + b[:, 2:]) / 2
            keep = ((centre >= 0) & (centre < c)).all(1)
            out.append({"boxes": b[keep].clamp(0, c), "labels": t["labels"][keep]})
        return crops, out

    # -- one convolution pass over the whole image at one scale (0: as given)
    def _pass(self, images: list[torch.Tensor], scale: float):
        ratios, ims = [], []
        for im in images:
            h, w = im.shape[-2:]
            r = self.image_size * scale / max(h, w) if scale else 1.0
            ratios.append(r)
            size = (max(self.stride, round(h * r)), max(self.stride, round(w * r)))
            ims.append((F.interpolate(im[None], size=size, mode="bilinear", align_corners=False)[0] - self.mean)
                       / self.std)
        H = math.ceil(max(i.shape[-2] for i in ims) / self.stride) * self.stride
        W = math.ceil(max(i.shape[-1] for i in ims) / self.stride) * self.stride
        x = ims[0].new_zeros(len(ims), 3, H, W)
        for k, im in enumerate(ims):
            x[k, :, : im.shape[-2], : im.shape[-1]] = im
        f = self.body.forward_features(x)
        return self.classifier(f), self.regressor(f), ratios

    def _centres(self, h: int, w: int, device) -> torch.Tensor:
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        return torch.stack([xs, ys], -1).reshape(-1, 2).float().add(0.5).mul(self.stride)  # (h*w, 2) net pixels

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            scale = random.choice(self.scales)
            if self.train_crop:
                images, targets = self._crops(images, targets, scale)
                cls, reg, _ = self._pass(images, 0.0)
                return self.loss(cls, reg, [1.0] * len(images), targets, scale)
            return self.loss(*self._pass(images, scale), targets, scale)
        dets = [[] for _ in images]
        for scale in self.scales:
            cls, reg, ratios = self._pass(images, scale)
            for n, d in enumerate(self._decode(cls[n], reg[n], ratios[n], images[n].shape[-2:])
                                  for n in range(len(images))):
                dets[n].append(d)
        return [self._merge(d) for d in dets]

    def _assign(self, boxes: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor, scale_index: int):
        """Per location: class target (0 background, -1 ignored) and the matched box."""
        A = len(centres)
        tgt = torch.zeros(A, dtype=torch.long, device=centres.device)
        matched = centres.new_zeros(A, 4)
        if len(boxes) == 0:
            return tgt, matched
        size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1).prod(1).sqrt()  # in this pass's pixels
        # every scale's window seen in this pass's pixels: a pass at scale s has windows of window x stride
        # px, i.e. window x stride / s px of the frame, which this pass (at scales[scale_index]) magnifies
        windows = torch.tensor([self.window * self.stride * self.scales[scale_index] / s for s in self.scales],
                               device=centres.device)
        best = (size[:, None].log() - windows[None].log()).abs().argmin(1)  # the scale each object belongs to
        c = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = ((centres[:, None] >= boxes[None, :, :2]) & (centres[:, None] <= boxes[None, :, 2:])).all(-1)
        near = ((centres[:, None] - c[None]).abs() <= self.stride * 1.5).all(-1)  # centre sampling, FCOS-style
        own = best == scale_index
        pos = inside & near & own[None]
        # the cell holding a small object's centre, even when no cell centre falls inside it
        cell = (c / self.stride).floor()
        grid_w = int(round(centres[:, 0].max().item() / self.stride + 0.5))
        idx = (cell[:, 1] * grid_w + cell[:, 0]).long().clamp(0, A - 1)
        pos[idx[own], own.nonzero(as_tuple=True)[0]] = True
        area = (boxes[:, 2:] - boxes[:, :2]).prod(1)
        cost = torch.where(pos, area[None].expand_as(pos), torch.full_like(pos, math.inf, dtype=area.dtype))
        g = cost.argmin(1)  # a location claimed by several objects learns the smallest
        fg = pos.any(1)
        tgt[fg] = labels[g[fg]]
        matched[fg] = boxes[g[fg]]
        other = torch.zeros(A, dtype=torch.bool, device=centres.device)
        other[idx[~own]] = True  # the cell holding the centre of an object too small for this pass
        tgt[~fg & ((inside & ~own[None]).any(1) | other)] = -1  # an object of another scale: no verdict
        return tgt, matched

    def loss(self, cls: torch.Tensor, reg: torch.Tensor, ratios: list[float], targets: list[dict],
             scale: float) -> dict[str, torch.Tensor]:
        n, _, h, w = cls.shape
        centres = self._centres(h, w, cls.device)
        win = self.window * self.stride
        si = self.scales.index(scale)
        cls_sum, box_sum, n_pos, n_cls = cls.new_zeros(()), cls.new_zeros(()), 0, 0
        for k, t in enumerate(targets):
            logits = cls[k].flatten(1).t()  # (A, C+1)
            deltas = reg[k].flatten(1).t().reshape(-1, self.num_classes, 4)
            tgt, matched = self._assign(t["boxes"].to(cls.dtype).reshape(-1, 4) * ratios[k], t["labels"].long(),
                                        centres, si)
            ce = F.cross_entropy(logits, tgt.clamp(min=0), reduction="none")
            pos, neg = tgt > 0, tgt == 0
            npos = int(pos.sum())
            hard = ce[neg].topk(min(int(neg.sum()), max(self.neg_ratio * npos, 16))).values  # hard negatives
            cls_sum = cls_sum + ce[pos].sum() + hard.sum()
            n_cls += npos + len(hard)
            if npos:
                ltrb = torch.cat([centres[pos] - matched[pos, :2], matched[pos, 2:] - centres[pos]], 1) / win
                pred = deltas[pos, tgt[pos] - 1]
                box_sum = box_sum + ((pred - ltrb) ** 2).sum()
            n_pos += npos
        return {"loss_classifier": cls_sum / max(n_cls, 1), "loss_box_reg": box_sum / max(n_pos, 1)}

    def _decode(self, cls: torch.Tensor, reg: torch.Tensor, ratio: float, size) -> dict[str, torch.Tensor]:
        _, h, w = cls.shape
        centres = self._centres(h, w, cls.device)
        probs = cls.flatten(1).t().softmax(-1)[:, 1:]  # (A, C)
        deltas = reg.flatten(1).t().reshape(-1, self.num_classes, 4) * (self.window * self.stride)
        loc, lab = (probs > self.score_thresh).nonzero(as_tuple=True)
        sc = probs[loc, lab]
        if sc.numel() > 3000:
            sc, o = sc.topk(3000)
            loc, lab = loc[o], lab[o]
        d = deltas[loc, lab]
        c = centres[loc]
        boxes = torch.cat([c - d[:, :2], c + d[:, 2:]], 1) / ratio
        H, W = size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, W)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, H)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return {"boxes": boxes[ok], "scores": sc[ok], "labels": lab[ok] + 1}

    def _merge(self, parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        b = torch.cat([p["boxes"] for p in parts])
        s = torch.cat([p["scores"] for p in parts])
        lab = torch.cat([p["labels"] for p in parts])
        if self.merge == "nms":
            keep = batched_nms(b, s, lab, self.nms_thresh)[: self.detections_per_img]
            return {"boxes": b[keep], "scores": s[keep], "labels": lab[keep]}
        out_b, out_s, out_l = [], [], []
        for c in lab.unique().tolist():
            m = lab == c
            mb, ms = overfeat_merge(b[m], s[m], self.merge_thresh)
            out_b.append(mb)
            out_s.append(ms)
            out_l.append(torch.full((len(mb),), c, dtype=lab.dtype, device=lab.device))
        if not out_b:
            return {"boxes": b, "scores": s, "labels": lab}
        b, s, lab = torch.cat(out_b), torch.cat(out_s), torch.cat(out_l)
        order = s.argsort(descending=True)[: self.detections_per_img]
        return {"boxes": b[order], "scores": s[order], "labels": lab[order]}


@register_detector("overfeat_lite0", family="single-stage", method="overfeat", backbone="efficientnet_lite0",
                   image_size=640, summary="OverFeat: the zoo classifier as 1x1 convolutions, one pass per scale "
                   "(0.5x, 1x, 2x), class scores + box edges per location, NMS or OverFeat's merge",
                   year=2014, paper="Sermanet et al., OverFeat, ICLR 2014",
                   optimizer="sgd", lr=0.01, weight_decay=1e-4, batch_size=8, epochs=12, trainable_stages=0,
                   warmup_steps=30)
def overfeat_lite0(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
                   backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, score_thresh: float = 0.05,
                   nms_thresh: float = 0.5, detections_per_img: int = 300, normalize: str = "backbone",
                   scales=(0.5, 1.0, 2.0), window: float = 2.0, merge: str = "nms", merge_thresh: float = 1.0,
                   train_crop: int | None = 320, **_) -> OverFeat:
    return OverFeat(num_classes, backbone, pretrained_backbone, image_size, scales=scales, window=window,
                    merge=merge, merge_thresh=merge_thresh, trainable_stages=trainable_stages,
                    score_thresh=score_thresh, nms_thresh=nms_thresh, detections_per_img=detections_per_img,
                    normalize=normalize, train_crop=train_crop)
