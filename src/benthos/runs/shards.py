"""Splitting a long prediction job over machines: ``--shard I/N`` picks share I of N of the photos.

Shares are chosen per photo by a hash of its folder and file name, so every machine given the
same inputs puts a photo in the same share whatever else it can list or read, and wherever the
survey is mounted. ``benthos ecology merge`` joins the shares' CSVs.
"""
from __future__ import annotations

import os
from pathlib import Path

from benthos.errors import BenthosError


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/8' -> (2, 8): the second of eight shares."""
    try:
        i, n = (int(v) for v in spec.split("/"))
        if not 1 <= i <= n:
            raise ValueError
    except ValueError:
        raise BenthosError(f"shard {spec!r}: give I/N with 1 <= I <= N, e.g. 1/4 ... 4/4") from None
    return i, n


def in_share(path: str | os.PathLike, share: tuple[int, int]) -> bool:
    """Whether a photo belongs to share I of N: by a hash of its folder and file name, so every
    machine puts it in the same share whatever else it can list or read, and wherever the survey is mounted."""
    import hashlib

    p = Path(path)  # sha1, not crc32: crc32's low bits barely change between IMG_0001 and IMG_0002
    digest = hashlib.sha1(f"{p.parent.name}/{p.name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % share[1] == share[0] - 1
