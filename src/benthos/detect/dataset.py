"""Torch dataset over DetectionRecords: whole images, tiles or random crops; flips and colour jitter.

Random crops (``crop``) are cut after scaling the image to the network input
(``input_size``, long side), so organisms keep the size they have at prediction time
while each step costs a fraction of a whole frame: on a CPU that buys many more steps.

Images go to the model as float tensors in 0-1 at their own size; each detector resizes
and normalises inside (torchvision's convention), so one pipeline serves them all.

With a proposal provider (``proposals``, e.g. :class:`benthos.detect.proposals.SelectiveSearch`)
each target also carries ``"proposals"`` (P, 4): computed on the ORIGINAL image, so the cache
keyed by its pixels serves every epoch and the evaluation, then moved with the same
resize, crop, tile and flips as the boxes.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import Dataset

from benthos.data.detection import DetectionRecord
from benthos.data.issues import DataIssue
from benthos.detect.proposals import crop_proposals
from benthos.detect.tiling import crop_targets, tile_windows
from benthos.errors import DataError


def flip_boxes(boxes: torch.Tensor, width: float | None = None, height: float | None = None) -> torch.Tensor:
    """(N, 4) x0,y0,x1,y1 boxes mirrored left-right in an image ``width`` wide (when given) and
    upside down in one ``height`` high (when given): training flips and mirrored test-time views."""
    b = boxes
    if width is not None:
        b = torch.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], 1)
    if height is not None:
        b = torch.stack([b[:, 0], height - b[:, 3], b[:, 2], height - b[:, 1]], 1)
    return b


def frame_tensor(image, device: torch.device | str | None = None) -> torch.Tensor:
    """A PIL image as the detectors take it: float [3, H, W], RGB in [0, 1] (moved to ``device`` as bytes,
    before the conversion)."""
    x = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    return (x if device is None else x.to(device)).float().div_(255)


class Skipped:
    """What ``DetectionDataset[k]`` gives for an image that cannot be read: the issue travels with the
    batch, so it reaches the training loop from DataLoader worker processes too."""

    __slots__ = ("issue",)

    def __init__(self, issue: DataIssue) -> None:
        self.issue = issue


class DetectionDataset(Dataset):
    def __init__(self, records: list[DetectionRecord], train: bool = False, hflip: bool = True, vflip: bool = False,
                 color_jitter: float = 0.2, tile: int | None = None, tile_overlap: float = 0.2,
                 min_visible: float = 0.5, crop: int | None = None, input_size: int | None = None,
                 scale_jitter: float = 0.0, transpose: bool = False, proposals=None) -> None:
        self.records, self.train, self.proposals = records, train, proposals
        self.crop, self.input_size, self.scale_jitter = crop, input_size, scale_jitter
        self.hflip, self.vflip, self.transpose, self.color_jitter = hflip, vflip, transpose, color_jitter
        self.min_visible = min_visible
        self.items: list[tuple[int, tuple[int, int, int, int] | None]] = []
        for i, r in enumerate(records):
            if tile and max(r.width, r.height) > tile:
                self.items += [(i, w) for w in tile_windows(r.width, r.height, tile, tile_overlap)]
            else:
                self.items.append((i, None))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int):
        from benthos.data.images import load_image

        i, win = self.items[k]
        r = self.records[i]
        try:
            im = load_image(r.image_path)
        except DataError as exc:  # a corrupt frame is skipped, not fatal mid-epoch
            return Skipped(DataIssue(str(r.image_path), None, str(exc), "skipped", "unreadable_image"))
        boxes, labels = r.boxes.copy(), r.labels.copy()
        props = self.proposals(im) if self.proposals is not None else None
        if im.size != (r.width, r.height):  # annotation size disagrees with the file: rescale boxes
            sx, sy = im.size[0] / r.width, im.size[1] / r.height
            boxes *= np.array([sx, sy, sx, sy], np.float32)
        if win is not None:
            im = im.crop(win)
            boxes, labels = crop_targets(boxes, labels, win, self.min_visible)
            if props is not None:
                props = crop_proposals(props, win)
        if self.crop:
            im, boxes, labels, props = self._random_crop(im, boxes, labels, props)
        x = frame_tensor(im)
        b = torch.from_numpy(boxes).float().reshape(-1, 4)
        n = len(b)
        if props is not None:  # moved by the same flips as the boxes: augmented together
            b = torch.cat([b, torch.from_numpy(props).float().reshape(-1, 4)])
        if self.train:
            x, b = self._augment(x, b)
        target = {"boxes": b[:n], "labels": torch.from_numpy(labels).long() + 1, "image_id": torch.tensor(r.image_id)}
        if props is not None:
            target["proposals"] = b[n:]
        return x, target

    def _random_crop(self, im, boxes, labels, props=None):
        from PIL import Image

        target = self.input_size or max(im.size)
        if self.scale_jitter:  # organisms seen a little larger or smaller than at prediction time
            target = round(target * random.uniform(1 - self.scale_jitter, 1 + self.scale_jitter))
        r = 1.0
        if target != max(im.size):
            r = target / max(im.size)
            im = im.resize((max(1, round(im.size[0] * r)), max(1, round(im.size[1] * r))), Image.BILINEAR)
            boxes = boxes * r
        c = self.crop
        x0 = random.randint(0, max(0, im.size[0] - c))
        y0 = random.randint(0, max(0, im.size[1] - c))
        win = (x0, y0, x0 + c, y0 + c)
        boxes, labels = crop_targets(boxes, labels, win, self.min_visible)
        if props is not None:
            props = crop_proposals(props, (x0, y0, min(x0 + c, im.size[0]), min(y0 + c, im.size[1])), scale=r)
        canvas = Image.new("RGB", (c, c), (124, 116, 104))  # pads small images to a square crop
        canvas.paste(im.crop((x0, y0, min(x0 + c, im.size[0]), min(y0 + c, im.size[1]))), (0, 0))
        return canvas, boxes, labels, props

    def _augment(self, x: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = x.shape[-2:]
        if self.hflip and random.random() < 0.5:
            x = x.flip(-1)
            b = flip_boxes(b, width=w)
        if self.vflip and random.random() < 0.5:
            x = x.flip(-2)
            b = flip_boxes(b, height=h)
        if self.transpose and random.random() < 0.5:  # x <-> y; with both flips, any right-angle rotation
            x = x.transpose(-1, -2)
            b = b[:, [1, 0, 3, 2]]
        if self.color_jitter:
            j = self.color_jitter
            x = (x - x.mean()) * (1 + random.uniform(-j, j)) + x.mean() + random.uniform(-j, j) * 0.5
            x = x * torch.empty(3, 1, 1).uniform_(1 - j / 2, 1 + j / 2)  # water colour casts
            x = x.clamp_(0, 1)
        return x, b


def collate(batch):
    """(images, targets, issues): lists of the images and targets that loaded, and the
    :class:`~benthos.data.issues.DataIssue` of each that did not."""
    issues = [b.issue for b in batch if isinstance(b, Skipped)]
    batch = [b for b in batch if not isinstance(b, Skipped)]
    ims, targets = tuple(zip(*batch)) if batch else ((), ())
    return ims, targets, issues
