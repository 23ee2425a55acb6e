"""Helpers that write small test images (good and bad) with PIL into tmp_path."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image


def write_image(path: Path, size=(32, 24), color=(200, 60, 30), mode="RGB", fmt=None, **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, fmt, **save)
    return path


def write_truncated_jpeg(path: Path, size=(64, 48)) -> Path:
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noise).save(path, "JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_png_bomb(path: Path, width=100_000, height=100_000) -> Path:
    """A tiny PNG whose header claims a huge size (what a decompression bomb looks like at open)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def mk():
    """``mk.image(path, ...)``, ``mk.truncated(path)``, ``mk.bomb(path)``: write test files."""
    return SimpleNamespace(image=write_image, truncated=write_truncated_jpeg, bomb=write_png_bomb)
