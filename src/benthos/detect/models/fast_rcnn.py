"""Fast R-CNN (Girshick, ICCV 2015): one CNN pass per image, RoI pooling over external proposals.

Selective-search proposals (:mod:`benthos.detect.proposals`, cached on disk) replace the RPN
of Faster R-CNN; everything after them is torchvision's RoI heads: RoI max pooling (the paper's;
``roi_op="align"`` for RoIAlign) from the FPN level each RoI maps to, two fully connected
layers, a softmax classifier and class-specific box regression trained together with the
multi-task loss (cross-entropy + smooth L1). As in the paper, mini-batches are a few images
(2) with many RoIs each (64 sampled per image, a quarter of them foreground: IoU >= 0.5).

In training the proposals come with the targets (``targets[i]["proposals"]``, computed on the
original frame by the data pipeline and moved with its crops and flips); at inference the
model searches each image it is given, through the same content-keyed cache.
"""
from __future__ import annotations

import torch
from torch import nn

from benthos.detect.backbones import FeatureTrunk
from benthos.detect.proposals import make_provider
from benthos.detect.registry import register_detector
from benthos.errors import ConfigError


def fit_proposals(props: torch.Tensor, size, new_size, min_size: float = 1.0) -> torch.Tensor:
    """Proposals of an image of ``size`` (h, w) moved to its resized ``new_size``, clipped to it, and
    degenerate ones (inside-out, outside the image, under ``min_size`` px) dropped."""
    from torchvision.models.detection.transform import resize_boxes
    from torchvision.ops import boxes as box_ops

    props = props.reshape(-1, 4).float()
    if tuple(size) != tuple(new_size):
        props = resize_boxes(props, list(size), list(new_size))
    props = box_ops.clip_boxes_to_image(props, tuple(new_size))
    return props[box_ops.remove_small_boxes(props, min_size)]


class ProposalRCNN(nn.Module):
    """Trunk + RoI heads over proposals from ``proposer`` (torchvision's detector call convention)."""

    def __init__(self, backbone: nn.Module, roi_heads: nn.Module, transform: nn.Module, proposer) -> None:
        super().__init__()
        self.backbone, self.roi_heads, self.transform, self.proposer = backbone, roi_heads, transform, proposer

    def proposal_provider(self):
        """The provider the data pipeline uses to attach ``"proposals"`` to training targets."""
        return self.proposer

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        if self.training and targets is None:
            raise ValueError("targets are needed in training mode")
        sizes = [tuple(im.shape[-2:]) for im in images]
        if self.training and all("proposals" in t for t in targets):
            props = [t["proposals"].to(images[0].device) for t in targets]
        else:  # inference, or targets from a pipeline without a provider: search the images given
            props = [self.proposer.tensor(im) for im in images]
        batch, targets = self.transform(list(images), [dict(t) for t in targets] if targets is not None else None)
        props = [fit_proposals(p, s, ns) for p, s, ns in zip(props, sizes, batch.image_sizes)]
        if self.training:  # nothing proposed and nothing annotated: the whole frame is still a background RoI
            props = [p if len(p) or len(t["boxes"]) else p.new_tensor([[0, 0, ns[1], ns[0]]])
                     for p, t, ns in zip(props, targets, batch.image_sizes)]
        features = self.backbone(batch.tensors)
        detections, losses = self.roi_heads(features, props, batch.image_sizes, targets)
        if self.training:
            return losses
        return self.transform.postprocess(detections, batch.image_sizes, sizes)


def fast_rcnn(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
              backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, score_thresh: float = 0.05,
              nms_thresh: float = 0.3, detections_per_img: int = 300, rois_per_image: int = 64,
              normalize: str = "backbone", roi_op: str = "pool", box_vote: float = 0.0,
              max_proposals: int | None = None, proposal_side: int | None = None, proposal_k: int | None = None,
              fpn_channels: int = 96, **_) -> nn.Module:
    """``nms_thresh`` 0.3 as in the paper's test-time NMS; ``proposal_*``: :class:`ProposalSettings`."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.roi_heads import RoIHeads
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from benthos.detect.models.faster_rcnn import roi_pooler, voting_roi_heads

    if isinstance(box_vote, bool) or not isinstance(box_vote, (int, float)) or not 0 <= box_vote <= 1:
        raise ConfigError(f"box_vote {box_vote!r}: use an IoU from 0 (off) to 1, e.g. 0.6")
    proposer = make_provider(max_proposals, proposal_side, proposal_k)
    trunk = FeatureTrunk(backbone, pretrained_backbone, (8, 16, 32), fpn=True, out_channels=fpn_channels,
                         trainable_stages=trainable_stages, normalize=normalize)
    pool = roi_pooler(roi_op, ["0", "1", "2"])
    heads = RoIHeads(pool, TwoMLPHead(fpn_channels * 7 * 7, 1024), FastRCNNPredictor(1024, num_classes + 1),
                     fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=rois_per_image,
                     positive_fraction=0.25, bbox_reg_weights=None, score_thresh=score_thresh,
                     nms_thresh=nms_thresh, detections_per_img=detections_per_img)
    if box_vote:
        heads.__class__ = voting_roi_heads()
        heads.box_vote = float(box_vote)
    transform = GeneralizedRCNNTransform(image_size, image_size, trunk.mean, trunk.std)
    return ProposalRCNN(trunk, heads, transform, proposer)


# Paper's recipe where a CPU allows it: 2 images x 64 RoIs, SGD; the trunk's stem and first two
# stages frozen and FPN levels as the default Faster R-CNN, so the two differ only in their proposals.
register_detector("fast_rcnn_lite0_fpn", family="two-stage", method="fast_rcnn", backbone="efficientnet_lite0",
                  image_size=640, summary="Fast R-CNN: selective-search proposals (cached), RoI max pooling, "
                  "Lite0 + FPN P3-P5", year=2015, paper="Girshick, Fast R-CNN, ICCV 2015",
                  optimizer="sgd", lr=0.01, weight_decay=1e-4, batch_size=2, epochs=9, trainable_stages=5,
                  roi_op="pool", max_proposals=2000)(fast_rcnn)
