"""ResNet with the five residual-unit designs compared by He et al. (2016, "Identity mappings
in deep residual networks", Figure 4). The layout (stages, widths, strides) is the ImageNet
ResNet; only the order of BN, ReLU and addition inside a unit changes:

  original      conv-BN-ReLU-conv-BN, add, ReLU           (He et al. 2015)
  bn_after_add  conv-BN-ReLU-conv, add, BN, ReLU
  relu_before_add conv-BN-ReLU-conv-BN-ReLU, add
  relu_preact   ReLU-conv-BN-ReLU-conv-BN, add             (ReLU-only pre-activation)
  full_preact   BN-ReLU-conv-BN-ReLU-conv, add             (full pre-activation, ResNet-v2)
"""
from __future__ import annotations

import torch
from torch import nn

BLOCK_DESIGNS = ("original", "bn_after_add", "relu_before_add", "relu_preact", "full_preact")
PREACT = ("relu_preact", "full_preact")


class Unit(nn.Module):
    """A basic (two 3x3) or bottleneck (1x1-3x3-1x1) residual unit in one of the five designs."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, bottleneck: bool, design: str):
        super().__init__()
        self.design = design
        if bottleneck:
            shapes = [(cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1)]
        else:
            shapes = [(cin, width, 3, stride), (width, cout, 3, 1)]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, s, k // 2, bias=False) for i, o, k, s in shapes)
        # BN channels: pre-activation BNs see the conv *inputs*; the others the outputs
        bn_ch = [i for i, _, _, _ in shapes] if design == "full_preact" else [o for _, o, _, _ in shapes]
        if design == "bn_after_add":
            bn_ch = bn_ch[:-1] + [cout]  # the last BN moves after the addition
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in bn_ch)
        self.shortcut = None
        if stride != 1 or cin != cout:
            proj = [nn.Conv2d(cin, cout, 1, stride, bias=False)]
            if design in ("original", "relu_before_add"):
                proj.append(nn.BatchNorm2d(cout))
            self.shortcut = nn.Sequential(*proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d, convs, bns = self.design, self.convs, self.bns
        short = x if self.shortcut is None else self.shortcut(x)
        o = x
        if d == "full_preact":
            for conv, bn in zip(convs, bns):
                o = conv(torch.relu(bn(o)))
            return o + short
        if d == "relu_preact":
            for conv, bn in zip(convs, bns):
                o = bn(conv(torch.relu(o)))
            return o + short
        n = len(convs)
        for i, conv in enumerate(convs):
            o = conv(o)
            last = i == n - 1
            if not (last and d == "bn_after_add"):
                o = bns[i](o)
            if not last or d == "relu_before_add":
                o = torch.relu(o)
        o = o + short
        if d == "bn_after_add":
            return torch.relu(bns[-1](o))
        return torch.relu(o) if d == "original" else o


class DesignResNet(nn.Module):
    """ImageNet ResNet-18..152 whose residual units follow one of BLOCK_DESIGNS."""

    def __init__(self, layers: list[int], bottleneck: bool, design: str = "original", num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        if design not in BLOCK_DESIGNS:
            raise ValueError(f"unknown block design {design!r}; choose one of {', '.join(BLOCK_DESIGNS)}")
        self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        # pre-activation nets keep the stem BN (their first unit starts with BN/ReLU itself)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        expansion = 4 if bottleneck else 1
        cin, stages = 64, []
        for i, n in enumerate(layers):
            width = 64 * 2**i
            units = []
            for j in range(n):
                units.append(Unit(cin, width, width * expansion, 2 if (j == 0 and i > 0) else 1, bottleneck, design))
                cin = width * expansion
            stages.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        # pre-activation nets end on an addition: activate once more before pooling
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU()) if design == "full_preact" else (
            nn.ReLU() if design in ("relu_preact", "relu_before_add") else nn.Identity())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(self.final(x)))
