"""Backbones for detectors: multi-scale feature extractors, optionally with an FPN.

Every trunk is built by :func:`backbone`: timm's ``features_only`` graph (multi-scale
maps) filled with the classifier zoo's ImageNet weights (``benthos.models.create_model``),
so a detector can use any zoo trunk that has offline weights.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from benthos.errors import ConfigError, WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE_CHOICES = ("backbone", "imagenet")


def check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZE_CHOICES:
        raise ConfigError(f"normalize {normalize!r}: use one of {', '.join(NORMALIZE_CHOICES)}")


def trunk_normalisation(name: str, normalize: str = "backbone") -> tuple[tuple, tuple]:
    """(mean, std) the detector subtracts and divides by before the trunk.

    ``"backbone"``: the statistics the trunk's pretrained weights were trained with, from the
    classifier zoo (the EfficientNet-Lite weights expect 0.498 / 0.502, not ImageNet's
    0.485 / 0.229: feeding them ImageNet-normalised pixels scales every input by ~2.2x, and a
    frozen stem cannot adapt). ImageNet's for a trunk the zoo does not list.
    ``"imagenet"``: always ImageNet's (detector runs written before 2026-12-04 used these).
    """
    check_normalize(normalize)
    if normalize == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    from benthos.models import list_models, preprocessing

    if name not in list_models():
        return IMAGENET_MEAN, IMAGENET_STD
    pre = preprocessing(name)
    return tuple(pre["mean"]), tuple(pre["std"])


def _zoo_imagenet_into(model: nn.Module, name: str) -> None:
    """Copy ImageNet weights from the classifier zoo (``benthos.models``) into a features-only trunk."""
    from benthos.models import create_model

    src = create_model(name, weights="imagenet").body.state_dict()
    dst = model.state_dict()
    missing = [k for k in dst if k not in src or src[k].shape != dst[k].shape]
    if missing:
        raise WeightsError(f"zoo weights for {name} do not fit the detection trunk (e.g. {missing[:3]}).")
    model.load_state_dict({k: src[k] for k in dst})


def backbone(name: str, pretrained: bool) -> nn.Module:
    """A timm ``features_only`` trunk (``.feature_info`` gives channels and strides)."""
    import timm

    try:
        model = timm.create_model(name, features_only=True, pretrained=False)
    except RuntimeError as exc:  # unknown name
        from benthos.errors import ConfigError

        raise ConfigError(f"unknown backbone {name!r} ({exc}). Try efficientnet_lite0, resnet50, mobilenetv3_large_100.") from exc
    if pretrained:  # the zoo knows which weights exist offline and says so when they do not
        _zoo_imagenet_into(model, name)
    return model


def freeze_stages(trunk: nn.Module, trainable_stages: int | None) -> None:
    """Fine-tune only the last ``trainable_stages`` stages (None: all; 0: none).

    BatchNorm is frozen everywhere: detection batches on a CPU are 2-8 images, too few
    for batch statistics.
    """
    from timm.layers import freeze_batch_norm_2d

    # stages in forward order: stem (conv_stem/bn1 or conv1/bn1) then each feature stage
    stages: list[list[str]] = [[]]
    for name, _ in trunk.named_children():
        if name in ("blocks", "stages"):
            for sub, _ in getattr(trunk, name).named_children():
                stages.append([f"{name}.{sub}"])
        elif name.startswith("layer"):
            stages.append([name])
        else:
            stages[0].append(name)
    frozen = stages if trainable_stages == 0 else stages[: max(len(stages) - (trainable_stages or len(stages)), 0)]
    frozen_prefixes = tuple(p + "." for group in frozen for p in group)
    for pname, p in trunk.named_parameters():
        if pname.startswith(frozen_prefixes):
            p.requires_grad_(False)
    for name, child in list(trunk.named_children()):
        setattr(trunk, name, freeze_batch_norm_2d(child))


class FeatureTrunk(nn.Module):
    """Trunk (+ optional FPN) returning an OrderedDict of feature maps, as torchvision detectors expect."""

    def __init__(self, name: str = "efficientnet_lite0", pretrained: bool = True, strides=(8, 16, 32),
                 fpn: bool = True, out_channels: int = 96, extra_pool: bool = True,
                 trainable_stages: int | None = None, p6p7: bool = False, normalize: str = "backbone") -> None:
        super().__init__()
        self.mean, self.std = trunk_normalisation(name, normalize)  # for the detector's input transform
        from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7

        self.body = backbone(name, pretrained)
        reductions = self.body.feature_info.reduction()
        missing = [s for s in strides if s not in reductions]
        if missing:
            raise ValueError(f"backbone {name} has no feature map at stride(s) {missing}; it has {reductions}")
        self.idx = [reductions.index(s) for s in strides]
        chans = [self.body.feature_info.channels()[i] for i in self.idx]
        freeze_stages(self.body, trainable_stages)
        self.strides = list(strides)
        if fpn:
            extra = LastLevelP6P7(out_channels, out_channels) if p6p7 else (LastLevelMaxPool() if extra_pool else None)
            self.fpn = FeaturePyramidNetwork(chans, out_channels, extra_blocks=extra)
            self.out_channels = out_channels
            if extra is not None:
                self.strides += [strides[-1] * 2] + ([strides[-1] * 4] if p6p7 else [])
        else:  # raw trunk maps: one (Faster R-CNN C4-style) or several (SSD)
            self.fpn = None
            self.out_channels = chans[0] if len(chans) == 1 else chans

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        feats = self.body(x)
        out = OrderedDict((str(k), feats[i]) for k, i in enumerate(self.idx))
        return self.fpn(out) if self.fpn is not None else out


def anchor_generator(trunk: FeatureTrunk, sizes, aspect_ratios=(0.5, 1.0, 2.0)) -> nn.Module:
    """torchvision's AnchorGenerator with one tuple of ``sizes`` per feature map of ``trunk``.

    A wrong number of levels (``--anchor-sizes``) is refused here, when the model is built,
    instead of as torchvision's AssertionError in the first training step.
    """
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    sizes = tuple(tuple(s) for s in sizes)
    if len(sizes) != len(trunk.strides):
        raise ConfigError(f"anchor_sizes has {len(sizes)} level(s) but this detector has {len(trunk.strides)} feature "
                          f"maps (strides {trunk.strides}): give one list of sizes per map")
    return AnchorGenerator(sizes, (tuple(aspect_ratios),) * len(sizes))


@torch.no_grad()
def fold_frozen_batchnorm(trunk: nn.Module, example: torch.Tensor) -> int:
    """Fold every frozen BatchNorm that directly follows a convolution into that convolution's weights
    and bias, for inference: the same outputs (to float rounding) without the per-call scale-and-shift
    (a multiply and an add over every feature map, a quarter of a CPU forward pass of the default
    detector). Pairs are found by running ``example`` through ``trunk`` (a BN whose input is exactly a
    conv's output). Returns how many were folded. Never for training: the BN statistics are gone."""
    from timm.layers.norm_act import FrozenBatchNormAct2d
    from torchvision.ops.misc import FrozenBatchNorm2d  # what timm freezes plain BatchNorm2d into

    produced: dict[int, nn.Conv2d] = {}
    pairs: list[tuple[nn.Conv2d, nn.Module, str]] = []
    names = {m: n for n, m in trunk.named_modules()}

    def conv_hook(m, args, out):
        produced[out.data_ptr()] = m

    def bn_hook(m, args):
        conv = produced.get(args[0].data_ptr())
        if conv is not None:
            pairs.append((conv, m, names[m]))

    handles = [m.register_forward_hook(conv_hook) for m in trunk.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_pre_hook(bn_hook) for m in trunk.modules()
                if isinstance(m, (FrozenBatchNorm2d, FrozenBatchNormAct2d))]
    try:
        trunk.eval()(example)
    finally:
        for h in handles:
            h.remove()
    seen: set[int] = set()
    for conv, bn, name in pairs:
        if id(bn) in seen or id(conv) in seen:  # a conv feeding two BNs (or a BN met twice): leave it
            continue
        seen.update((id(bn), id(conv)))
        scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = (conv.bias if conv.bias is not None else torch.zeros_like(scale)) - bn.running_mean
        conv.bias = nn.Parameter(bias * scale + bn.bias, requires_grad=False)
        after = nn.Sequential(bn.drop, bn.act) if isinstance(bn, FrozenBatchNormAct2d) else nn.Identity()
        parent, _, attr = name.rpartition(".")
        setattr(trunk.get_submodule(parent) if parent else trunk, attr, after)
    return len(seen) // 2


def zoo_classifier(name: str, pretrained: bool, trainable_stages: int | None = None) -> nn.Module:
    """The zoo classifier ``name`` (a :class:`~benthos.models.zoo_model.ZooModel`: ``body`` gives pooled
    features, ``body.forward_features`` the last map, ``head`` the ImageNet classifier) for detectors
    built on the whole classifier (OverFeat, R-CNN), with the first stages frozen as
    :func:`freeze_stages` does and BatchNorm frozen everywhere."""
    from benthos.models import create_model

    zoo = create_model(name, weights="imagenet" if pretrained else None)
    if not hasattr(zoo.body, "forward_features") or not isinstance(zoo.head, nn.Linear):
        raise ConfigError(f"backbone {name!r}: this detector needs a zoo classifier with a convolutional trunk and "
                          "one linear classifier (e.g. efficientnet_lite0, resnet50)")
    freeze_stages(zoo.body, trainable_stages)
    for late in ("conv_head", "bn2"):  # timm's last 1x1 conv (and its BN) feed the classifier: not the stem
        if trainable_stages != 0 and hasattr(zoo.body, late):
            for p in getattr(zoo.body, late).parameters():
                p.requires_grad_(True)
    return zoo
