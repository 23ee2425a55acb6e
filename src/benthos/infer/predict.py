"""Run a classifier over samples: softmax probabilities (and logits) per sample."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from benthos.data import ImageDataset, Sample
from benthos.errors import BenthosError


def tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Symmetric views of a batch: 'dihedral' (4 rotations x flip: top-down seafloor imagery has
    no up), 'flip' (horizontal flip), or 'none'."""
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x.flip(-1)]
    views = [torch.rot90(x, k, (-2, -1)) for k in range(4)]
    return views + [v.flip(-1) for v in views]


def sample_loader(samples: Sequence[Sample], preprocessing: dict, batch_size: int, num_workers: int | None,
                  device: torch.device) -> torch.utils.data.DataLoader:
    """Batches of preprocessed samples in order, read by ``num_workers`` processes (None: see
    :func:`benthos.infer.device.loader_workers`)."""
    from benthos.data.transforms import eval_array_transforms
    from benthos.infer.device import loader_workers

    tf = eval_array_transforms(preprocessing)
    # large JPEGs decode at reduced scale, keeping 4x the pixels per side that the eval resize needs
    # (load_image): on 12-Mpx photos 40/40 top-1 labels as with a full decode, probabilities within 0.06
    size = preprocessing["input_size"]
    side = 4 * round((max(size) if isinstance(size, (list, tuple)) else size)
                     / preprocessing.get("crop_fraction", 0.875))
    ds = ImageDataset(list(samples), {s.label: 0 for s in samples}, tf, min_side=side, reuse_photo=True)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=loader_workers(num_workers, device),
                                       pin_memory=device.type == "cuda", collate_fn=_stack)


def _stack(batch: list) -> tuple[torch.Tensor, list]:
    # numpy's stack: torch's default collate runs a multi-threaded copy that stalls on a busy CPU
    return torch.from_numpy(np.stack([x for x, _ in batch])), [y for _, y in batch]


def check_finite(logits: np.ndarray, samples: Sequence[Sample], what: str) -> None:
    """Stop with one line, never a CSV of NaN, when a model gives non-finite outputs."""
    bad = np.flatnonzero(~np.isfinite(logits).all(1))
    if len(bad):
        first = samples[bad[0]]
        raise BenthosError(f"{what} gave non-finite outputs (NaN or infinity) for {len(bad)} of {len(samples)} "
                           f"images in a batch, first {first.path}: its weights or the exported model are damaged; "
                           "nothing was written for them. Retrain or re-export the run (or try --backend torch)")


def predict_samples(model: torch.nn.Module, samples: Sequence[Sample], preprocessing: dict, batch_size: int = 64,
                    tta: str = "none", num_workers: int | None = None, channels_last: bool = True,
                    temperature: float = 1.0, device: str | torch.device | None = None, margin: float | None = None,
                    forward: Callable[[np.ndarray], np.ndarray] | None = None, backend: str = "torch",
                    stats: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, C) and logits (N, C); TTA averages logits over the views.

    ``tta``: the views, "dihedral", "flip" or "none"; with ``margin``, the extra views only for
    images whose first view is unsure (:mod:`benthos.infer.views`).
    ``temperature``: the run's calibration (``run.json`` ``calibration.temperature``);
    probabilities are softmax(logits / T), the logits are returned unscaled.
    ``forward``: the backend (:mod:`benthos.infer.backends`: NCHW float32 array -> logits) named
    ``backend``; default PyTorch on ``model``.
    ``device``: where the PyTorch model runs (:func:`benthos.infer.device.pick_device`: the GPU when
    there is one); the model is moved there (outside inference mode, so that its parameters
    stay ordinary tensors that can still be trained).
    ``num_workers``: image-reading processes; None = none on a CPU (the model's threads use the
    cores), up to 4 beside a GPU (:func:`benthos.infer.device.loader_workers`).
    ``stats``: a dict that receives ``views`` (forward passes run, one per image and view).
    Raises BenthosError if the model gives NaN or infinite outputs.
    """
    from benthos.infer.backends import torch_forward
    from benthos.infer.device import pick_device
    from benthos.infer.views import ViewRule, score_batch

    dev = pick_device(device)
    samples = list(samples)
    loader = sample_loader(samples, preprocessing, batch_size, num_workers, dev)
    if forward is None:
        forward = torch_forward(model, dev, channels_last)
    rule = ViewRule(tta, margin)
    what = f"{getattr(model, 'name', None) or 'the model'} ({backend})"
    out, start, views = [], 0, 0
    for x, _ in loader:
        logits, n = score_batch(forward, x.numpy(), rule)
        check_finite(logits, samples[start:start + len(x)], what)
        out.append(logits.astype(np.float32, copy=False))
        start, views = start + len(x), views + n
    if stats is not None:
        stats["views"] = stats.get("views", 0) + views
    logits = torch.from_numpy(np.concatenate(out)) if out else torch.zeros(0, getattr(model, "num_classes", 0))
    return (logits / temperature).softmax(-1).numpy(), logits.numpy()


def view_logits(model: torch.nn.Module, samples: Sequence[Sample], preprocessing: dict, mode: str,
                batch_size: int = 64, device: str | torch.device | None = None,
                forward: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Every view's logits, (V, N, C): what the adaptive rule is fitted on (:mod:`benthos.train.views`).
    ``forward``: another backend than PyTorch on ``model`` (as :func:`predict_samples`)."""
    from benthos.infer.backends import torch_forward
    from benthos.infer.device import pick_device
    from benthos.infer.views import view_arrays

    dev = pick_device(device)
    samples = list(samples)
    forward = forward or torch_forward(model, dev)
    out, start = [], 0
    for x, _ in sample_loader(samples, preprocessing, batch_size, None, dev):
        views = view_arrays(x.numpy(), mode)
        logits = forward(np.ascontiguousarray(np.concatenate(views)))
        check_finite(logits.reshape(len(views), len(x), -1).mean(0), samples[start:start + len(x)], "the model (torch)")
        out.append(logits.reshape(len(views), len(x), -1))
        start += len(x)
    if not out:
        return np.zeros((len(view_arrays(np.zeros((0, 1, 1, 1)), mode)), 0, getattr(model, "num_classes", 0)), np.float32)
    return np.concatenate(out, 1)
