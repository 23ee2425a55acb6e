"""RetinaNet (focal loss, anchors) and FCOS (anchor-free, centre-ness) from torchvision, on zoo trunks.

Both use P3-P7 as in their papers (FPN on strides 8/16/32 plus P6/P7), with anchors
halved from the defaults so the stride-8 level fits ~30 px organisms.
"""
from __future__ import annotations

from torch import nn

from benthos.detect.backbones import FeatureTrunk, anchor_generator
from benthos.detect.registry import register_detector

class _DropBackground:
    """Index 0 is kept free (labels are 1-based for every detector here) and never reported."""

    def postprocess_detections(self, *args, **kwargs):
        dets = super().postprocess_detections(*args, **kwargs)
        return [{k: v[d["labels"] > 0] for k, v in d.items()} for d in dets]


def _classes():
    from torchvision.models.detection import FCOS, RetinaNet

    return type("RetinaNetFG", (_DropBackground, RetinaNet), {}), type("FCOSFG", (_DropBackground, FCOS), {})


DEFAULTS = dict(optimizer="sgd", lr=0.01, weight_decay=1e-4, batch_size=4, epochs=12)


def _trunk(backbone, pretrained_backbone, trainable_stages, normalize="backbone") -> FeatureTrunk:
    return FeatureTrunk(backbone, pretrained_backbone, (8, 16, 32), fpn=True, out_channels=96, p6p7=True,
                        trainable_stages=trainable_stages, normalize=normalize)


@register_detector("retinanet_lite0_fpn", family="single-stage", method="retinanet", backbone="efficientnet_lite0",
                   image_size=640, summary="RetinaNet (focal loss), Lite0 + FPN P3-P7, anchors 16-256 px", year=2017,
                   paper="Lin et al., Focal Loss for Dense Object Detection, ICCV 2017", **DEFAULTS)
def retinanet_lite0_fpn(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
                        backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, anchor_sizes=None,
                        score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 300,
                        normalize: str = "backbone", **_) -> nn.Module:
    RetinaNet = _classes()[0]
    base = [s[0] for s in anchor_sizes] if anchor_sizes else [16, 32, 64, 128, 256]
    sizes = tuple((x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3))) for x in base)
    trunk = _trunk(backbone, pretrained_backbone, trainable_stages, normalize)
    return RetinaNet(trunk, num_classes + 1,
                     min_size=image_size, max_size=image_size, image_mean=trunk.mean, image_std=trunk.std,
                     anchor_generator=anchor_generator(trunk, sizes), score_thresh=score_thresh, nms_thresh=nms_thresh,
                     detections_per_img=detections_per_img)


@register_detector("fcos_lite0_fpn", family="single-stage", method="fcos", backbone="efficientnet_lite0",
                   image_size=640, summary="FCOS (anchor-free, centre-ness), Lite0 + FPN P3-P7", year=2019,
                   paper="Tian et al., FCOS, ICCV 2019", **DEFAULTS)
def fcos_lite0_fpn(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
                   backbone: str = "efficientnet_lite0", trainable_stages: int | None = None,
                   score_thresh: float = 0.05, nms_thresh: float = 0.6, detections_per_img: int = 300,
                   normalize: str = "backbone", **_) -> nn.Module:
    FCOS = _classes()[1]
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    # FCOS uses one "anchor" per cell as its location and scale reference: the stride
    anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((1.0,),) * 5)
    trunk = _trunk(backbone, pretrained_backbone, trainable_stages, normalize)
    return FCOS(trunk, num_classes + 1, min_size=image_size,
                max_size=image_size, image_mean=trunk.mean, image_std=trunk.std, anchor_generator=anchors,
                score_thresh=score_thresh, nms_thresh=nms_thresh, detections_per_img=detections_per_img)
