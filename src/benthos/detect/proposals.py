"""Region proposals for the proposal-based detectors of the lecture (R-CNN, Fast R-CNN).

Selective search (Uijlings et al., IJCV 2013) in OpenCV contrib's fast mode: a few
thousand class-agnostic boxes per image, ranked, from hierarchical grouping of superpixels.
It costs seconds per frame on a CPU (the cost Faster R-CNN's RPN removed), so:

- it can run on a downscaled copy (``side``): the search is roughly linear in pixels;
- each image keeps at most ``max_proposals`` boxes, clipped to the image, tiny ones dropped;
- results are cached on disk, keyed by the image's decoded pixels (SHA-256 of the uint8
  array and its shape) AND the settings, so a training image and the same frame met again
  in evaluation or prediction are searched once. An entry records its settings and content
  digest and is checked on read: an entry made with other settings is never reused.

The cache lives in ``$BENTHOS_CACHE/proposals`` (else ``~/.cache/benthos/proposals``), one
safetensors file per image and setting (no pickles), written atomically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benthos.errors import BenthosError, ConfigError

INSTALL_HINT = "pip install 'benthos[lineage]' (or: pip install opencv-contrib-python-headless)"
STORED = 10000  # boxes kept per image in the cache; a detector's max_proposals takes the first N of them


@dataclass(frozen=True)
class ProposalSettings:
    """What a set of proposals depends on besides the image (all of it goes into the cache key)."""

    side: int = 400              # long side (px) the search runs at; 0: the image as it is. On 640 px
                                 # brittle-star frames 400 px kept ~85% recall at IoU 0.5 for ~40% of the time
    k: int = 75                  # scale of fast mode's Felzenszwalb segmentations (OpenCV's default 150
                                 # merges the ~30 px animals of survey frames into the seafloor)
    min_size: float = 4.0        # px in the image: narrower or lower boxes are dropped
    method: str = "selective_search_fast"

    def __post_init__(self) -> None:
        if self.method != "selective_search_fast":
            raise ConfigError(f"proposal method {self.method!r}: only 'selective_search_fast' is built")
        for name, lo in (("side", 0), ("k", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"proposal setting {name}={v!r}: use a whole number >= {lo}")
        if not isinstance(self.min_size, (int, float)) or self.min_size < 0:
            raise ConfigError(f"proposal setting min_size={self.min_size!r}: use a number of pixels >= 0")

    def key(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def cache_dir() -> Path:
    root = os.environ.get("BENTHOS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "benthos") / "proposals"


def ximgproc():
    """OpenCV contrib's ``cv2.ximgproc``, or a one-line BenthosError saying what to install."""
    try:
        import cv2

        return cv2.ximgproc
    except (ImportError, AttributeError):
        raise BenthosError("selective search needs OpenCV's contrib modules (cv2.ximgproc), which are not "
                           f"installed: {INSTALL_HINT}") from None


def to_pixels(image) -> np.ndarray:
    """(H, W, 3) C-contiguous uint8 from a PIL image, a uint8 array or a (3, H, W) tensor in 0-1.

    A tensor made from uint8 pixels / 255 gives back exactly those pixels, so a frame has one
    cache key whether it comes from the training data or from ``model(images)``."""
    if hasattr(image, "permute"):  # torch tensor
        t = image.detach()
        if t.dtype.is_floating_point:
            t = (t * 255).round().clamp(0, 255)
        image = t.to("cpu").byte().permute(1, 2, 0).numpy()
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"expected an RGB image, got an array of shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.uint8)


def image_digest(pixels: np.ndarray) -> str:
    h = hashlib.sha256(f"{pixels.shape}".encode())
    h.update(pixels.tobytes())
    return h.hexdigest()


