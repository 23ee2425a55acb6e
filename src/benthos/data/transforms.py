"""Preprocessing and augmentation (torchvision.transforms.v2).

Seafloor photographs are taken looking down: there is no "up", so vertical flips and
90-degree rotations are label-preserving, unlike for everyday photos. Colour jitter
stands in for changing water colour, depth and strobe light.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2 as T

from benthos.errors import ConfigError

AUGMENTS = ("seafloor", "seafloor-strong", "standard", "none")

# ImageNet statistics, the default for ImageNet-pretrained backbones
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_transforms(input_size: int | Sequence[int], mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD, train: bool = False,
                     augment: str = "seafloor", crop_fraction: float = 0.875, crop_scale: float = 0.5) -> T.Compose:
    """PIL image -> normalised float tensor of ``input_size``.

    Eval: resize the short side to ``input_size / crop_fraction``, centre crop (1.0: the
    whole image of a square patch).
    Train, ``augment="seafloor"``: random resized crop (``crop_scale``: its smallest area
    fraction; 1.0: no zoom, the short side resized as at evaluation and a random window of
    ``input_size`` taken: the whole image when it is square), flips on both axes, 90-degree
    rotations, colour jitter. ``"seafloor-strong"``: the same plus one random photometric or
    geometric operation per image at a random strength (TrivialAugmentWide) and random erasing of a
    patch (p = 0.25), timm's regularisers for small data sets. ``"standard"``: crop + horizontal flip only (camera
    imagery with a horizon). ``"none"``: the eval pipeline.
    """
    if not 0 < crop_fraction <= 1 or not 0 < crop_scale <= 1:
        raise ConfigError(f"crop fractions must be in (0, 1]: got eval crop {crop_fraction}, crop scale {crop_scale}")
    if augment not in AUGMENTS:
        raise ConfigError(f"augment={augment!r} is not known; use one of {', '.join(AUGMENTS)}.")
    size = (int(input_size), int(input_size)) if isinstance(input_size, int) else tuple(int(v) for v in input_size)
    tail = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(list(mean), list(std))]
    if not train or augment == "none":
        resize = [round(s / crop_fraction) for s in size]
        return T.Compose([T.Resize(min(resize) if size[0] == size[1] else resize, antialias=True),
                          T.CenterCrop(size), *tail])
    if crop_scale >= 1:  # no zoom: the short side resized as at evaluation, a random full-scale window
        steps = [T.Resize(min(size) if size[0] == size[1] else size, antialias=True), T.RandomCrop(size)]
    else:
        steps = [T.RandomResizedCrop(size, scale=(crop_scale, 1.0), antialias=True)]
    steps.append(T.RandomHorizontalFlip())
    if augment in ("seafloor", "seafloor-strong"):
        steps += [T.RandomVerticalFlip(),
                  # exact multiples of 90 degrees: Pillow does these as lossless transposes
                  T.RandomChoice([T.RandomRotation((a, a), expand=True) for a in (0, 90, 180, 270)])]
        if size[0] != size[1]:
            steps.append(T.Resize(size, antialias=True))  # rotation swaps the sides of non-square crops
    steps.append(T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02))
    if augment == "seafloor-strong":
        return T.Compose([*steps, T.TrivialAugmentWide(), *tail, T.RandomErasing(p=0.25, value=0)])
    return T.Compose([*steps, *tail])


def eval_transforms(preprocessing: dict) -> T.Compose:
    """The evaluation pipeline a run recorded in ``run.json`` ``preprocessing`` (runs saved before
    ``crop_fraction`` was recorded were evaluated on the central 87.5%)."""
    return build_transforms(preprocessing["input_size"], preprocessing["mean"], preprocessing["std"], train=False,
                            crop_fraction=preprocessing.get("crop_fraction", 0.875))


def eval_array_transforms(preprocessing: dict):
    """The same pipeline as :func:`eval_transforms`, PIL image -> float32 CHW numpy array, with the
    arithmetic in numpy: the resize and crop are torchvision's own, the values agree to 1e-6, and
    it is about ten times faster per image on a CPU (prediction's share of the work)."""
    import numpy as np
    from torchvision.transforms.v2 import functional as F

    crop_fraction = preprocessing.get("crop_fraction", 0.875)
    size = preprocessing["input_size"]
    size = (int(size), int(size)) if isinstance(size, int) else tuple(int(v) for v in size)
    if not 0 < crop_fraction <= 1:
        raise ConfigError(f"crop fraction must be in (0, 1]: got {crop_fraction}")
    resize = [round(s / crop_fraction) for s in size]
    resize = min(resize) if size[0] == size[1] else resize
    mean = np.asarray(preprocessing["mean"], np.float32).reshape(-1, 1, 1)
    std = np.asarray(preprocessing["std"], np.float32).reshape(-1, 1, 1)

    def transform(im) -> np.ndarray:
        im = F.center_crop(F.resize(im, resize, antialias=True), list(size))
        a = np.asarray(im, dtype=np.float32)
        a = (a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1) / 255
        return (a - mean) / std

    return transform
