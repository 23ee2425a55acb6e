"""Test-time augmentation for detectors: the image and its mirror image, merged by class-wise NMS.

Seafloor organisms look the same mirrored, so a detector that misses an animal (or scores it
low) in one view often finds it in the other. Costs one more forward pass per image.
Measured on the NOAA brittle-star set (docs/bench_detect.md): AP50 0.328 -> 0.349 for the
default Faster R-CNN, at 2.2-2.6x the time per 640 px frame (0.76-0.93 s on 2 CPU cores, close
to the 1 s budget), so it is an option (``--tta``), not the default.
"""
from __future__ import annotations

import torch
from torch import nn


def _nms_settings(model: nn.Module) -> tuple[float, int]:
    """The detector's own NMS IoU threshold and detections-per-image cap (torchvision names)."""
    heads = getattr(model, "roi_heads", None) or model  # Faster R-CNN keeps them on roi_heads
    thresh = getattr(heads, "nms_thresh", None) or getattr(model, "nms_thresh", None) or 0.5
    cap = (getattr(heads, "detections_per_img", None) or getattr(model, "detections_per_img", None)
           or 300)
    return float(thresh), int(cap)


class FlipTTA(nn.Module):
    """Wraps a detector in eval mode: predictions on each image and its horizontal mirror, merged."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.nms_thresh, self.detections_per_img = _nms_settings(model)

    @torch.no_grad()
    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        from torchvision.ops import batched_nms

        both = self.model(list(images) + [x.flip(-1) for x in images])  # one batched pass
        plain, mirrored = both[: len(images)], both[len(images):]
        out = []
        for x, a, b in zip(images, plain, mirrored):
            w = x.shape[-1]
            fb = b["boxes"].clone()
            fb[:, 0], fb[:, 2] = w - b["boxes"][:, 2], w - b["boxes"][:, 0]
            boxes = torch.cat([a["boxes"], fb])
            scores = torch.cat([a["scores"], b["scores"]])
            labels = torch.cat([a["labels"], b["labels"]])
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return out
