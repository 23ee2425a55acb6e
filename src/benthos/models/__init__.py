"""The classifier zoo: every architecture of the lecture by name, with its card and weights.

    >>> from benthos.models import create_model, list_models
    >>> model = create_model("efficientnet_lite0", num_classes=22, weights="imagenet")
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benthos.errors import BenthosError, WeightsError
from benthos.models.registry import ModelCard, WeightSpec, get_entry, list_models, model_card, upstream
from benthos.models.weights import match_state_dict, published_state_dict, read_state_dict
from benthos.models.zoo_model import ZooModel

__all__ = ["create_model", "list_models", "model_card", "ModelCard", "WeightSpec", "ZooModel", "preprocessing", "check_input_size",
           "model_from_run", "upstream"]


def _adapt_first_conv(net: nn.Module, in_chans: int) -> None:
    """Give the first convolution ``in_chans`` inputs, keeping pretrained filters meaningful
    (timm's rule: sum over RGB for one channel, repeat and rescale for more)."""
    from timm.models import adapt_input_conv

    for name, conv in net.named_modules():
        if isinstance(conv, nn.Conv2d):
            if conv.in_channels == in_chans:
                return
            new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                            conv.dilation, conv.groups, conv.bias is not None)
            with torch.no_grad():
                new.weight.copy_(adapt_input_conv(in_chans, conv.weight))
                if conv.bias is not None:
                    new.bias.copy_(conv.bias)
            parent, _, last = name.rpartition(".")
            owner = net.get_submodule(parent) if parent else net
            setattr(owner, last, new) if not last.isdigit() else owner.__setitem__(int(last), new)
            return


def create_model(name: str, num_classes: int | None = None, weights: str | os.PathLike | None = None,
                 in_chans: int | None = None, **options: Any) -> ZooModel:
    """Build a zoo model.

    Args:
        name: a registered name (``benthos models list``).
        num_classes: outputs of the head; default the reference head (1000, or 10 for LeNet-5/WRN).
        weights: None (random init), a weights name from the card (e.g. ``"imagenet"``), or the
            path of a local ``.safetensors``/``.pth`` file (torchvision, timm or benthos keys).
        in_chans: input channels (default the card's, 3 for most).
        options: architecture options listed on the card (e.g. ``block_design="full_preact"``).
    """
    entry = get_entry(name)
    card = entry.card
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise BenthosError(f"num_classes must be a whole number >= 1, got {num_classes!r}")
    if in_chans is not None and (not isinstance(in_chans, int) or in_chans < 1):
        raise BenthosError(f"in_chans must be a whole number >= 1, got {in_chans!r}")
    unknown = set(options) - set(card.options) - {"drop_rate"}
    if unknown:
        allowed = ", ".join(card.options) or "none"
        raise BenthosError(f"{name} has no option {', '.join(sorted(unknown))}; its options: {allowed}")
    in_chans = in_chans or card.in_chans
    aux = card.aux_prefixes if options.get("aux_logits") else ()

    def build(n: int, chans: int) -> nn.Module:
        try:
            net = entry.builder(num_classes=n, in_chans=chans, **options)
        except (TypeError, ValueError) as exc:
            raise BenthosError(f"cannot build {name} with options {options}: {exc}") from None
        _adapt_first_conv(net, chans)
        return net

    if weights is None:
        n = num_classes or card.num_classes
        return ZooModel.wrap(build(n, in_chans), entry.head, name, n, aux)

    local = Path(weights) if (isinstance(weights, os.PathLike) or os.sep in str(weights) or Path(str(weights)).suffix) else None
    if local is None:
        spec = card.weights.get(str(weights))
        if spec is None:
            have = ", ".join(card.weights) or "none published"
            raise WeightsError(f"{name} has no weights named '{weights}' (available: {have}); or pass a file path")
        net = build(card.num_classes, card.in_chans)
        net.load_state_dict(match_state_dict(net, published_state_dict(card, spec), f"{spec.kind}:{spec.ref}"))
        model = ZooModel.wrap(net, entry.head, name, card.num_classes, aux)
        if in_chans != card.in_chans:
            _adapt_first_conv(model.body, in_chans)
    else:
        model = _from_state_dict(entry, read_state_dict(local), str(local), in_chans, build, aux, num_classes)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model


