"""Count parameters and multiply-adds (MACs) layer by layer by running one forward pass.

A multiply-add is counted for every weight applied at every output position of a
convolution (grouped and depthwise included) or fully connected layer, the convention of
the papers' tables. Normalisation, activations and pooling cost no MACs here (BN folds into
the preceding conv at inference).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class LayerCost:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class ModelCost:
    name: str
    input_size: int
    num_classes: int
    params: int  # all parameters, auxiliary heads excluded
    macs: int  # multiply-adds for one image
    layers: list[LayerCost] = field(default_factory=list)

    def to_dict(self, layers: bool = True) -> dict:
        d = asdict(self)
        if not layers:
            d.pop("layers")
        return d


def conv_macs(cin: int, cout: int, k: int | tuple[int, int], out_hw: tuple[int, int], groups: int = 1) -> int:
    """Multiply-adds of a convolution: every output value sums k*k*cin/groups products."""
    kh, kw = (k, k) if isinstance(k, int) else k
    return out_hw[0] * out_hw[1] * cout * kh * kw * (cin // groups)


def _layer_macs(m: nn.Module, out: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        return conv_macs(m.in_channels, m.out_channels, m.kernel_size, tuple(out.shape[-2:]), m.groups)
    if isinstance(m, nn.Linear):
        return out[0].numel() * m.in_features
    return 0


def profile_module(module: nn.Module, input_shape: tuple[int, ...], name: str = "model",
                   exclude: tuple[str, ...] = ()) -> ModelCost:
    """Run one forward pass on zeros of ``input_shape`` (with batch 1) and record each leaf layer.

    Layers whose name starts with a prefix in ``exclude`` (auxiliary heads) are left out of
    both the MAC and the parameter totals.
    """
    records: list[LayerCost] = []
    hooks = []

    def skip(n: str) -> bool:
        return any(n == p or n.startswith(p + ".") for p in exclude)

    for n, m in module.named_modules():
        if next(m.children(), None) is not None or skip(n):
            continue

        def hook(mod: nn.Module, _inp, out, n=n) -> None:
            if isinstance(out, (tuple, list)):
                out = out[0]
            own = sum(p.numel() for p in mod.parameters(recurse=False))
            records.append(LayerCost(n, type(mod).__name__, tuple(out.shape[1:]), own, _layer_macs(mod, out)))

        hooks.append(m.register_forward_hook(hook))
    was_training = module.training
    module.eval()  # auxiliary heads run only in training
    try:
        with torch.no_grad():
            module(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        module.train(was_training)
    params = sum(p.numel() for n, p in module.named_parameters() if not skip(n.rsplit(".", 1)[0]))
    return ModelCost(name, input_shape[-1], 0, params, sum(r.macs for r in records), records)


def profile_model(name: str, input_size: int | None = None, num_classes: int | None = None, **options) -> ModelCost:
    """Cost of a zoo model at ``input_size`` (default its native size) for its reference head."""
    from benthos.models import check_input_size, create_model, model_card

    card = model_card(name)
    size = input_size or card.input_size
    check_input_size(name, size)
    model = create_model(name, num_classes=num_classes, **options)
    exclude = tuple("body." + p for p in card.aux_prefixes)
    cost = profile_module(model, (card.in_chans, size, size), name, exclude)
    cost.num_classes = model.num_classes
    return cost


def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1, repeats: int = 10,
                    channels_last: bool = True) -> float:
    """Median seconds per forward pass on CPU (after two warm-up runs)."""
    model.eval()
    x = torch.randn(batch, *input_shape)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):
            t = time.perf_counter()
            model(x)
            if i >= 2:
                times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]
