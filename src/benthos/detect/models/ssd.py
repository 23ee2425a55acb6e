"""SSD: boxes from several feature-map scales (torchvision SSD300-VGG16, SSDlite-MobileNetV3, SSD on Lite0).

VGG16 and MobileNetV3 ImageNet weights come from torchvision's download cache; without
them (offline) ask for ``pretrained_backbone=False`` (CLI ``--no-pretrained``).
"""
from __future__ import annotations

from torch import nn

from benthos.detect.backbones import FeatureTrunk
from benthos.detect.registry import register_detector
from benthos.errors import WeightsError

DEFAULTS = dict(optimizer="sgd", lr=0.01, weight_decay=5e-4, batch_size=8, epochs=12)


def _torchvision_weights(enum_value, pretrained: bool):
    if not pretrained:
        return None
    import os

    from torch.hub import get_dir

    cached = os.path.join(get_dir(), "checkpoints", os.path.basename(enum_value.url))
    if not os.path.isfile(cached):
        raise WeightsError(f"ImageNet backbone weights {os.path.basename(enum_value.url)} are not in the torch hub "
                           f"cache ({cached}) and this machine may be offline; place the file there, or train from "
                           "scratch with --no-pretrained (much weaker on small data sets).")
    return enum_value


def _tune(model: nn.Module, image_size: int, score_thresh: float, nms_thresh: float, detections_per_img: int):
    model.transform.fixed_size = (image_size, image_size)
    model.transform.min_size, model.transform.max_size = (image_size,), image_size
    model.score_thresh, model.nms_thresh, model.detections_per_img = score_thresh, nms_thresh, detections_per_img
    return model


@register_detector("ssd300_vgg16", family="single-stage", method="ssd", backbone="vgg16", image_size=300,
                   summary="SSD300 (Liu et al.), VGG16, six scales, torchvision", year=2016, paper="Liu et al., SSD, ECCV 2016", **DEFAULTS)
def ssd300_vgg16(num_classes: int, pretrained_backbone: bool = True, image_size: int = 300,
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 300, **_) -> nn.Module:
    from torchvision.models import VGG16_Weights
    from torchvision.models.detection import ssd300_vgg16 as build

    wb = _torchvision_weights(VGG16_Weights.IMAGENET1K_FEATURES, pretrained_backbone)
    return _tune(build(weights=None, weights_backbone=wb, num_classes=num_classes + 1), image_size, score_thresh,
                 nms_thresh, detections_per_img)


@register_detector("ssdlite320_mobilenet_v3", family="single-stage", method="ssd", backbone="mobilenet_v3_large",
                   image_size=320, summary="SSDlite, MobileNetV3-Large, depthwise heads, torchvision", year=2019,
                   paper="SSDlite: Sandler et al., CVPR 2018; MobileNetV3: Howard et al., ICCV 2019", **DEFAULTS)
def ssdlite320_mobilenet_v3(num_classes: int, pretrained_backbone: bool = True, image_size: int = 320,
                            score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 300,
                            **_) -> nn.Module:
    from torchvision.models import MobileNet_V3_Large_Weights
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large as build

    wb = _torchvision_weights(MobileNet_V3_Large_Weights.IMAGENET1K_V1, pretrained_backbone)
    return _tune(build(weights=None, weights_backbone=wb, num_classes=num_classes + 1), image_size, score_thresh,
                 nms_thresh, detections_per_img)


@register_detector("ssd_lite0", family="single-stage", method="ssd", backbone="efficientnet_lite0", image_size=640,
                   summary="SSD heads on Lite0 maps at strides 8/16/32, default boxes 3-45% of the image", year=2016, paper="Liu et al., SSD, ECCV 2016",
                   **DEFAULTS)
def ssd_lite0(num_classes: int, pretrained_backbone: bool = True, image_size: int = 640,
              backbone: str = "efficientnet_lite0", trainable_stages: int | None = None, score_thresh: float = 0.05,
              nms_thresh: float = 0.5, detections_per_img: int = 300, normalize: str = "backbone",
              **_) -> nn.Module:
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD, SSDHead

    trunk = FeatureTrunk(backbone, pretrained_backbone, (8, 16, 32), fpn=False, trainable_stages=trainable_stages,
                         normalize=normalize)
    boxes = DefaultBoxGenerator([[2], [2, 3], [2, 3]], scales=[0.03, 0.08, 0.2, 0.45])
    head = SSDHead(trunk.out_channels, boxes.num_anchors_per_location(), num_classes + 1)
    model = SSD(trunk, boxes, (image_size, image_size), num_classes + 1, image_mean=list(trunk.mean),
                image_std=list(trunk.std), head=head)
    return _tune(model, image_size, score_thresh, nms_thresh, detections_per_img)
