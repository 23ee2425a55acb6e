"""Faster R-CNN (torchvision): RPN with anchors, RoIAlign, four losses, trained end to end.

``roi_op``: "align" (RoIAlign, Mask R-CNN's bilinear sampling; the default) or "pool" (the
RoI max pooling of Fast/Faster R-CNN's papers, which rounds each RoI to the feature grid),
both with torchvision's FPN level mapping, so the lecture's step can be measured.

Anchors start at 16 px on the stride-8 map: brittle stars in 640 px survey frames are
~30 px wide, below torchvision's default 32 px smallest anchor.
"""
from __future__ import annotations

import functools

from torch import nn

from benthos.detect.backbones import FeatureTrunk, anchor_generator
from benthos.detect.registry import register_detector
from benthos.errors import ConfigError

SMALL_ANCHORS_FPN = ((16, 24), (32, 48), (64, 96), (128, 256))
SMALL_ANCHORS_P2 = ((8, 12),) + SMALL_ANCHORS_FPN  # P2 (stride 4) adds 8-12 px anchors for the tiniest animals
SMALL_ANCHORS_C4 = ((16, 32, 64, 128, 256),)


def faster_rcnn(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
                backbone: str = "efficientnet_lite0", fpn: bool = True, trainable_stages: int | None = None,
                anchor_sizes=None, score_thresh: float = 0.05, nms_thresh: float = 0.5,
                detections_per_img: int = 300, rois_per_image: int = 256, rpn_train_proposals: int = 2000,
                min_stride: int = 8, normalize: str = "backbone", fpn_channels: int = 96, box_vote: float = 0.0,
                roi_op: str = "align", **_) -> nn.Module:
    """``fpn_channels``: width of the FPN maps (and so of the RPN and box head inputs); 96 by default
    (wider maps cost more and measured no better: BENCHMARKS.md).

    ``box_vote``: after the final NMS, move each box to the score-weighted mean of the boxes of
    its class overlapping it by at least this IoU (:func:`benthos.detect.tiling.nms_vote`; 0: off).
    Prediction only: the weights and training are the same."""
    from torchvision.models.detection import FasterRCNN

    if fpn:
        if isinstance(fpn_channels, bool) or not isinstance(fpn_channels, int) or fpn_channels < 1:
            raise ConfigError(f"fpn_channels {fpn_channels!r}: use a whole number of channels, e.g. 96 (the default)")
        if min_stride not in (4, 8):
            raise ConfigError(f"min_stride {min_stride}: the FPN starts at stride 8 (P3, the default) or 4 (P2)")
        strides = (4, 8, 16, 32) if min_stride == 4 else (8, 16, 32)
        trunk = FeatureTrunk(backbone, pretrained_backbone, strides, fpn=True, out_channels=fpn_channels,
                             trainable_stages=trainable_stages, normalize=normalize)
        default = SMALL_ANCHORS_P2 if min_stride == 4 else SMALL_ANCHORS_FPN
        sizes, maps = anchor_sizes or default, [str(i) for i in range(len(strides))]
    else:  # single stride-16 map, as in the original paper's VGG/ResNet-C4 setting
        trunk = FeatureTrunk(backbone, pretrained_backbone, (16,), fpn=False, trainable_stages=trainable_stages,
                             normalize=normalize)
        sizes, maps = anchor_sizes or SMALL_ANCHORS_C4, ["0"]
    if isinstance(box_vote, bool) or not isinstance(box_vote, (int, float)) or not 0 <= box_vote <= 1:
        raise ConfigError(f"box_vote {box_vote!r}: use an IoU from 0 (off) to 1, e.g. 0.6")
    model = FasterRCNN(trunk, num_classes=num_classes + 1, rpn_anchor_generator=anchor_generator(trunk, sizes),
                       box_roi_pool=roi_pooler(roi_op, maps),
                       min_size=image_size, max_size=image_size, image_mean=trunk.mean, image_std=trunk.std,
                       box_score_thresh=score_thresh, box_nms_thresh=nms_thresh,
                       box_detections_per_img=detections_per_img, box_batch_size_per_image=rois_per_image,
                       rpn_pre_nms_top_n_train=rpn_train_proposals, rpn_post_nms_top_n_train=rpn_train_proposals)
    if box_vote:
        model.roi_heads.__class__ = voting_roi_heads()  # same modules and weights; only the last step differs
        model.roi_heads.box_vote = float(box_vote)
    return model


ROI_OPS = ("align", "pool")


def roi_pooler(roi_op: str, maps: list[str], output_size: int = 7, sampling_ratio: int = 2) -> nn.Module:
    """RoIAlign or RoI max pooling over the feature maps ``maps``, each RoI from the FPN level
    torchvision's MultiScaleRoIAlign maps it to (Lin et al. 2017, eq. 1)."""
    from torchvision.ops import MultiScaleRoIAlign

    if roi_op == "align":
        return MultiScaleRoIAlign(maps, output_size=output_size, sampling_ratio=sampling_ratio)
    if roi_op == "pool":
        return multiscale_roi_pool()(maps, output_size=output_size, sampling_ratio=sampling_ratio)
    raise ConfigError(f"roi_op {roi_op!r}: use 'align' (RoIAlign) or 'pool' (RoI max pooling)")


