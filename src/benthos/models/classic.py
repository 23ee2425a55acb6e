"""Our own implementations of classic networks that neither torchvision nor timm provides:
LeNet-5 (LeCun et al. 1998) and Network in Network (Lin et al. 2014)."""
from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5: C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120, F6 84, output.

    C3 is fully connected to S2 (the paper's sparse connection table was a 1998 compute
    trick); subsampling is average pooling; tanh as in the paper.
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5), nn.Tanh(), nn.AvgPool2d(2),  # C1, S2
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),  # C3, S4
            # identity at 32x32 input; lets larger inputs reach C5 with the same 5x5 map
            nn.AdaptiveAvgPool2d(5),
            nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),  # C5
            nn.Linear(120, 84), nn.Tanh(),  # F6
        )
        self.classifier = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _mlpconv(cin: int, cout: int, k: int, s: int, p: int) -> nn.Sequential:
    # the "micro network": a k x k conv followed by two 1x1 convs (a per-pixel MLP)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, p), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 1), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 1), nn.ReLU(inplace=True),
    )


class NetworkInNetwork(nn.Module):
    """Network in Network, ImageNet configuration (4 mlpconv layers, global average pooling).

    There is no fully connected layer: the last 1x1 conv gives one map per class and global
    average pooling turns each map into a logit. That head has no weights beyond the conv.
    """

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            _mlpconv(in_chans, 96, 11, 4, 0), nn.MaxPool2d(3, 2, ceil_mode=True),
            _mlpconv(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2, ceil_mode=True),
            _mlpconv(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Dropout(drop_rate),
            nn.Conv2d(384, 1024, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(1024, 1024, 1), nn.ReLU(inplace=True),
        )
        # no ReLU before the pooling, unlike the Caffe model: logits may be negative
        self.classifier = nn.Sequential(nn.Conv2d(1024, num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
