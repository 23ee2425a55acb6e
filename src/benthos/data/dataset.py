"""The torch Dataset over :class:`Sample` lists: loads, cuts the box, transforms."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from PIL import Image
from torch.utils.data import Dataset

from benthos.data.images import crop_padded, load_image
from benthos.data.samples import Sample
from benthos.errors import DataError

log = logging.getLogger(__name__)


class ImageDataset(Dataset):
    """``(tensor, int label)`` pairs from samples; never crashes on a bad image mid-epoch.

    An image that cannot be read (deleted or corrupted after loading) is replaced by a
    blank one of the same patch size, logged once, and recorded in ``self.failures``; with
    ``failure_log`` (a file path) also appended there, one line per image, so the training run
    can count the failures of its DataLoader worker processes.
    ``pad`` fills patch areas outside the image: "mean" colour or "zero". ``min_side``: see
    :func:`benthos.data.images.load_image` (used at prediction time; ignored for boxes).
    """

    def __init__(self, samples: Sequence[Sample], class_to_idx: dict[str, int],
                 transform: Callable | None = None, pad: str = "mean", blank_size: int = 224,
                 failure_log: str | os.PathLike | None = None, min_side: int | None = None,
                 reuse_photo: bool = False):
        missing = sorted({s.label for s in samples} - set(class_to_idx))
        if missing:
            raise DataError(f"labels {missing} are not in class_to_idx {sorted(class_to_idx)}; "
                            "the samples and the class list come from different datasets.")
        self.samples = list(samples)
        self.class_to_idx = dict(class_to_idx)
        self.transform = transform
        self.pad = pad
        self.blank_size = blank_size
        self.failures: list[str] = []   # per worker process when num_workers > 0
        self.failure_log = failure_log
        self.min_side = min_side  # whole images only: large JPEGs may decode at reduced scale (load_image)
        # prediction/evaluation in file order: keep the photo the previous patch was cut from, so
        # consecutive points/boxes of one photo cost one decode (not in training: shuffled, no hits)
        self.reuse_photo = reuse_photo
        self._last: tuple[os.PathLike, Image.Image] | None = None

    def __getstate__(self) -> dict:  # DataLoader workers get the samples, not a decoded photo
        return {**self.__dict__, "_last": None}

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> Image.Image:
        """The RGB image (or cut patch) for one sample, before the transform."""
        s = self.samples[index]
        last = self._last
        if s.box is not None and last is not None and last[0] == s.path:
            return crop_padded(last[1], s.box, self.pad)
        try:
            im = load_image(s.path, self.min_side if s.box is None else None)
        except DataError as exc:
            if str(s.path) not in self.failures:
                log.warning("%s; substituting a blank image", exc)
                self.failures.append(str(s.path))
                if self.failure_log:
                    with open(self.failure_log, "a", encoding="utf-8") as fh:  # one short line: atomic append
                        fh.write(f"{s.path}\t{' '.join(str(exc).split())}\n")
            return self._blank(s)
        if s.box is None:
            return im
        if self.reuse_photo:
            self._last = (s.path, im)
        return crop_padded(im, s.box, self.pad)

    def _blank(self, s: Sample) -> Image.Image:
        if s.box is not None:
            w, h = max(1, round(s.box[2] - s.box[0])), max(1, round(s.box[3] - s.box[1]))
        else:
            w = h = self.blank_size
        return Image.new("RGB", (w, h), (0, 0, 0))

    def __getitem__(self, index: int):
        im = self.load(index)
        x = self.transform(im) if self.transform is not None else im
        return x, self.class_to_idx[self.samples[index].label]
