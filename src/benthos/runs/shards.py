"""Splitting a long prediction job over machines: ``--shard I/N`` picks share I of N of the photos.

Shares are chosen per photo by a hash of its folder and file name, so every machine given the
same inputs puts a photo in the same share whatever else it can list or read, and wherever the
survey is mounted. ``benthos ecology merge`` joins the shares' CSVs, ``benthos detect merge``
a detector's share folders; both check that every share is there once (:func:`check_shares`).
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


def check_shares(paths: list[str | os.PathLike], recorded: list[tuple[int, int] | None]) -> None:
    """All N shares once each: by what each file records it is (``recorded``, None where a file records
    nothing), whatever it is called now; when any file records nothing, by the files' names."""
    if all(recorded):
        check_complete(recorded)
    else:
        check_all_shares(paths)


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


# -- what a predictions CSV is: a JSON sidecar beside it ---------------------------------------
RECORD_SUFFIX = ".json"  # predictions_2of8.csv -> predictions_2of8.csv.json
SAME_MODEL = ("weights_sha256", "tta", "temperature", "points")  # settings every share of one job shares


def record_path(csv_path: str | os.PathLike) -> Path:
    return Path(str(csv_path) + RECORD_SUFFIX)


def forget_record(csv_path: str | os.PathLike) -> None:
    """Remove the record of an earlier file at ``csv_path`` (its new one is written with the file)."""
    import contextlib

    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        record_path(csv_path).unlink()


def read_record(csv_path: str | os.PathLike) -> dict | None:
    """The sidecar `benthos predict` wrote beside ``csv_path`` (None for files without one: older
    files, detections, CSVs from elsewhere). A sidecar that cannot be read is an error naming it."""
    import json

    path = record_path(csv_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the record of {Path(csv_path).name} ({exc}); "
                        "delete it to merge the file by its name only, or predict that share again") from None
    return record


def check_same_job(paths: list[str | os.PathLike], records: list[dict | None], keys: tuple[str, ...] = SAME_MODEL) -> None:
    """Refuse files whose records say another model or other settings than the first recorded one.

    ``keys``: what every share of one job shares; a key one of the two records lacks (an older
    file) is not compared. The model's digest, or its size where a record has no digest, tells
    "another model" from "other settings".
    """
    def settings(r: dict | None) -> dict | None:
        if not r:
            return r
        r = dict(r)
        if isinstance(r.get("points"), dict):  # where a points CSV lies differs between machines: not a setting
            r["points"] = {k: v for k, v in r["points"].items() if k != "csv"}
        if r.get("tile", 0) is None:  # the overlap of no tiles is no setting
            r.pop("tile_overlap", None)
        return r

    def short(key: str, value):  # a digest's first 12 hex digits tell two apart
        return value[:12] if key == "weights_sha256" and isinstance(value, str) else value

    records = [settings(r) for r in records]
    ref = next(((p, r) for p, r in zip(paths, records) if r), None)
    if ref is None:
        return
    ref_path, ref_rec = ref
    for p, r in zip(paths, records):
        if not r or r is ref_rec:
            continue
        differ = [k for k in keys if k in r and k in ref_rec and r[k] != ref_rec[k] and _compared(k, r, ref_rec)]
        if differ:
            what = "another model" if {"weights_sha256", "weights_bytes"} & set(differ) else "other settings"
            if what == "another model" and "run" in r and "run" in ref_rec and r["run"] != ref_rec["run"] \
                    and "run" not in differ:
                differ.append("run")  # which runs the two came from, where recorded
            listed = "; ".join(f"{k} {short(k, r[k])} vs {short(k, ref_rec[k])}" for k in differ)
            raise DataError(f"{p}: predicted with {what} than {ref_path} ({listed}): "
                            "merge the files of one run, predicted with the same options")


def _compared(key: str, a: dict, b: dict) -> bool:
    """Whether two records' ``key`` says something: a weights digest or size left unrecorded (None)
    says nothing, and the size only counts where a digest is missing."""
    if key in ("weights_sha256", "weights_bytes") and (a[key] is None or b[key] is None):
        return False
    return not (key == "weights_bytes" and a.get("weights_sha256") and b.get("weights_sha256"))


def refuse_unfinished(share: str | os.PathLike, journal: Path, command: str) -> None:
    """A share whose journal is still beside it was stopped before it wrote its files: say so."""
    if journal.exists():
        raise DataError(f"{share}: this share is unfinished (its journal {journal.name} is still there): "
                        f"run its `{command} ... --shard` command again to finish it, then merge")
