"""YOLO v1 (Redmon et al., CVPR 2016): detection as one regression over an S x S grid.

The image is warped to a square (448 px, as in the paper) and the trunk's stride-32 map is
the grid (S = 14 at 448 px; the paper's 7 came from a stride-64 network, and frames here
hold many ~30 px animals). Each cell predicts B boxes, each (x, y, sqrt w, sqrt h, confidence),
and ONE class distribution for the whole cell: the cell that holds an object's centre is
responsible for it, through the one of its B predictors whose box overlaps it most.

The v1 loss, all squared errors: lambda_coord (5) x the errors of x, y and of the square
roots of w and h (so an error costs more on a small box); the confidence of responsible
predictors regressed to their IoU with the object, of the others to 0 with weight
lambda_noobj (0.5); the class probabilities of cells with objects. Sums over cells, averaged
over the images of a batch. At test time class score = P(class | cell) x confidence; the confidence
learns the IoU of its box, so scores stay low while the boxes are rough and boxes are kept from 0.005
(not 0.05 as for the other detectors) for AP.

Outputs are linear, as in the paper ("a linear activation function for the final layer"): the
squared errors then never stall. (Bounding them with sigmoids and a softmax, as the first version
here did, let the first large errors drive them into saturation, where their gradients vanish:
four minutes of training found nothing.) Values are clipped to their ranges only when boxes are
read out. ``outputs="sigmoid"`` keeps that first version for runs trained with it.

``head="conv"`` (default) predicts every cell with the same convolutions; ``head="fc"`` is
the paper's fully connected layers over the whole map (global context, many more weights;
with a few hundred training frames they overfit).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_iou

from benthos.detect.backbones import FeatureTrunk
from benthos.detect.registry import register_detector
from benthos.errors import ConfigError


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


class YOLOv1(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "efficientnet_lite0", pretrained_backbone: bool = True,
                 image_size: int = 448, boxes_per_cell: int = 2, head: str = "conv", hidden: int = 256,
                 trainable_stages: int | None = None, lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 300,
                 normalize: str = "backbone", grid: int | None = None, outputs: str = "linear") -> None:
        super().__init__()
        if outputs not in ("linear", "sigmoid"):
            raise ConfigError(f"outputs {outputs!r}: use 'linear' (the paper) or 'sigmoid' (runs trained before "
                              "linear outputs)")
        self.outputs = outputs
        if head not in ("conv", "fc"):
            raise ConfigError(f"head {head!r}: use 'conv' (shared per-cell convolutions) or 'fc' (the paper's fully "
                              "connected layers)")
        if isinstance(boxes_per_cell, bool) or not isinstance(boxes_per_cell, int) or boxes_per_cell < 1:
            raise ConfigError(f"boxes_per_cell {boxes_per_cell!r}: use a whole number >= 1 (the paper's B = 2)")
        self.num_classes, self.B, self.image_size = num_classes, boxes_per_cell, image_size
        self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.trunk = FeatureTrunk(backbone, pretrained_backbone, (32,), fpn=False, trainable_stages=trainable_stages,
                                  normalize=normalize)
        cin, out = self.trunk.out_channels, boxes_per_cell * 5 + num_classes
        self.grid = grid or (image_size // 32 if head == "fc" else None)  # fc layers need a fixed grid
        self.head_kind = head
        if head == "conv":
            self.head = nn.Sequential(nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                      nn.Conv2d(hidden, out, 1))
        else:
            g = self.grid
            self.head = nn.Sequential(nn.Conv2d(cin, 64, 1), nn.LeakyReLU(0.1, inplace=True), nn.Flatten(),
                                      nn.Linear(64 * g * g, 1024), nn.LeakyReLU(0.1, inplace=True), nn.Dropout(0.5),
                                      nn.Linear(1024, g * g * out))
        # a small start: every cell predicts a box in its middle, a quarter of the image wide, with
        # confidence 0 and a flat class distribution, and the first squared errors stay small
        last = self.head[-1]
        nn.init.normal_(last.weight, std=0.01)
        with torch.no_grad():  # per cell: B x (x, y, sqrt w, sqrt h, confidence), then the classes
            start = last.bias.view(-1, out)
            start.zero_()
            if outputs == "linear":
                start[:, : boxes_per_cell * 5].view(-1, boxes_per_cell, 5)[..., :4] = 0.5
                start[:, boxes_per_cell * 5:] = 1.0 / num_classes
            else:
                start[:, 4: boxes_per_cell * 5: 5] = -2.0
        self.register_buffer("mean", torch.tensor(self.trunk.mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.trunk.std).view(3, 1, 1), persistent=False)

    def _predict(self, images: list[torch.Tensor]) -> torch.Tensor:
        """(N, S, S, B*5 + C) raw outputs for images warped to image_size x image_size (the paper's input)."""
        s = self.image_size
        x = torch.stack([F.interpolate(im[None], size=(s, s), mode="bilinear", align_corners=False)[0]
                         for im in images])
        f = self.trunk((x - self.mean) / self.std)["0"]
        if self.grid and f.shape[-1] != self.grid:
            f = F.adaptive_avg_pool2d(f, self.grid)
        if self.head_kind == "conv":
            return self.head(f).permute(0, 2, 3, 1)
        g = self.grid
        return self.head(f).view(len(images), g, g, -1)

    def _decode(self, raw: torch.Tensor):
        """Boxes (N, S, S, B, 4) xyxy in 0-1 image units (from values clipped to their ranges), and as
        the loss reads them: sqrt sizes (N,S,S,B,2), confidences (N,S,S,B), class probabilities
        (N,S,S,C), cell offsets (N,S,S,B,2)."""
        n, S = raw.shape[0], raw.shape[1]
        box = raw[..., : self.B * 5].reshape(n, S, S, self.B, 5)
        probs = raw[..., self.B * 5:]
        if self.outputs == "sigmoid":
            box, probs = box.sigmoid(), probs.softmax(-1)
        ys, xs = torch.meshgrid(torch.arange(S, device=raw.device), torch.arange(S, device=raw.device), indexing="ij")
        cell = torch.stack([xs, ys], -1).to(raw.dtype)[None, :, :, None]  # (1,S,S,1,2)
        clipped = box[..., :4].clamp(0, 1)
        centre = (cell + clipped[..., :2]) / S
        wh = clipped[..., 2:4] ** 2
        return cxcywh_to_xyxy(torch.cat([centre, wh], -1)), box[..., 2:4], box[..., 4], probs, box[..., :2]

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        raw = self._predict(images)
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            sizes = [im.shape[-2:] for im in images]
            return self.loss(raw, targets, sizes)
        return self.postprocess(raw, [im.shape[-2:] for im in images])

    def loss(self, raw: torch.Tensor, targets: list[dict], sizes) -> dict[str, torch.Tensor]:
        boxes, sqrt_wh, conf, probs, offs = self._decode(raw)
        S, B, C = raw.shape[1], self.B, self.num_classes
        coord = raw.new_zeros(())
        obj = raw.new_zeros(())
        cls = raw.new_zeros(())
        responsible = torch.zeros_like(conf, dtype=torch.bool)
        for n, (t, (h, w)) in enumerate(zip(targets, sizes)):
            gt = t["boxes"].to(raw.dtype).reshape(-1, 4) / raw.new_tensor([w, h, w, h])
            labels = t["labels"].long() - 1
            if len(gt) == 0:
                continue
            gt = gt.clamp(0, 1)
            wh = (gt[:, 2:] - gt[:, :2]).clamp(min=1e-6)
            centre = (gt[:, :2] + gt[:, 2:]) / 2
            cells = (centre * S).long().clamp(0, S - 1)  # (G, 2) x, y
            order = torch.argsort(wh.prod(1), descending=True)  # largest first: it names the cell's class
            taken: dict[tuple[int, int], list[int]] = {}
            for g in order.tolist():
                cx, cy = cells[g].tolist()
                used = taken.setdefault((cy, cx), [])
                if len(used) >= B:
                    continue  # v1 keeps at most B objects per cell; the rest are not learned
                with torch.no_grad():
                    iou = box_iou(gt[g: g + 1], boxes[n, cy, cx].detach())[0]
                    iou[used] = -1
                b = int(iou.argmax())
                used.append(b)
                responsible[n, cy, cx, b] = True
                target_off = centre[g] * S - cells[g].to(raw.dtype)
                coord = coord + ((offs[n, cy, cx, b] - target_off) ** 2).sum() \
                    + ((sqrt_wh[n, cy, cx, b] - wh[g].sqrt()) ** 2).sum()
                obj = obj + (conf[n, cy, cx, b] - iou[b].clamp(min=0)) ** 2
                if len(used) == 1:  # one class distribution per cell: the largest object's
                    onehot = F.one_hot(labels[g], C).to(raw.dtype)
                    cls = cls + ((probs[n, cy, cx] - onehot) ** 2).sum()
        noobj = (conf[~responsible] ** 2).sum()
        n = max(len(targets), 1)
        return {"loss_coord": self.lambda_coord * coord / n, "loss_obj": obj / n,
                "loss_noobj": self.lambda_noobj * noobj / n, "loss_class": cls / n}

    @torch.no_grad()
    def postprocess(self, raw: torch.Tensor, sizes) -> list[dict[str, torch.Tensor]]:
        boxes, _, conf, probs, _ = self._decode(raw)
        out = []
        for n, (h, w) in enumerate(sizes):
            # (S,S,B,C): P(class | cell) x confidence, each clipped to its range
            scores = conf[n].clamp(0, 1)[..., None] * probs[n].clamp(0, 1)[:, :, None, :]
            bx = boxes[n][..., None, :].expand(*scores.shape, 4).reshape(-1, 4) * raw.new_tensor([w, h, w, h])
            sc, lab = scores.reshape(-1), torch.arange(self.num_classes, device=raw.device).repeat(scores.numel()
                                                                                                 // self.num_classes)
            keep = sc > self.score_thresh
            bx, sc, lab = bx[keep], sc[keep], lab[keep]
            bx[:, 0::2] = bx[:, 0::2].clamp(0, w)
            bx[:, 1::2] = bx[:, 1::2].clamp(0, h)
            k = batched_nms(bx, sc, lab, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": bx[k], "scores": sc[k], "labels": lab[k] + 1})
        return out


@register_detector("yolov1_lite0", family="single-stage", method="yolov1", backbone="efficientnet_lite0",
                   image_size=448, summary="YOLO v1: S x S grid (S = 14 at 448 px), B = 2 boxes and one class "
                   "distribution per cell, the v1 squared-error loss, Lite0", year=2016,
                   paper="Redmon et al., You Only Look Once, CVPR 2016",
                   optimizer="adamw", lr=1e-3, weight_decay=5e-4, batch_size=4, epochs=20, trainable_stages=5,
                   warmup_steps=30, score_thresh=0.005, outputs="linear")
def yolov1_lite0(num_classes: int, pretrained_backbone: bool = True, image_size: int = 448,
                 backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, score_thresh: float = 0.05,
                 nms_thresh: float = 0.5, detections_per_img: int = 300, normalize: str = "backbone",
                 boxes_per_cell: int = 2, head: str = "conv", grid: int | None = None, outputs: str = "linear",
                 **_) -> YOLOv1:
    return YOLOv1(num_classes, backbone, pretrained_backbone, image_size, boxes_per_cell=boxes_per_cell, head=head,
                  trainable_stages=trainable_stages, score_thresh=score_thresh, nms_thresh=nms_thresh,
                  detections_per_img=detections_per_img, normalize=normalize, grid=grid, outputs=outputs)
