"""ZooModel: the one small interface every zoo network answers, whatever its source.

    features = model.forward_features(x)   # pre-logit features (what a linear probe sees)
    logits   = model.forward_head(features)
    model.reset_classifier(num_classes)    # a new head for N taxa
    model.param_groups()                   # [(stage name, params)] from stem to head

The wrapped network keeps its own module names under ``body`` so torchvision/timm weights
load into it before wrapping; its final classifier moves to ``head``. A run saves
:meth:`ZooModel.native_state_dict`: the network's own key names with the head back in its
place, so the file loads into ``timm.create_model(name, num_classes=K)`` (or the torchvision
builder) with ``strict=True`` and no renaming.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

_EXPANDABLE = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = getattr(module, part) if not part.isdigit() else module[int(part)]
    return module


def _set(module: nn.Module, path: str, value: nn.Module) -> None:
    parent, _, last = path.rpartition(".")
    owner = _get(module, parent) if parent else module
    if last.isdigit():
        owner[int(last)] = value
    else:
        setattr(owner, last, value)


def _last_layer(head: nn.Module) -> tuple[str, nn.Module]:
    """The last Linear or Conv2d in a head: the layer whose outputs are the classes."""
    found = [(n, m) for n, m in head.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not found:
        raise ValueError("head has no Linear or Conv2d layer")
    return found[-1]


def _replace_outputs(head: nn.Module, num_classes: int) -> nn.Module:
    name, layer = _last_layer(head)
    if isinstance(layer, nn.Linear):
        new = nn.Linear(layer.in_features, num_classes)
    else:
        new = nn.Conv2d(layer.in_channels, num_classes, layer.kernel_size, layer.stride, layer.padding)
    if name == "":
        return new
    _set(head, name, new)
    return head


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


class ZooModel(nn.Module):
    def __init__(self, body: nn.Module, head: nn.Module, name: str, num_classes: int, aux_prefixes: tuple[str, ...] = (),
                 head_key: str = "head"):
        super().__init__()
        self.body = body
        self.head = head
        self.name = name
        self.num_classes = num_classes
        self.aux_prefixes = aux_prefixes
        self.head_key = head_key  # where the head sits in the wrapped network (its weights' key prefix there)

    @classmethod
    def wrap(cls, net: nn.Module, head_path: str, name: str, num_classes: int, aux_prefixes: tuple[str, ...] = ()) -> ZooModel:
        """Split ``net`` into body and head; the head's place in ``net`` becomes an identity."""
        if head_path == "timm":
            head = net.get_classifier()
            head_path = next(n for n, m in net.named_modules() if m is head)
            net.reset_classifier(0)
        else:
            head = _get(net, head_path)
            _set(net, head_path, nn.Identity())
        return cls(net, head, name, num_classes, aux_prefixes, head_path)

    # -- weights in the wrapped network's own names ----------------------------------------
    def native_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights as the wrapped network (timm, torchvision or our own) names them, head included."""
        out = dict(self.body.state_dict())
        out.update({f"{self.head_key}.{k}": v for k, v in self.head.state_dict().items()})
        return out

    def load_native_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load weights named as :meth:`native_state_dict` names them (strict: every key, every shape)."""
        prefix = self.head_key + "."
        head = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        body = {k: v for k, v in state_dict.items() if not k.startswith(prefix)}
        self.body.load_state_dict(body, strict=True)
        self.head.load_state_dict(head, strict=True)

    # -- forward ------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features_aux(x)[0]

    def forward_features_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self.body(x)
        if isinstance(out, tuple):  # torchvision GoogLeNet/Inception-v3 in training with aux heads
            return out[0], [a for a in out[1:] if a is not None]
        return out, []

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Main logits and auxiliary-classifier logits (empty unless training with aux heads)."""
        feats, aux = self.forward_features_aux(x)
        return self.head(feats), aux

    # -- head ---------------------------------------------------------------------------
    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head (and any auxiliary heads) by fresh layers for ``num_classes``."""
        self.head = _replace_outputs(self.head, num_classes)
        for prefix in self.aux_prefixes:
            aux = _get(self.body, prefix)
            if aux is not None:
                _replace_outputs(aux, num_classes)
        self.num_classes = num_classes

    @property
    def num_features(self) -> int:
        layer = _last_layer(self.head)[1]
        return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels

    # -- parameter groups ---------------------------------------------------------------
    def param_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Parameters grouped into stages from stem to head (for freezing and per-stage LRs).

        Stages come from the body's own structure: its top-level children, with large
        containers (e.g. ``features`` or ``blocks``) opened up until there are a handful of
        stages; tiny groups (a BN after a conv) are merged into their neighbours. Auxiliary
        heads join the head group.
        """
        total = _params(self.body) or 1
        groups: list[tuple[str, nn.Module]] = [
            (n, m) for n, m in self.body.named_children() if _params(m) and not self._is_aux(n)
        ]
        def tiny(m: nn.Module) -> bool:
            return _params(m) < 0.01 * total

        while sum(not tiny(m) for _, m in groups) < 4:
            big = [(i, g) for i, g in enumerate(groups) if isinstance(g[1], _EXPANDABLE)
                   and sum(1 for c in g[1].children() if _params(c)) >= 2]
            if not big:
                break
            i, (name, mod) = max(big, key=lambda t: _params(t[1][1]))
            kids = [(f"{name}.{n}", c) for n, c in mod.named_children() if _params(c)]
            groups[i:i + 1] = kids
        # a tiny module (a BN after a conv) joins the stage before it; the first module starts the stem
        merged: list[tuple[str, list[nn.Module]]] = []
        for name, mod in groups:
            if merged and tiny(mod):
                label = merged[-1][0] if len(merged[-1][1]) >= 3 else merged[-1][0] + "+" + name
                merged[-1] = (label, merged[-1][1] + [mod])
            else:
                merged.append((name, [mod]))
        out = [(name, [p for m in mods for p in m.parameters()]) for name, mods in merged]
        head_params = list(self.head.parameters()) + [p for n, m in self.body.named_children() if self._is_aux(n) for p in m.parameters()]
        seen = {id(p) for _, ps in out for p in ps} | {id(p) for p in head_params}
        # parameters registered directly on the body (rare) belong to the first stage
        loose = [p for p in self.body.parameters() if id(p) not in seen]
        if loose:
            out[0] = (out[0][0], loose + out[0][1])
        out.append(("head", head_params))
        return out

    def _is_aux(self, child_name: str) -> bool:
        return any(child_name == p.split(".")[0] for p in self.aux_prefixes)

    def stage_names(self) -> list[str]:
        return [n for n, _ in self.param_groups()]

    def freeze_stages(self, n: int) -> None:
        """Freeze the first ``n`` stages (stem first); the head is never frozen here."""
        groups = self.param_groups()[:-1]
        for i, (_, params) in enumerate(groups):
            for p in params:
                p.requires_grad_(i >= n)

    def frozen_modules(self) -> Iterator[nn.Module]:
        """Modules all of whose parameters are frozen (their BN statistics should stay fixed)."""
        for m in self.body.modules():
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                yield m