def rois_by_level(pooler, x: dict, boxes: list, image_shapes: list) -> tuple[list, object, object]:
    """What a MultiScaleRoIAlign-like pooler needs before pooling: (the feature maps it pools from, the RoIs
    in roi_pool's (index, x0, y0, x1, y1) format, each RoI's FPN level by torchvision's mapping, all 0 for
    one map). Shared by RoI max pooling here and R-FCN's position-sensitive pooling."""
    import torch
    from torchvision.ops.poolers import _convert_to_roi_format, _filter_input, _setup_scales

    feats = _filter_input(x, pooler.featmap_names)
    if pooler.scales is None or pooler.map_levels is None:
        pooler.scales, pooler.map_levels = _setup_scales(feats, image_shapes, pooler.canonical_scale,
                                                         pooler.canonical_level)
    rois = _convert_to_roi_format(boxes)
    levels = pooler.map_levels(boxes) if len(feats) > 1 else torch.zeros(len(rois), dtype=torch.int64,
                                                                          device=rois.device)
    return feats, rois, levels


@functools.cache
def multiscale_roi_pool() -> type:
    """MultiScaleRoIAlign's level mapping with ``torchvision.ops.roi_pool`` in place of roi_align (a
    subclass, since torchvision's detectors accept only that type as their RoI pooler)."""
    import torch
    from torchvision.ops import MultiScaleRoIAlign, roi_pool

    class MultiScaleRoIPool(MultiScaleRoIAlign):
        """RoI max pooling (Girshick 2015): each RoI snapped to the feature grid, max over each bin."""

        def forward(self, x, boxes, image_shapes):
            feats, rois, levels = rois_by_level(self, x, boxes, image_shapes)
            if len(feats) == 1:
                return roi_pool(feats[0], rois, self.output_size, self.scales[0])
            out = feats[0].new_zeros((len(rois), feats[0].shape[1]) + tuple(self.output_size))
            for level, (f, scale) in enumerate(zip(feats, self.scales)):
                idx = torch.where(levels == level)[0]
                out[idx] = roi_pool(f, rois[idx], self.output_size, scale).to(out.dtype)
            return out

    return MultiScaleRoIPool


@functools.cache
def voting_roi_heads() -> type:
    """torchvision's RoIHeads with box voting after the final NMS (a class made on first use, so that
    importing the registry does not import torchvision)."""
    import torch
    from torchvision.models.detection.roi_heads import RoIHeads

    from benthos.detect.tiling import nms_vote

    class VotingRoIHeads(RoIHeads):
        """torchvision's RoI heads with box voting after the final class-wise NMS."""

        box_vote = 0.0

        def postprocess_detections(self, class_logits, box_regression, proposals, image_shapes):
            nms, limit = self.nms_thresh, self.detections_per_img
            # torchvision keeps every box; NMS below (an ONNX graph takes IoU thresholds up to 1 only)
            self.nms_thresh, self.detections_per_img = (1.0 if torch.onnx.is_in_onnx_export() else 1.01), 1 << 30
            try:
                boxes, scores, labels = super().postprocess_detections(class_logits, box_regression, proposals,
                                                                       image_shapes)
            finally:
                self.nms_thresh, self.detections_per_img = nms, limit
            out = [nms_vote(b, s, lab, nms, limit, self.box_vote) for b, s, lab in zip(boxes, scores, labels)]
            return [o["boxes"] for o in out], [o["scores"] for o in out], [o["labels"] for o in out]

    return VotingRoIHeads


DEFAULTS = dict(optimizer="sgd", lr=0.02, weight_decay=1e-4, batch_size=4, epochs=12, roi_op="align")

# The default's choices, each measured on held-out video hours of brittle-star frames (BENCHMARKS.md,
# "Why the detection defaults are what they are"): 256 sampled RoIs per image (torchvision: 512; the
# frames hold few boxes and RoIAlign's backward was a large part of a CPU step); the trunk's stem and
# first two stages frozen (trainable_stages=5, as torchvision freezes conv1 + layer1: 0.5% of the
# weights, a third of the step); 9 epochs; box voting at IoU 0.6 after the final NMS; 500 RPN proposals
# per frame at test time instead of torchvision's 1000 (1.9x faster per frame, AP50 -0.005; 300: 2.2x,
# AP50 -0.014), RoIAlign sampling 1 x 1 points per bin at test time instead of 2 x 2 (AP50 -0.001); with the
# whole graph in ONNX Runtime, 2.4x faster than before (BENCHMARKS.md, "Detection speed").
register_detector("fasterrcnn_lite0_fpn", family="two-stage", method="faster_rcnn", backbone="efficientnet_lite0",
                  image_size=640, summary="Faster R-CNN, Lite0 + FPN (P3-P5, pool), small anchors 16-256 px", year=2015, paper="Ren et al., Faster R-CNN, NeurIPS 2015; FPN: Lin et al., CVPR 2017",
                  **(DEFAULTS | {"epochs": 9, "trainable_stages": 5, "box_vote": 0.6, "test_proposals": 500,
                                 "test_roi_sampling": 1}))(faster_rcnn)


register_detector("fasterrcnn_lite0_p2fpn", family="two-stage", method="faster_rcnn", backbone="efficientnet_lite0",
                  image_size=640, summary="Faster R-CNN, Lite0 + FPN from P2 (stride 4), anchors 8-256 px", year=2015, paper="Ren et al., Faster R-CNN, NeurIPS 2015; FPN: Lin et al., CVPR 2017",
                  **(DEFAULTS | {"epochs": 7}))(functools.partial(faster_rcnn, min_stride=4))


@register_detector("fasterrcnn_lite0", family="two-stage", method="faster_rcnn", backbone="efficientnet_lite0",
                   image_size=640, summary="Faster R-CNN, Lite0 stride-16 map, no FPN", year=2015, paper="Ren et al., Faster R-CNN, NeurIPS 2015", **DEFAULTS)
def fasterrcnn_lite0(**kw) -> nn.Module:
    return faster_rcnn(**(kw | {"fpn": False}))
