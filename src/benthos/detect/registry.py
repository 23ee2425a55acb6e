"""Detector registry: one name gives a trainable, evaluable detector.

Every detector is an ``nn.Module`` with torchvision's call convention, so the data
pipeline, engine, evaluation and tiling are shared:

- ``model(images: list[Tensor[3,H,W] in 0-1], targets)`` in train mode returns a dict of
  losses; ``targets`` are ``[{"boxes": (N,4) xyxy pixels, "labels": (N,) 1-based}]``.
- in eval mode it returns ``[{"boxes", "scores", "labels" (1-based)}]`` in input pixels.

Later detectors plug in here: R-CNN and Fast R-CNN take external region proposals
(``targets``/``proposals`` may carry ``"proposals": (P,4)`` per image, produced by a
``proposals=`` hook, e.g. selective search), R-CNN classifies warped crops with a zoo
classifier per region, and R-FCN swaps the RoI head for position-sensitive RoI pooling
(``torchvision.ops.ps_roi_align``) on the same trunks from :mod:`benthos.detect.backbones`.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the registry (the CLI's --help) must not import torch
    from torch import nn

from benthos.errors import ConfigError, closest

# the best detector measured on frames of held-out dives (BENCHMARKS.md): change it when another beats it there
DEFAULT_DETECTOR = "fasterrcnn_lite0_fpn"


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    builder: Callable[..., nn.Module]
    family: str           # "two-stage" | "single-stage"
    method: str           # "faster_rcnn", "ssd", "yolo", "retinanet", "fcos", "overfeat", "rcnn", "fast_rcnn",
                          # "rfcn", "yolov1"
    backbone: str
    image_size: int       # default network input (long side)
    summary: str
    defaults: dict = field(default_factory=dict)  # training defaults: lr, optimizer, batch_size, ...
    year: int | None = None   # of the paper that introduced the method (the lecture's lineage reads by it)
    paper: str | None = None  # short citation, e.g. "Ren et al., NeurIPS 2015"


_REGISTRY: dict[str, DetectorSpec] = {}


def register_detector(name: str, *, family: str, method: str, backbone: str, image_size: int, summary: str,
                      year: int | None = None, paper: str | None = None, **defaults) -> Callable:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = DetectorSpec(name, fn, family, method, backbone, image_size, summary, defaults,
                                       year=year, paper=paper)
        return fn

    return deco


def _load() -> None:
    # the builders register themselves when their modules are imported (plugin discovery, as timm's
    # registry): by name, so that the registry does not depend on the models that depend on it
    import importlib

    importlib.import_module("benthos.detect.models")


def list_detectors(pattern: str | None = None) -> list[str]:
    """Registered detector names, optionally filtered by a shell pattern (``"faster*"``)."""
    _load()
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def detector_spec(name: str) -> DetectorSpec:
    _load()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown detector {name!r}; choose from {', '.join(sorted(_REGISTRY))}."
                          + closest(name, _REGISTRY))
    return _REGISTRY[name]


def create_detector(name: str, num_classes: int, *, pretrained_backbone: bool = True, image_size: int | None = None,
                    **opts) -> nn.Module:
    """Build detector ``name`` for ``num_classes`` foreground classes (labels 1..num_classes).

    Options the builders understand: ``backbone``, ``trainable_stages``, ``fpn``,
    ``anchor_sizes``, ``score_thresh``, ``nms_thresh``, ``detections_per_img``; Faster R-CNN
    also ``min_stride`` (8, or 4 to add the P2 level) and ``rois_per_image``.
    """
    spec = detector_spec(name)
    if num_classes < 1:
        raise ConfigError(f"a detector needs at least one class, got num_classes={num_classes}")
    opts = {k: v for k, v in opts.items() if v is not None}
    model = spec.builder(num_classes=num_classes, pretrained_backbone=pretrained_backbone,
                         image_size=image_size or spec.image_size, **opts)
    model.detector_name = name
    return model
