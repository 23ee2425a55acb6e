"""Run a classifier over samples: softmax probabilities (and logits) per sample."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from benthos.data import ImageDataset, Sample, eval_transforms


def tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Symmetric views of a batch: 'dihedral' (4 rotations x flip: top-down seafloor imagery has
    no up), 'flip' (horizontal flip), or 'none'."""
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x.flip(-1)]
    views = [torch.rot90(x, k, (-2, -1)) for k in range(4)]
    return views + [v.flip(-1) for v in views]


def predict_samples(model: torch.nn.Module, samples: Sequence[Sample], preprocessing: dict, batch_size: int = 64,
                    tta: str = "none", num_workers: int | None = None, channels_last: bool = True,
                    temperature: float = 1.0, device: str | torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, C) and logits (N, C); TTA averages logits over the views.

    ``temperature``: the run's calibration (``run.json`` ``calibration.temperature``);
    probabilities are softmax(logits / T), the logits are returned unscaled.
    ``device``: where the model runs (:func:`benthos.infer.device.pick_device`: the GPU when
    there is one); the model is moved there (outside inference mode, so that its parameters
    stay ordinary tensors that can still be trained).
    ``num_workers``: image-reading processes; None = none on a CPU (the model's threads use the
    cores), up to 4 beside a GPU (:func:`benthos.infer.device.loader_workers`)."""
    from benthos.infer.device import loader_workers, pick_device

    dev = pick_device(device)
    tf = eval_transforms(preprocessing)
    # large JPEGs decode at reduced scale, keeping 4x the pixels per side that the eval resize needs
    # (load_image): on 12-Mpx photos 40/40 top-1 labels as with a full decode, probabilities within 0.06
    size = preprocessing["input_size"]
    side = 4 * round((max(size) if isinstance(size, (list, tuple)) else size)
                     / preprocessing.get("crop_fraction", 0.875))
    ds = ImageDataset(list(samples), {s.label: 0 for s in samples}, tf, min_side=side, reuse_photo=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=loader_workers(num_workers, dev),
                                         pin_memory=dev.type == "cuda")
    model.eval()
    model = model.to(dev, memory_format=torch.channels_last) if channels_last else model.to(dev)
    out = []
    with torch.inference_mode():
        for x, _ in loader:
            x = x.to(dev, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(torch.stack([model(v) for v in tta_views(x, tta)]).mean(0).float().cpu())
    logits = torch.cat(out) if out else torch.zeros(0, getattr(model, "num_classes", 0))
    return (logits / temperature).softmax(-1).numpy(), logits.numpy()
