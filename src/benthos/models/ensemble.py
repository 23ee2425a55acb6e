"""Ensemble: several classifiers of one class list answering as one (their logits averaged).

Built by ``benthos.runs.load_run`` for a cross-fitted ensemble run (``benthos.train.ensemble``),
so evaluation, prediction and calibration treat it like any model.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.num_classes = members[0].num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)
