"""Test-time augmentation for detectors: the image and its mirror image, merged by class-wise NMS.

Seafloor organisms look the same mirrored, so a detector that misses an animal (or scores it
low) in one view often finds it in the other. Costs one more forward pass per image.
It gains a little AP at over twice the time per frame (BENCHMARKS.md), so it is an option
(``--tta flip``), not the default.
"""
from __future__ import annotations

import torch
from torch import nn

from benthos.errors import ConfigError


class FlipTTA(nn.Module):
    """Wraps a detector in eval mode: predictions on each image and its horizontal mirror, merged."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        from benthos.detect.tiling import nms_settings

        self.nms_thresh, self.detections_per_img, self.box_vote = nms_settings(model)

    @torch.no_grad()
    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        from benthos.detect.dataset import flip_boxes
        from benthos.detect.tiling import merge_detections

        both = self.model(list(images) + [x.flip(-1) for x in images])  # one batched pass
        plain, mirrored = both[: len(images)], both[len(images):]
        out = []
        for x, a, b in zip(images, plain, mirrored):
            unflipped = dict(b, boxes=flip_boxes(b["boxes"], width=x.shape[-1]))
            out.append(merge_detections([a, unflipped], self.nms_thresh, self.detections_per_img, self.box_vote))
        return out


def with_tta(model: nn.Module, tta: str) -> nn.Module:
    """``model`` wrapped in :class:`FlipTTA` for ``tta`` "flip", unchanged for "none" (eval mode either way)."""
    from benthos.detect.config import TTA_MODES

    if tta not in TTA_MODES:
        raise ConfigError(f"tta {tta!r}: use one of {', '.join(TTA_MODES)}")
    model.eval()
    return FlipTTA(model).eval() if tta == "flip" else model


def tta_of(model: nn.Module) -> str:
    """The test-time views a loaded detector uses: "flip" (wrapped in :class:`FlipTTA`) or "none"."""
    return "flip" if isinstance(model, FlipTTA) else "none"
