"""Splitting a long prediction job over machines: ``--shard I/N`` picks share I of N of the photos.

Shares are chosen per photo by a hash of its folder and file name, so every machine given the
same inputs puts a photo in the same share whatever else it can list or read, and wherever the
survey is mounted. ``benthos ecology merge`` joins the shares' CSVs, ``benthos detect merge``
a detector's share folders; both check that every share is there once (:func:`check_complete`).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from benthos.errors import BenthosError, DataError


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


SHARE_DIR = re.compile(r"^shard_(\d+)of(\d+)$")  # the folder `detect predict --shard I/N` writes into


def check_all_shares(paths: list[str | os.PathLike]) -> None:
    """Files named as `--shard I/N` names them (``*_IofN.csv``, or any file in a ``shard_IofN`` folder):
    all N shares, once each. Only the file's own name and its folder's count, not the path above
    (a survey leg called ``leg_2of5`` is no share)."""
    found = [re.search(r"_(\d+)of(\d+)\.csv$", Path(p).name) or SHARE_DIR.match(Path(p).parent.name) for p in paths]
    if all(found):
        check_complete([(int(m.group(1)), int(m.group(2))) for m in found])


def check_complete(shares: list[tuple[int, int]]) -> None:
    """Shares (I, N), e.g. as recorded in the files: all N shares of one split, once each."""
    totals = {n for _, n in shares}
    if len(totals) > 1:
        raise DataError(f"these files are shares of different splits ({', '.join(f'of {n}' for n in sorted(totals))}): "
                        "merge the N shares of one job")
    n, have = totals.pop(), [i for i, _ in shares]
    twice = sorted({i for i in have if have.count(i) > 1})
    if twice:
        raise DataError(f"share(s) {', '.join(map(str, twice))} of {n} given more than once")
    missing = sorted(set(range(1, n + 1)) - set(have))
    if missing:
        raise DataError(f"share(s) {', '.join(map(str, missing))} of {n} are missing from the files given: "
                        "merge every share (or rename the files if this is intended)")
