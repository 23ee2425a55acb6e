"""R-FCN (Dai et al., NeurIPS 2016): region-based, fully convolutional; no per-RoI layers.

Faster R-CNN runs two fully connected layers on every RoI; R-FCN moves all computation
before the RoIs: convolutions turn each feature map into k x k position-sensitive score
maps per class (and k x k maps of box offsets), and an RoI's score for a class is the
average ("vote") of its k x k bins, bin (i, j) read only from map (i, j)
(``torchvision.ops.ps_roi_align``). The per-RoI cost is a pooling and a mean, so testing
with many proposals costs little.

To compare it with the default Faster R-CNN on equal terms, everything else is that
detector's: Lite0 + FPN P3-P5 trunk (stem and first two stages frozen, inputs normalised
as the trunk was pretrained), torchvision's RPN with the same small anchors, RoI sampling,
losses and box voting. Score maps are computed on every FPN level by one shared head, and
each RoI is pooled from the level torchvision's level mapping assigns it to.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from benthos.detect.backbones import FeatureTrunk, anchor_generator
from benthos.detect.models.faster_rcnn import SMALL_ANCHORS_FPN, rois_by_level, voting_roi_heads
from benthos.detect.registry import register_detector
from benthos.errors import ConfigError


@functools.cache
def ps_roi_head() -> type:
    """The position-sensitive head, as a MultiScaleRoIAlign subclass: torchvision's detectors take
    only that type as their RoI pooler, and it brings the FPN level mapping."""
    from torchvision.ops import MultiScaleRoIAlign, ps_roi_align, ps_roi_pool

    class PSRoIHead(MultiScaleRoIAlign):
        """Feature maps -> k x k position-sensitive maps per class and for 4 box offsets -> per RoI,
        class logits and class-agnostic box deltas (vote: mean over the k x k bins)."""

        def __init__(self, maps: list[str], in_channels: int, num_classes: int, k: int = 3, hidden: int = 256,
                     op: str = "align") -> None:
            super().__init__(maps, output_size=k, sampling_ratio=2)
            self.k, self.num_classes, self.op = k, num_classes, op
            self.conv = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True))
            self.cls = nn.Conv2d(hidden, k * k * num_classes, 1)
            self.box = nn.Conv2d(hidden, k * k * 4, 1)
            nn.init.kaiming_normal_(self.conv[0].weight, mode="fan_out", nonlinearity="relu")
            for layer in (self.cls, self.box):  # small start: votes near zero, as a fresh linear classifier's
                nn.init.normal_(layer.weight, std=0.01)
            for layer in (self.conv[0], self.cls, self.box):
                nn.init.zeros_(layer.bias)

        def _pool(self, maps: torch.Tensor, rois: torch.Tensor, scale: float) -> torch.Tensor:
            if self.op == "pool":
                return ps_roi_pool(maps, rois, self.k, scale)
            return ps_roi_align(maps, rois, self.k, scale, sampling_ratio=self.sampling_ratio)

        def forward(self, x, boxes, image_shapes):
            feats, rois, levels = rois_by_level(self, x, boxes, image_shapes)
            out = feats[0].new_zeros(len(rois), self.num_classes + 4)
            for level, (f, scale) in enumerate(zip(feats, self.scales)):
                idx = torch.where(levels == level)[0]
                if idx.numel() == 0:
                    continue
                h = self.conv(f)
                cls = self._pool(self.cls(h), rois[idx], scale).mean((2, 3))  # vote: average over the bins
                box = self._pool(self.box(h), rois[idx], scale).mean((2, 3))
                out[idx] = torch.cat([cls, box], 1).to(out.dtype)
            return out

    return PSRoIHead


class SplitVotes(nn.Module):
    """(R, C + 4) votes -> class logits (R, C) and the class-agnostic deltas repeated for every class,
    the layout torchvision's RoI heads expect (their loss reads the true class's copy)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, : self.num_classes], x[:, self.num_classes:].repeat(1, self.num_classes)


def rfcn(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
         backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, anchor_sizes=None,
         score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 300,
         rois_per_image: int = 256, rpn_train_proposals: int = 2000, normalize: str = "backbone",
         fpn_channels: int = 96, box_vote: float = 0.0, k: int = 3, ps_hidden: int = 256, ps_op: str = "align",
         **_) -> nn.Module:
    """``k``: bins per side of the position-sensitive grid (3, the paper's default); ``ps_op``: "align"
    (``ps_roi_align``) or "pool" (``ps_roi_pool``); ``ps_hidden``: width of the conv before the score maps."""
    from torchvision.models.detection import FasterRCNN

    if isinstance(box_vote, bool) or not isinstance(box_vote, (int, float)) or not 0 <= box_vote <= 1:
        raise ConfigError(f"box_vote {box_vote!r}: use an IoU from 0 (off) to 1, e.g. 0.6")
    if ps_op not in ("align", "pool"):
        raise ConfigError(f"ps_op {ps_op!r}: use 'align' (ps_roi_align) or 'pool' (ps_roi_pool)")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 15:
        raise ConfigError(f"k {k!r}: use a whole number of bins per side, e.g. 3 (the paper) or 7")
    trunk = FeatureTrunk(backbone, pretrained_backbone, (8, 16, 32), fpn=True, out_channels=fpn_channels,
                         trainable_stages=trainable_stages, normalize=normalize)
    head = ps_roi_head()(["0", "1", "2"], fpn_channels, num_classes + 1, k=k, hidden=ps_hidden, op=ps_op)
    model = FasterRCNN(trunk, num_classes=None, rpn_anchor_generator=anchor_generator(trunk, anchor_sizes or
                                                                                      SMALL_ANCHORS_FPN),
                       box_roi_pool=head, box_head=nn.Identity(), box_predictor=SplitVotes(num_classes + 1),
                       min_size=image_size, max_size=image_size, image_mean=trunk.mean, image_std=trunk.std,
                       box_score_thresh=score_thresh, box_nms_thresh=nms_thresh,
                       box_detections_per_img=detections_per_img, box_batch_size_per_image=rois_per_image,
                       rpn_pre_nms_top_n_train=rpn_train_proposals, rpn_post_nms_top_n_train=rpn_train_proposals)
    if box_vote:
        model.roi_heads.__class__ = voting_roi_heads()
        model.roi_heads.box_vote = float(box_vote)
    return model


# The default Faster R-CNN's recipe (fasterrcnn_lite0_fpn): 9 epochs, batches of 4, SGD at 0.02,
# 256 RoIs per image, stem + first two stages frozen, box voting at IoU 0.6.
register_detector("rfcn_lite0_fpn", family="two-stage", method="rfcn", backbone="efficientnet_lite0",
                  image_size=640, summary="R-FCN: RPN + position-sensitive score maps (3x3 bins, ps_roi_align, "
                  "vote by mean), Lite0 + FPN P3-P5", year=2016, paper="Dai et al., R-FCN, NeurIPS 2016",
                  optimizer="sgd", lr=0.02, weight_decay=1e-4, batch_size=4, epochs=9, trainable_stages=5,
                  box_vote=0.6)(rfcn)
