"""A detector's input size: one size for evaluation and prediction, several for multi-scale training.

Every family keeps its size somewhere else (torchvision's ``transform``, our YOLO's ``image_size``);
these helpers set it for all of them."""
from __future__ import annotations

import math

from torch import nn

from benthos.errors import ConfigError


def set_input_size(model: nn.Module, size: int) -> None:
    """Network input size (long side) for every detector family; crops train at scale 1 this way."""
    t = getattr(model, "transform", None)
    if t is not None:  # torchvision detectors
        t.min_size, t.max_size = (size,), size
        if getattr(t, "fixed_size", None):
            t.fixed_size = (size, size)
    else:
        model.image_size = size


def multiscale_sizes(size: int, jitter: float, step: int = 32) -> tuple[int, ...]:
    """Training sizes for multi-scale training: multiples of ``step`` within ``size`` * (1 +- jitter).

    The last entry is ``size`` itself, so a torchvision transform left with this tuple still
    predicts at ``size`` (it uses ``min_size[-1]`` in eval mode)."""
    lo, hi = max(step, math.ceil(size * (1 - jitter) / step) * step), int(size * (1 + jitter) // step) * step
    return tuple(s for s in range(lo, hi + 1, step) if s != size) + (size,)


def set_train_sizes(model: nn.Module, size: int, jitter: float) -> None:
    """Multi-scale training on whole images: torchvision's transform draws one of these sizes per image
    (an option, off by default: BENCHMARKS.md has what it measured on brittle stars)."""
    check_multiscale(model)
    sizes = multiscale_sizes(size, jitter)
    model.transform.min_size, model.transform.max_size = sizes, max(sizes)


def check_multiscale(model: nn.Module) -> None:
    """Refuse multi-scale training for detectors whose input size is fixed (YOLO, SSD)."""
    t = getattr(model, "transform", None)
    if t is None or getattr(t, "fixed_size", None):
        raise ConfigError("scale_jitter without crop (multi-scale training on whole images) works for the torchvision "
                          "detectors (Faster R-CNN, RetinaNet, FCOS); for this detector use it with --crop")