def clean_boxes(boxes: np.ndarray, width: float, height: float, min_size: float = 4.0,
                limit: int | None = None) -> np.ndarray:
    """(P, 4) xyxy float32: clipped to the image, boxes under ``min_size`` px wide or high (and
    degenerate or non-finite ones) dropped, exact duplicates removed, the first ``limit`` kept."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    b = b[np.isfinite(b).all(1)]
    b[:, 0::2] = b[:, 0::2].clip(0, width)
    b[:, 1::2] = b[:, 1::2].clip(0, height)
    keep = ((b[:, 2] - b[:, 0]) >= max(min_size, 1e-3)) & ((b[:, 3] - b[:, 1]) >= max(min_size, 1e-3))
    b = b[keep]
    if len(b):
        _, first = np.unique(b, axis=0, return_index=True)
        b = b[np.sort(first)]  # keep the search's ranking
    return np.ascontiguousarray(b[:limit] if limit else b)


def crop_proposals(boxes: np.ndarray, window: tuple[float, float, float, float], scale: float = 1.0,
                   min_size: float = 2.0) -> np.ndarray:
    """Proposals of an image as seen through a crop: scaled by ``scale``, shifted into ``window``
    (x0, y0, x1, y1 in the scaled image), clipped to it, those left tiny dropped."""
    x0, y0, x1, y1 = window
    b = np.asarray(boxes, np.float32).reshape(-1, 4) * scale - np.array([x0, y0, x0, y0], np.float32)
    return clean_boxes(b, x1 - x0, y1 - y0, min_size)


def selective_search(pixels: np.ndarray, settings: ProposalSettings = ProposalSettings()) -> np.ndarray:
    """Selective search (fast mode) on (H, W, 3) uint8 RGB pixels: (P, 4) xyxy float32 in their pixels."""
    xip = ximgproc()
    import cv2

    h, w = pixels.shape[:2]
    r = settings.side / max(h, w) if settings.side and max(h, w) > settings.side else 1.0
    small = pixels if r == 1 else cv2.resize(pixels, (max(1, round(w * r)), max(1, round(h * r))),
                                             interpolation=cv2.INTER_AREA)
    ss = xip.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    ss.switchToSelectiveSearchFast(settings.k, settings.k)
    rects = np.asarray(ss.process(), np.float32).reshape(-1, 4)  # x, y, w, h, ranked
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], 1) / r
    return clean_boxes(boxes, w, h, settings.min_size, STORED)


def proposal_recall(proposals: Iterable[np.ndarray], gt: Iterable[np.ndarray], iou: float = 0.5) -> float:
    """Fraction of ground-truth boxes that some proposal overlaps by IoU >= ``iou`` (NaN without boxes)."""
    import torch
    from torchvision.ops import box_iou

    hit = total = 0
    for p, g in zip(proposals, gt):
        g = np.asarray(g, np.float32).reshape(-1, 4)
        total += len(g)
        if len(g) and len(p):
            hit += int((box_iou(torch.as_tensor(g), torch.as_tensor(np.asarray(p, np.float32))).amax(1) >= iou).sum())
    return hit / total if total else float("nan")


class SelectiveSearch:
    """A proposal provider: ``provider(image) -> (P, 4)`` xyxy float32 in the image's pixels, cached.

    ``max_proposals``: the first N in selective search's ranking. The cache holds the whole ranked
    list, so detectors that keep different numbers share its entries (the first N of a longer list
    are exactly the list a search capped at N gives).
    ``cache``: a folder, None for :func:`cache_dir`, or False for no disk cache. Picklable, so
    DataLoader worker processes share it (each reads and writes the same folder)."""

    def __init__(self, settings: ProposalSettings | None = None, cache: str | os.PathLike | bool | None = None,
                 max_proposals: int = 2000):
        if isinstance(max_proposals, bool) or not isinstance(max_proposals, int) or max_proposals < 1:
            raise ConfigError(f"max_proposals {max_proposals!r}: use a whole number of proposals per image, e.g. 2000")
        self.settings, self.max_proposals = settings or ProposalSettings(), max_proposals
        self.cache = None if cache is False else Path(cache) if cache not in (None, True) else cache_dir()
        self.stats = {"computed": 0, "cached": 0, "seconds": 0.0}

    def __repr__(self) -> str:
        return f"SelectiveSearch({self.settings}, max_proposals={self.max_proposals}, cache={self.cache})"

    def entry(self, digest: str) -> Path:
        key = hashlib.sha256((digest + self.settings.key()).encode()).hexdigest()
        return self.cache / key[:2] / f"{key}.safetensors"

    def _read(self, path: Path, digest: str) -> np.ndarray | None:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if meta.get("settings") != self.settings.key() or meta.get("image") != digest:
                    return None  # made with other settings (or for another image): rebuilt, never reused
                boxes = f.get_tensor("boxes")
        except Exception:  # a missing, torn or foreign file is recomputed, whatever its reader raised
            return None
        return boxes.astype(np.float32).reshape(-1, 4) if boxes.ndim == 2 and boxes.shape[-1] == 4 else None

    def _write(self, path: Path, digest: str, boxes: np.ndarray) -> None:
        from safetensors.numpy import save_file

        from benthos.runs.atomic import atomic_write

        meta = {"settings": self.settings.key(), "image": digest, "kind": "benthos-proposals"}
        try:
            atomic_write(path, lambda tmp: save_file({"boxes": np.ascontiguousarray(boxes, np.float32)}, tmp,
                                                     metadata=meta))
        except OSError:  # a read-only or full cache slows the next run down; it must not stop this one
            pass

    def __call__(self, image) -> np.ndarray:
        pixels = to_pixels(image)
        digest = image_digest(pixels) if self.cache is not None else ""
        path = self.entry(digest) if self.cache is not None else None
        if path is not None and path.is_file():
            boxes = self._read(path, digest)
            if boxes is not None:
                self.stats["cached"] += 1
                return boxes[: self.max_proposals]
        t = time.perf_counter()
        boxes = selective_search(pixels, self.settings)
        self.stats["seconds"] += time.perf_counter() - t
        self.stats["computed"] += 1
        if path is not None:
            self._write(path, digest, boxes)
        return boxes[: self.max_proposals]

    def tensor(self, image):
        """Proposals of a (3, H, W) image tensor as a float tensor on its device."""
        import torch

        return torch.as_tensor(self(image), dtype=image.dtype if image.dtype.is_floating_point else torch.float32,
                               device=image.device)

    def precompute(self, records, log: Callable[[str], None] | None = print, every: float = 30.0) -> dict:
        """Proposals for every readable image of ``records`` (DetectionRecords) into the cache, with
        progress lines; returns {images, computed, cached, seconds, seconds_per_image, per_image, recall50}."""
        from benthos.data.images import load_image

        n, t0, last, counts, props, gts = len(records), time.monotonic(), time.monotonic(), [], [], []
        before = dict(self.stats)
        for i, r in enumerate(records):
            try:
                im = load_image(r.image_path)
            except BenthosError:
                continue  # the training loop reports unreadable frames
            p = self(im)
            counts.append(len(p))
            sx, sy = im.size[0] / r.width, im.size[1] / r.height
            props.append(p)
            gts.append(np.asarray(r.boxes, np.float32).reshape(-1, 4) * np.array([sx, sy, sx, sy], np.float32))
            now = time.monotonic()
            if log and (now - last >= every or i + 1 == n) and self.stats["computed"] > before["computed"]:
                done = self.stats["computed"] - before["computed"]
                per = (self.stats["seconds"] - before["seconds"]) / max(done, 1)
                log(f"proposals: {i + 1}/{n} images ({per:.1f} s per image searched, "
                    f"{self.stats['cached'] - before['cached']} from the cache)")
                last = now
        computed = self.stats["computed"] - before["computed"]
        out = {"images": len(counts), "computed": computed, "cached": self.stats["cached"] - before["cached"],
               "seconds": round(time.monotonic() - t0, 1),
               "seconds_per_image": (self.stats["seconds"] - before["seconds"]) / computed if computed else None,
               "per_image": float(np.mean(counts)) if counts else 0.0,
               "recall50": proposal_recall(props, gts, 0.5)}
        if log:
            spi = f", {out['seconds_per_image']:.1f} s per image searched" if computed else ""
            log(f"proposals: {out['images']} images, {out['per_image']:.0f} per image, recall {out['recall50']:.2f} "
                f"at IoU 0.5 ({computed} searched{spi}, {out['cached']} from the cache {self.cache})")
        return out


def make_provider(max_proposals: int | None = None, side: int | None = None, k: int | None = None,
                  min_size: float | None = None) -> SelectiveSearch:
    """The proposal provider of a detector's builder options (None: the :class:`ProposalSettings` default).

    Refuses early, in one line, when OpenCV contrib is missing, before any training starts."""
    ximgproc()
    given = {"side": side, "k": k, "min_size": min_size}
    return SelectiveSearch(ProposalSettings(**{n: v for n, v in given.items() if v is not None}),
                           max_proposals=2000 if max_proposals is None else max_proposals)