def _from_state_dict(entry, sd: dict, source: str, in_chans: int, build, aux, num_classes: int | None,
                     body_only_ok: bool = True) -> ZooModel:
    """A zoo model holding the weights ``sd``: keys as a run saves them (the network's own names, see
    :meth:`ZooModel.native_state_dict`), as runs saved them before (``body.``/``head.``), or an ImageNet
    file of the network (its own names, any head size: then the body alone is loaded, if ``body_only_ok``)."""
    card = entry.card
    if any(k.startswith("body.") for k in sd) and any(k.startswith("head.") for k in sd):
        # a run saved before run schema 2 (ZooModel's own keys): the head's shape says how many classes it was trained for
        head_w = [v for k, v in sd.items() if k.startswith("head.") and k.endswith("weight")]
        n = int(head_w[-1].shape[0]) if head_w else card.num_classes
        model = ZooModel.wrap(build(n, in_chans), entry.head, card.name, n, aux)
        model.load_state_dict(match_state_dict(model, sd, source))
        return model
    probe = ZooModel.wrap(build(card.num_classes, in_chans), entry.head, card.name, card.num_classes, aux)
    head_w = [v for k, v in sd.items() if k.startswith(probe.head_key + ".") and k.endswith("weight")]
    n = num_classes or (int(head_w[-1].shape[0]) if head_w else card.num_classes)
    model = probe if n == card.num_classes else ZooModel.wrap(build(n, in_chans), entry.head, card.name, n, aux)
    try:
        model.load_native_state_dict(match_state_dict(model.native_state_dict(), sd, source))
        return model
    except WeightsError:
        if not body_only_ok:
            raise
        # an ImageNet backbone saved with another head size: load all but the classifier
        body_keys = set(probe.body.state_dict())
        body_sd = {k: v for k, v in sd.items() if k in body_keys}
        if len(body_sd) < len(body_keys):
            raise
        probe.body.load_state_dict(match_state_dict(probe.body, body_sd, source))
        return probe


def model_from_run(run_dir: Path, meta: dict[str, Any], device: str | torch.device | None = None,
                   **_) -> tuple[nn.Module, dict[str, Any]]:
    """The classifier (or ensemble) of a run folder, in eval mode, on the CPU: the loader
    ``benthos.runs.load_run`` uses for runs of kind classifier and ensemble (``device`` is left to the
    inference that runs it). The weights are checked against run.json's SHA-256."""
    from benthos.runs.run import load_run, read_weights, weights_file

    if meta["kind"] == "ensemble":
        from benthos.models.ensemble import Ensemble

        members = []
        for sub in meta["members"]:
            model, member_meta = load_run(run_dir / sub, kind="classifier", device=device)
            if member_meta["classes"] != meta["classes"]:
                raise BenthosError(f"{run_dir / sub}: its classes differ from the ensemble's; the run folder is damaged")
            members.append(model)
        return Ensemble(members).eval(), meta
    path = weights_file(run_dir, meta)
    entry = get_entry(meta["architecture"])
    options = meta.get("model_options") or {}
    in_chans = meta.get("preprocessing", {}).get("in_chans") or entry.card.in_chans
    n = len(meta["classes"])

    def build(k: int, chans: int) -> nn.Module:
        net = entry.builder(num_classes=k, in_chans=chans, **options)
        _adapt_first_conv(net, chans)
        return net

    aux = entry.card.aux_prefixes if options.get("aux_logits") else ()
    try:
        model = _from_state_dict(entry, read_weights(path), str(path), in_chans, build, aux, n, body_only_ok=False)
    except WeightsError as exc:
        raise WeightsError(f"{exc} (run.json says {meta['architecture']} with {n} classes)") from None
    if model.num_classes != n:
        raise BenthosError(f"{path} has a head for {model.num_classes} classes but run.json lists {n}: "
                           "the run folder is damaged")
    return model.eval(), meta  # inference moves it to its device (benthos.infer.predict_samples)


def preprocessing(name: str, weights: str | None = "imagenet") -> dict[str, Any]:
    """Input size and normalisation the model (and its weights) expect."""
    card = model_card(name)
    spec = card.weights.get(weights or "", WeightSpec("none", ""))
    mean, std = (spec.mean, spec.std) if card.in_chans == 3 else ((0.5,) * card.in_chans, (0.5,) * card.in_chans)
    return {"input_size": card.input_size, "mean": list(mean), "std": list(std), "in_chans": card.in_chans}


def check_input_size(name: str, size: int) -> None:
    """Raise a clear error when ``size`` is below what the architecture can take."""
    card = model_card(name)
    if size < card.min_input:
        raise BenthosError(f"{name} needs inputs of at least {card.min_input}x{card.min_input} px; got {size}. "
                           f"Use --input-size {card.min_input} or more (its native size is {card.input_size}).")
