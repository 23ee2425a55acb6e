"""Inception networks not in torchvision/timm: Inception-v2 (BN-Inception, Ioffe & Szegedy 2015)
and Inception-ResNet-v1 (Szegedy et al. 2016)."""
from __future__ import annotations

import torch
from torch import nn


class ConvBN(nn.Sequential):
    """conv (no bias) + batch norm + ReLU: batch norm is what Inception-v2 introduced."""

    def __init__(self, cin: int, cout: int, k: int | tuple[int, int], s: int = 1, p: int | tuple[int, int] = 0):
        super().__init__(nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU(inplace=True))


# ---------------------------------------------------------------- Inception-v2 (BN-Inception)
class BNInceptionBlock(nn.Module):
    """One row of Figure 5 of Ioffe & Szegedy (2015): 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool(-1x1).

    The 5x5 branch of GoogLeNet is replaced by two stacked 3x3 convs. With stride 2 the
    1x1 branch is absent and the pool branch passes through (grid reduction).
    """

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, d3r: int, d3: int, pool: str, proj: int, stride: int = 1):
        super().__init__()
        self.b1 = ConvBN(cin, c1, 1) if c1 else None
        self.b3 = nn.Sequential(ConvBN(cin, c3r, 1), ConvBN(c3r, c3, 3, stride, 1))
        self.bd = nn.Sequential(ConvBN(cin, d3r, 1), ConvBN(d3r, d3, 3, 1, 1), ConvBN(d3, d3, 3, stride, 1))
        pool_layer = nn.AvgPool2d(3, 1, 1, count_include_pad=False) if pool == "avg" else nn.MaxPool2d(3, stride, 1)
        self.bp = nn.Sequential(pool_layer, ConvBN(cin, proj, 1)) if proj else pool_layer
        self.out_channels = c1 + c3 + d3 + (proj or cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.b3(x), self.bd(x), self.bp(x)]
        if self.b1 is not None:
            outs.insert(0, self.b1(x))
        return torch.cat(outs, 1)


# (name, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj, stride) from Figure 5
BN_INCEPTION_SPEC = [
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
]


class InceptionV2(nn.Module):
    """BN-Inception: 224x224 input -> 7x7x1024 -> global average pool -> FC."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBN(in_chans, 64, 7, 2, 3), nn.MaxPool2d(3, 2, 1),  # 56x56x64
            ConvBN(64, 64, 1), ConvBN(64, 192, 3, 1, 1), nn.MaxPool2d(3, 2, 1),  # 28x28x192
        )
        blocks, cin = [], 192
        for _name, *spec in BN_INCEPTION_SPEC:
            block = BNInceptionBlock(cin, *spec)
            blocks.append(block)
            cin = block.out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop_rate))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))))


# ---------------------------------------------------------------- Inception-ResNet-v1
class _Residual(nn.Module):
    """Branches concatenated, a linear 1x1 conv back to the input width, scaled, added, ReLU."""

    def __init__(self, branches: list[nn.Module], cat_channels: int, channels: int, scale: float, relu: bool = True):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.up = nn.Conv2d(cat_channels, channels, 1)  # linear: no BN/ReLU before the sum
        self.scale = scale  # residual scaling stabilises training of wide Inception-ResNets
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.up(torch.cat([b(x) for b in self.branches], 1))
        return torch.relu(out) if self.relu else out


def block35(scale: float = 0.17) -> _Residual:  # Inception-ResNet-A, 35x35x256
    return _Residual([
        ConvBN(256, 32, 1),
        nn.Sequential(ConvBN(256, 32, 1), ConvBN(32, 32, 3, 1, 1)),
        nn.Sequential(ConvBN(256, 32, 1), ConvBN(32, 32, 3, 1, 1), ConvBN(32, 32, 3, 1, 1)),
    ], 96, 256, scale)


def block17(scale: float = 0.10) -> _Residual:  # Inception-ResNet-B, 17x17x896 (1x7 then 7x1)
    return _Residual([
        ConvBN(896, 128, 1),
        nn.Sequential(ConvBN(896, 128, 1), ConvBN(128, 128, (1, 7), 1, (0, 3)), ConvBN(128, 128, (7, 1), 1, (3, 0))),
    ], 256, 896, scale)


def block8(scale: float = 0.20, relu: bool = True) -> _Residual:  # Inception-ResNet-C, 8x8x1792
    return _Residual([
        ConvBN(1792, 192, 1),
        nn.Sequential(ConvBN(1792, 192, 1), ConvBN(192, 192, (1, 3), 1, (0, 1)), ConvBN(192, 192, (3, 1), 1, (1, 0))),
    ], 384, 1792, scale, relu)


class _Concat(nn.Module):
    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class InceptionResNetV1(nn.Module):
    """Inception-ResNet-v1 (Figure 15): stem -> 5xA -> Reduction-A -> 10xB -> Reduction-B -> 5xC."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2):
        super().__init__()
        self.stem = nn.Sequential(  # Figure 14: 299x299x3 -> 35x35x256
            ConvBN(in_chans, 32, 3, 2), ConvBN(32, 32, 3), ConvBN(32, 64, 3, 1, 1), nn.MaxPool2d(3, 2),
            ConvBN(64, 80, 1), ConvBN(80, 192, 3), ConvBN(192, 256, 3, 2),
        )
        self.repeat_a = nn.Sequential(*[block35() for _ in range(5)])
        # Reduction-A with k=192, l=192, m=256, n=384 (Table 1) -> 17x17x896
        self.reduction_a = _Concat(
            nn.MaxPool2d(3, 2), ConvBN(256, 384, 3, 2),
            nn.Sequential(ConvBN(256, 192, 1), ConvBN(192, 192, 3, 1, 1), ConvBN(192, 256, 3, 2)),
        )
        self.repeat_b = nn.Sequential(*[block17() for _ in range(10)])
        self.reduction_b = _Concat(  # Figure 12 -> 8x8x1792
            nn.MaxPool2d(3, 2),
            nn.Sequential(ConvBN(896, 256, 1), ConvBN(256, 384, 3, 2)),
            nn.Sequential(ConvBN(896, 256, 1), ConvBN(256, 256, 3, 2)),
            nn.Sequential(ConvBN(896, 256, 1), ConvBN(256, 256, 3, 1, 1), ConvBN(256, 256, 3, 2)),
        )
        self.repeat_c = nn.Sequential(*[block8() for _ in range(4)], block8(relu=False))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop_rate))
        self.fc = nn.Linear(1792, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.repeat_a(self.stem(x))
        x = self.repeat_b(self.reduction_a(x))
        x = self.repeat_c(self.reduction_b(x))
        return self.fc(self.pool(x))
