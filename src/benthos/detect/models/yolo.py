"""YOLO, written here: a single-stage, anchor-free grid detector on a zoo backbone.

One forward pass per image: trunk -> FPN (strides 8/16/32) -> a shared decoupled head
that predicts, at every grid cell, class scores and the distances (l, t, r, b) from the
cell centre to the box sides. Training assigns cells to boxes with task-aligned
assignment (YOLOv8/TOOD: score^a * IoU^b, top-k cells whose centre lies in or near the
box), so no anchors to tune; small organisms get the stride-8 map.
Same call convention as torchvision detectors: ``model(images, targets)`` returns losses
in training and ``[{"boxes", "scores", "labels"}]`` (labels 1-based) in eval.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_iou, generalized_box_iou_loss

from benthos.detect.backbones import FeatureTrunk


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True))


class YOLOHead(nn.Module):
    """Decoupled head shared across levels; a learnable scale per level for the box branch."""

    def __init__(self, channels: int, num_classes: int, levels: int, depth: int = 2) -> None:
        super().__init__()
        self.cls = nn.Sequential(*[_conv(channels, channels) for _ in range(depth)], nn.Conv2d(channels, num_classes, 1))
        self.reg = nn.Sequential(*[_conv(channels, channels) for _ in range(depth)], nn.Conv2d(channels, 4, 1))
        self.scales = nn.Parameter(torch.ones(levels))
        nn.init.constant_(self.cls[-1].bias, -math.log((1 - 0.01) / 0.01))  # prior 0.01: stable start

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        cls, reg = [], []
        for k, f in enumerate(feats):
            cls.append(self.cls(f).flatten(2))
            reg.append((F.softplus(self.reg(f) * self.scales[k])).flatten(2))
        return torch.cat(cls, 2).transpose(1, 2), torch.cat(reg, 2).transpose(1, 2)  # (B, A, C), (B, A, 4)


class YOLO(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "efficientnet_lite0", pretrained_backbone: bool = True,
                 image_size: int = 640, channels: int = 64, trainable_stages: int | None = None,
                 strides=(8, 16, 32), topk: int = 10, alpha: float = 1.0, beta: float = 6.0,
                 box_weight: float = 2.0, score_thresh: float = 0.05, nms_thresh: float = 0.6,
                 detections_per_img: int = 300, normalize: str = "backbone") -> None:
        super().__init__()
        self.num_classes = num_classes  # foreground classes; labels in/out are 1-based like torchvision
        self.image_size = image_size
        self.trunk = FeatureTrunk(backbone, pretrained_backbone, strides, fpn=True, out_channels=channels,
                                  extra_pool=False, trainable_stages=trainable_stages, normalize=normalize)
        self.strides = list(strides)
        self.head = YOLOHead(channels, num_classes, len(strides))
        self.topk, self.alpha, self.beta, self.box_weight = topk, alpha, beta, box_weight
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.register_buffer("mean", torch.tensor(self.trunk.mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.trunk.std).view(3, 1, 1), persistent=False)

    # -- input: resize the long side to image_size, pad to a multiple of the largest stride
    def _batch(self, images: list[torch.Tensor]) -> tuple[torch.Tensor, list[float]]:
        ratios, resized = [], []
        for im in images:
            h, w = im.shape[-2:]
            r = self.image_size / max(h, w)
            ratios.append(r)
            if r != 1:
                im = F.interpolate(im[None], size=(max(1, round(h * r)), max(1, round(w * r))), mode="bilinear",
                                   align_corners=False)[0]
            resized.append((im - self.mean) / self.std)
        s = max(self.strides)
        H = math.ceil(max(i.shape[-2] for i in resized) / s) * s
        W = math.ceil(max(i.shape[-1] for i in resized) / s) * s
        batch = resized[0].new_zeros(len(resized), 3, H, W)
        for b, im in enumerate(resized):
            batch[b, :, : im.shape[-2], : im.shape[-1]] = im
        return batch, ratios

    def _points(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        pts, strides = [], []
        for f, s in zip(feats, self.strides):
            h, w = f.shape[-2:]
            ys, xs = torch.meshgrid(torch.arange(h, device=f.device), torch.arange(w, device=f.device), indexing="ij")
            pts.append(torch.stack([xs, ys], -1).reshape(-1, 2).float().add(0.5).mul(s))
            strides.append(torch.full((h * w,), float(s), device=f.device))
        return torch.cat(pts), torch.cat(strides)

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        x, ratios = self._batch(images)
        feats = list(self.trunk(x).values())
        cls, dist = self.head(feats)
        points, strides = self._points(feats)
        boxes = torch.cat([points - dist[..., :2] * strides[:, None], points + dist[..., 2:] * strides[:, None]], -1)
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            scaled = [{"boxes": t["boxes"] * r, "labels": t["labels"]} for t, r in zip(targets, ratios)]
            return self.loss(cls, boxes, points, strides, scaled)
        return self.postprocess(cls, boxes, ratios, [im.shape[-2:] for im in images])

    @torch.no_grad()
    def _assign(self, scores: torch.Tensor, pred: torch.Tensor, points: torch.Tensor, strides: torch.Tensor,
                gt: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Task-aligned assignment for one image: per-cell target box, class and soft score."""
        A, G = points.shape[0], gt.shape[0]
        tgt_score = scores.new_zeros(A, self.num_classes)
        if G == 0:
            return scores.new_zeros(A, 4), tgt_score, torch.zeros(A, dtype=torch.bool, device=scores.device)
        # candidates: cell centre inside the box, or within one stride of its centre (tiny boxes)
        c = (gt[:, :2] + gt[:, 2:]) / 2
        half = torch.maximum((gt[:, 2:] - gt[:, :2]) / 2, strides[:, None, None].expand(A, G, 1) * 1.0)  # (A,G,2)
        inside = ((points[:, None] - c[None]).abs() < half).all(-1)  # (A, G)
        iou = box_iou(pred, gt).clamp(min=0)  # (A, G)
        s = scores[:, labels].sigmoid()  # (A, G)
        metric = s.pow(self.alpha) * iou.pow(self.beta) * inside
        k = min(self.topk, A)
        top = metric.topk(k, dim=0).indices  # (k, G)
        chosen = torch.zeros_like(inside)
        chosen.scatter_(0, top, True)
        chosen &= inside
        # a cell claimed by several boxes keeps the one it overlaps most
        multi = chosen.sum(1) > 1
        if multi.any():
            best = (iou * chosen).argmax(1)
            chosen[multi] = False
            chosen[multi, best[multi]] = True
        fg = chosen.any(1)
        gi = chosen.float().argmax(1)
        metric = metric * chosen
        norm = (metric / (metric.amax(0, keepdim=True) + 1e-9)) * (iou * chosen).amax(0, keepdim=True)
        soft = norm.amax(1)
        tgt_score[fg, labels[gi[fg]]] = soft[fg]
        return gt[gi], tgt_score, fg

    def loss(self, cls, boxes, points, strides, targets) -> dict[str, torch.Tensor]:
        # Normalised by the number of positive cells, and every positive's box counts fully:
        # weighting boxes by the (IoU-aware) target score, as YOLOv8 does, starves the box
        # branch early on, and a CPU budget only buys a few hundred steps.
        cls_sum, box_sum, n_pos = cls.new_zeros(()), cls.new_zeros(()), 0
        for b, t in enumerate(targets):
            tb, ts, fg = self._assign(cls[b].detach(), boxes[b].detach(), points, strides,
                                      t["boxes"].to(boxes.dtype), t["labels"].long() - 1)
            cls_sum = cls_sum + F.binary_cross_entropy_with_logits(cls[b], ts, reduction="sum")
            if fg.any():
                box_sum = box_sum + generalized_box_iou_loss(boxes[b][fg], tb[fg], reduction="sum")
                n_pos += int(fg.sum())
        n = max(n_pos, 1)
        return {"loss_cls": cls_sum / n, "loss_box": self.box_weight * box_sum / n}

    @torch.no_grad()
    def postprocess(self, cls, boxes, ratios, sizes) -> list[dict[str, torch.Tensor]]:
        out = []
        for b in range(cls.shape[0]):
            scores = cls[b].sigmoid()
            keep = scores > self.score_thresh
            idx, lab = keep.nonzero(as_tuple=True)
            sc = scores[idx, lab]
            if sc.numel() > 3000:  # bound NMS work on cluttered frames
                sc, order = sc.topk(3000)
                idx, lab = idx[order], lab[order]
            bx = boxes[b][idx] / ratios[b]
            h, w = sizes[b]
            bx[:, 0::2] = bx[:, 0::2].clamp(0, w)
            bx[:, 1::2] = bx[:, 1::2].clamp(0, h)
            k = batched_nms(bx, sc, lab, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": bx[k], "scores": sc[k], "labels": lab[k] + 1})
        return out


from benthos.detect.registry import register_detector  # noqa: E402  (registry imports this module lazily)


@register_detector("yolo_lite0", family="single-stage", method="yolo", backbone="efficientnet_lite0", image_size=640,
                   summary="YOLO-style anchor-free grid detector (TAL assignment, GIoU), Lite0 + FPN P3-P5",
                   year=2021, paper="task-aligned assignment: Feng et al., TOOD, ICCV 2021 (as in YOLOv8)",
                   optimizer="adamw", lr=2e-3, weight_decay=0.05, batch_size=4, epochs=15, trainable_stages=5,
                   warmup_steps=30)
def yolo_lite0(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
               backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, score_thresh: float = 0.05,
               nms_thresh: float = 0.6, detections_per_img: int = 300, normalize: str = "backbone", **_) -> YOLO:
    return YOLO(num_classes, backbone, pretrained_backbone, image_size, trainable_stages=trainable_stages,
                score_thresh=score_thresh, nms_thresh=nms_thresh, detections_per_img=detections_per_img,
                normalize=normalize)
