"""The lecture's worked cost examples, recomputed by running real layers through the profiler."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from benthos.cost.profile import profile_module


@dataclass
class Example:
    title: str
    baseline: str
    alternative: str
    baseline_macs: int
    alternative_macs: int
    baseline_params: int
    alternative_params: int
    lesson: str

    @property
    def saving(self) -> float:
        """Fraction of the baseline's multiply-adds saved by the alternative."""
        return 1 - self.alternative_macs / self.baseline_macs

    def to_dict(self) -> dict:
        return {**self.__dict__, "saving": self.saving}


def _cost(layers: nn.Module, shape: tuple[int, int, int]) -> tuple[int, int]:
    c = profile_module(layers, shape)
    return c.macs, c.params


def _conv(cin: int, cout: int, k, p=0, groups: int = 1) -> nn.Conv2d:
    # bias-free: the lecture counts multiplications of weights, as do the papers
    return nn.Conv2d(cin, cout, k, padding=p, groups=groups, bias=False)


def _pair(title, base, alt, shape, lesson, base_name, alt_name) -> Example:
    bm, bp = _cost(base, shape)
    am, ap = _cost(alt, shape)
    return Example(title, base_name, alt_name, bm, am, bp, ap, lesson)


def lecture_examples(depthwise_channels: int = 512, depthwise_k: int = 3) -> list[Example]:
    """All worked examples; each pair of layer stacks gives the same output shape."""
    ex = [
        _pair("1x1 bottleneck before a 5x5 conv (28x28x192 -> 32)",
              _conv(192, 32, 5, 2), nn.Sequential(_conv(192, 16, 1), _conv(16, 32, 5, 2)), (192, 28, 28),
              "a 1x1 conv to 16 channels first cuts the multiply-adds tenfold (Inception v1)",
              "5x5 conv, 192->32", "1x1 conv 192->16, then 5x5 16->32"),
        _pair("1x1 bottleneck, GoogLeNet inception (4a) 5x5 branch (14x14x480 -> 48)",
              _conv(480, 48, 5, 2), nn.Sequential(_conv(480, 16, 1), _conv(16, 48, 5, 2)), (480, 14, 14),
              "the same trick on the 14x14 grid: about 20 times fewer operations",
              "5x5 conv, 480->48", "1x1 conv 480->16, then 5x5 16->48"),
        _pair("two 3x3 convolutions instead of one 5x5 (same receptive field)",
              _conv(64, 64, 5, 2), nn.Sequential(_conv(64, 64, 3, 1), _conv(64, 64, 3, 1)), (64, 28, 28),
              "2 x 9 = 18 weights per channel pair instead of 25: 28% fewer (Inception v2/v3, VGG)",
              "5x5 conv", "3x3 conv, then 3x3 conv"),
        _pair("3x1 then 1x3 instead of 3x3 (asymmetric factorisation)",
              _conv(64, 64, 3, 1), nn.Sequential(_conv(64, 64, (3, 1), (1, 0)), _conv(64, 64, (1, 3), (0, 1))), (64, 28, 28),
              "3 + 3 = 6 weights instead of 9: 33% fewer (Inception v3)",
              "3x3 conv", "3x1 conv, then 1x3 conv"),
    ]
    n, k = depthwise_channels, depthwise_k
    ex.append(_pair(f"depthwise-separable vs standard {k}x{k} conv ({n} -> {n} channels, 14x14)",
                    _conv(n, n, k, k // 2), nn.Sequential(_conv(n, n, k, k // 2, groups=n), _conv(n, n, 1)), (n, 14, 14),
                    f"cost ratio 1/N + 1/Dk^2 = 1/{n} + 1/{k * k} = {1 / n + 1 / k**2:.4f} (MobileNet, Xception)",
                    f"{k}x{k} conv", f"{k}x{k} depthwise conv, then 1x1 pointwise conv"))
    fc = nn.Sequential(nn.Flatten(), nn.Linear(7 * 7 * 1024, 1024, bias=False))
    gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    ex.append(_pair("fully connected layer vs global average pooling on a 7x7x1024 map",
                    fc, gap, (1024, 7, 7),
                    "GAP has no weights at all: the 51.4M-weight FC layer is what made VGG/AlexNet heavy (NiN, GoogLeNet)",
                    "flatten + FC 50176->1024", "global average pooling"))
    return ex
