"""Opening images safely: any mode to RGB, EXIF orientation, a decompression-bomb limit.

Every reader and the torch dataset open images through :func:`load_image`, so a
truncated JPEG, a zero-byte file or a 16-bit TIFF is handled the same way everywhere:
converted faithfully where possible, otherwise a :class:`DataError` naming the file.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from benthos.errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}

# Pillow's default (~89 Mpx). Large orthomosaics should be tiled first rather than
# decoded whole; raise this module attribute deliberately if you really need more.
MAX_PIXELS = 89_478_485

_READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def find_images(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The image files among ``paths`` (one path or several): a file is taken as given, a folder is
    searched recursively (sorted; hidden files and folders left out). Every command that takes
    "images or folders" lists them here, so all of them see the same files.
    Raises DataError for a path that does not exist, or when no image is found."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if is_image_file(f) and f.is_file()
                          and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not out:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found in {', '.join(map(str, paths))}")
    return out


def _open(path: Path) -> Image.Image:
    """Open lazily (header only) with our own pixel limit; raise DataError on failure."""
    try:
        if os.path.getsize(path) == 0:
            raise DataError(f"{path}: the file is empty (0 bytes). Re-copy it or remove it.")
    except FileNotFoundError:
        raise DataError(f"{path}: no such image file. Check the path or the --images folder.") from None
    try:
        with warnings.catch_warnings():
            # we apply our own limit below; Pillow's warning band would only add noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read (corrupt or unknown format). "
                        "Re-export it as JPEG/PNG or remove it.") from None
    except Image.DecompressionBombError:
        raise DataError(f"{path}: image is too large (decompression-bomb limit {MAX_PIXELS:,} pixels). "
                        "Tile it first, or raise benthos.data.images.MAX_PIXELS if you trust it.") from None
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot open image ({exc}). Replace or remove the file.") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise DataError(f"{path}: image is {w}x{h} = {w * h:,} pixels, over the decompression-bomb limit "
                        f"{MAX_PIXELS:,}. Tile it first, or raise benthos.data.images.MAX_PIXELS if you trust it.")
    return im


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading only the header."""
    with _open(Path(path)) as im:
        return _oriented_size(im)


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block should not make the image unusable
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB without clipping high-bit-depth data."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        # 16-bit: keep the full-scale mapping so brightness means the same across images;
        # 32-bit int/float have no fixed scale, so stretch to the image's own range
        if im.mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # palette transparency must go through RGBA to be dropped cleanly
    return im.convert("RGB")


def load_image(path: str | os.PathLike, min_side: int | None = None) -> Image.Image:
    """Open an image fully decoded as RGB: EXIF-rotated, any mode converted, bomb-limited.

    ``min_side``: the caller only needs this many pixels on each side, so a large JPEG may be
    decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, Pillow's ``draft``) as long as both
    sides stay >= ``min_side``: a 12-megapixel photo decodes ~4x faster. Other formats and
    smaller JPEGs are decoded whole.
    Raises DataError (naming the file) for missing, empty, corrupt or truncated files.
    """
    path = Path(path)
    im = _open(path)
    try:
        with im:
            if min_side and im.format == "JPEG" and min(im.size) >= 2 * min_side:
                im.draft("RGB", (min_side, min_side))
            im.load()  # decode now, so truncation surfaces here and not mid-epoch
            im = ImageOps.exif_transpose(im)
            return to_rgb(im)
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot decode image ({exc}); the file is probably truncated or corrupt. "
                        "Replace or remove it.") from None


def check_image(path: str | os.PathLike) -> tuple[int, int]:
    """Validate one image cheaply (header + a reduced decode); return (width, height).

    JPEGs are decoded at 1/8 scale via ``draft``: still reads the whole stream, so
    truncation is caught, at a fraction of the cost. Raises DataError.
    """
    path = Path(path)
    im = _open(path)
    try:
        with im:
            size = _oriented_size(im)
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot decode image ({exc}); the file is probably truncated or corrupt. "
                        "Replace or remove it.") from None
    return size


def crop_padded(im: Image.Image, box: tuple[float, float, float, float], pad: str = "mean") -> Image.Image:
    """Cut ``box`` (x0, y0, x1, y1) from ``im``; parts outside the image are filled.

    ``pad="mean"`` fills with the image's mean colour (less of an edge for the network
    to latch on to than black), ``pad="zero"`` with black.
    """
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    w, h = im.size
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return im.crop((x0, y0, x1, y1))
    fill = tuple(int(round(v)) for v in ImageStat.Stat(im).mean) if pad == "mean" else (0, 0, 0)
    out = Image.new("RGB", (x1 - x0, y1 - y0), fill)
    inner = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
    if inner[2] > inner[0] and inner[3] > inner[1]:
        out.paste(im.crop(inner), (inner[0] - x0, inner[1] - y0))
    return out
