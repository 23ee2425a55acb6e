"""Cut the box and point patches out of their photos once, before training.

Training visits every patch once per epoch in random order, so without this each visit decodes
the whole photo (a 12-megapixel JPEG: ~0.1 s on one core) to cut ~224 px out of it: on CoralNet
points from large survey photos, training ran at a third of its speed (BENCHMARKS.md). Here each
photo is decoded once, its patches are written as lossless PNG files into a folder, and the
samples that come back point at those files (``box`` None), so every epoch reads small files.
Patches much larger than the network will see are stored downscaled (``max_side``).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from benthos.data.images import crop_padded, load_image
from benthos.data.samples import Sample
from benthos.errors import DataError

log = logging.getLogger(__name__)


def cut_patches(samples: Sequence[Sample], folder: str | os.PathLike, max_side: int | None = None,
                pad: str = "mean") -> list[Sample]:
    """The same samples, those with a ``box`` replaced by a PNG of their patch under ``folder``.

    Each photo is decoded once (samples are visited photo by photo). ``max_side``: a patch whose
    shorter side exceeds it is stored scaled down to that (training resizes it further anyway).
    A photo that cannot be read leaves its samples as they were: the dataset substitutes a blank,
    logs and counts them as for any unreadable image. Files are written atomically (temporary
    name, then rename), so processes cutting the same patches at once (DDP ranks) never read half
    a file. The original photo and box go into each sample's ``meta`` (``photo``, ``box``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = list(samples)
    todo = sorted((i for i, s in enumerate(samples) if s.box is not None), key=lambda i: str(samples[i].path))
    t0, photo, im, n_photos = time.time(), None, None, 0
    for i in todo:
        s = samples[i]
        if s.path != photo:
            photo, n_photos = s.path, n_photos + 1
            try:
                im = load_image(s.path)
            except DataError:
                im = None
        if im is None:
            continue
        patch = crop_padded(im, s.box, pad)
        if max_side and min(patch.size) > max_side:
            scale = max_side / min(patch.size)
            patch = patch.resize((max(1, round(patch.width * scale)), max(1, round(patch.height * scale))),
                                 Image.Resampling.BILINEAR)
        dest = folder / f"{i:07d}.png"
        tmp = folder / f".{i:07d}.{os.getpid()}.png"
        patch.save(tmp, compress_level=1)
        os.replace(tmp, dest)
        out[i] = Sample(dest, s.label, s.group, None, {**s.meta, "photo": str(s.path), "box": list(s.box)})
    if todo:
        log.info("cut %d patches from %d photos once, in %.1f s (each epoch reads them, not the photos)",
                 len(todo), n_photos, time.time() - t0)
    return out
