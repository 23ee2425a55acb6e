"""Where inference runs: the GPU when there is one, else the CPU.

``BENTHOS_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides the choice for
prediction, evaluation, calibration and the linear probe's feature cache, e.g. to keep a
shared GPU free. Training picks its device through Lightning's flags (``--accelerator``).
"""
from __future__ import annotations

import os

import torch

from benthos.errors import BenthosError


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``requested``, else ``$BENTHOS_DEVICE``, else ``auto``: the first CUDA GPU if present, else the CPU."""
    name = str(requested or os.environ.get("BENTHOS_DEVICE") or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise BenthosError(f"device {name!r} is not a device name; use auto, cpu, cuda, cuda:N or mps "
                           "(--device or BENTHOS_DEVICE)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenthosError(f"device {name!r}: this machine's PyTorch sees no CUDA GPU; use cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise BenthosError(f"device {name!r}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BenthosError(f"device {name!r}: Apple's MPS backend is not available here; use cpu or auto")
    return dev


def loader_workers(requested: int | None, device: str | torch.device, cpu_default: int = 0) -> int:
    """DataLoader worker processes: ``requested``, else ``cpu_default`` when the model runs on
    the CPU (its threads already use the cores) and up to 4 beside a GPU, where reading and
    augmenting images in the training process would hold the GPU back."""
    if requested is not None:
        return max(0, int(requested))
    if torch.device(device).type == "cpu":
        return cpu_default
    return min(4, max(1, (os.cpu_count() or 2) - 1))


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (the CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
