"""Which frames train a detector and which are held out: grouped, seeded splits, and the split of an
earlier run reused or looked up (``split.json``, read by :func:`benthos.data.splits.split_paths`)."""
from __future__ import annotations

import os
import random
import re
from collections import defaultdict
from pathlib import Path

from benthos.data.detection import DetectionData
from benthos.data.splits import save_image_split, split_paths
from benthos.errors import ConfigError, DataError

SPLIT = "split.json"


def image_groups(data: DetectionData, pattern: str | None) -> list[str]:
    """The group (dive, video, transect) of every record: the first capture group of ``pattern``
    searched in the image path (the whole match if it has no group); unmatched images are
    their own group."""
    if not pattern:
        return [f"\0{i}" for i in range(len(data.records))]
    rx = re.compile(pattern)
    out = []
    for i, r in enumerate(data.records):
        m = rx.search(r.image_path.as_posix())
        out.append((m.group(1) if rx.groups else m.group(0)) if m else f"\0{i}")
    return out


def split_records(data: DetectionData, val_fraction: float, seed: int, group_pattern: str | None = None,
                  groups: list[str] | None = None) -> dict[str, list[int]]:
    """Seeded split (every record appears once). With ``group_pattern`` whole groups are drawn
    for validation until it holds ``val_fraction`` of the images, so frames of one dive or
    video never sit on both sides (frames of one video look alike: an image split flatters).
    ``groups``: :func:`image_groups` of ``data`` when the caller has them already."""
    groups = groups if groups is not None else image_groups(data, group_pattern)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = list(members)
    random.Random(seed).shuffle(keys)
    if len(keys) < 2:
        if group_pattern and len(data.records) > 1:
            raise ConfigError(f"group_pattern {group_pattern!r} puts all {len(data.records)} images in one group; "
                              "a split needs at least two groups (check the pattern against your file names).")
        return {"train": sorted(range(len(data.records))), "val": []}
    target = max(1, round(len(data.records) * val_fraction))
    val: list[int] = []
    for g in keys[:-1]:  # the last group always trains
        if len(val) >= target:
            break
        if len(val) + len(members[g]) > target * 1.5 and val:
            continue  # a big group would overshoot the fraction; try smaller ones
        val += members[g]
    held = set(val)
    train = [i for i in range(len(data.records)) if i not in held]
    return {"train": sorted(train), "val": sorted(val)}


def save_detection_split(path: str | os.PathLike, data: DetectionData, split: dict[str, list[int]], **meta) -> Path:
    """The run's split.json: each part's images by index into the annotations and by absolute path."""
    return save_image_split(path, [str(r.image_path) for r in data.records], split, **meta)


def match_paths(data: DetectionData, listed: list[str], where: str) -> tuple[list[int], list[str]]:
    """Records of ``data`` named in ``listed``: (indices in listed order, paths not found). A path is
    matched as a file (resolved), else by its file name when exactly one image of ``data`` has that
    name (the data moved); a name shared by several images is refused, not guessed."""
    by_path, by_name = defaultdict(list), defaultdict(list)
    for i, r in enumerate(data.records):
        by_path[os.path.abspath(r.image_path)].append(i)
        by_name[Path(r.image_path).name].append(i)
    found, missing = [], []
    for p in listed:
        exact = by_path.get(os.path.abspath(p))
        hits = exact or by_name.get(Path(p).name, [])
        if not exact and len(hits) > 1:
            raise DataError(f"{where}: {p} is not found as a file, and {len(hits)} images of the annotations "
                            f"have its name (e.g. {data.records[hits[0]].image_path}); its paths may be relative "
                            "to the folder its run was trained from: run from there, or give the annotations "
                            "the run was trained on")
        if not hits:
            missing.append(p)
        found += hits
    return found, missing


def reuse_split(data: DetectionData, path: str | os.PathLike) -> dict[str, list[int]]:
    """The split of an earlier run (its ``split.json``) as indices into ``data``, so a new recipe or seed
    is measured on the same held-out images. Refused with a DataError unless it places every image of
    ``data`` exactly once: a held-out set that silently changed would not compare."""
    path = Path(path)
    hint = "pass the split.json of a detection run trained on these annotations, or leave --split out"
    parts = split_paths(path, kind="a detection run's split.json", hint=hint)
    if not all(k in parts for k in ("train", "val")):
        raise DataError(f"{path}: not a detection run's split.json (it needs the parts 'train' and 'val'); {hint}.")
    split: dict[str, list[int]] = {}
    for k in ("train", "val"):
        twice = next((p for n, p in enumerate(parts[k]) if p in parts[k][:n]), None)
        if twice is not None:
            raise DataError(f"{path}: {twice} is listed twice under '{k}'; {hint}.")
        split[k], missing = match_paths(data, parts[k], str(path))
        if missing:
            raise DataError(f"{path}: {len(missing)} of its {len(parts[k])} {k} image(s) are not in the annotations "
                            f"(e.g. {missing[0]}); the split was made for other data: {hint}.")
    both = set(split["train"]) & set(split["val"])
    if both:
        raise DataError(f"{path}: {len(both)} image(s) are listed under both 'train' and 'val', e.g. "
                        f"{data.records[min(both)].image_path}; {hint}.")
    placed = set(split["train"]) | set(split["val"])
    if len(placed) < len(data.records):
        first = next(r.image_path for i, r in enumerate(data.records) if i not in placed)
        raise DataError(f"{path}: {len(data.records) - len(placed)} image(s) of the annotations are in neither "
                        f"its train nor its val list (e.g. {first}); {hint}.")
    return {k: sorted(set(v)) for k, v in split.items()}


def check_resumed_split(data: DetectionData, out: Path, split: dict[str, list[int]]) -> None:
    """Refuse to resume a run's checkpoint on other training or held-out images than it started with."""
    try:
        started = reuse_split(data, out / SPLIT)
    except DataError as exc:
        raise DataError(f"{out}: cannot resume, its split.json does not fit these annotations ({exc}); "
                        "start a new run (another --out, or --no-resume)") from None
    if started != split:
        raise DataError(f"{out}: this run was started on another split ({len(started['val'])} held-out images, "
                        f"{len(split['val'])} now): resume it with the --split, --seed, --group-pattern and "
                        "--val-fraction it was started with (the same command), or start a new run "
                        "(another --out, or --no-resume)")


def run_split(run: str | os.PathLike, data: DetectionData, part: str = "val") -> DetectionData:
    """The images of ``data`` that the run's split.json lists in ``part`` ("train" or "val"), matched as
    :func:`match_paths` matches them; those the annotations lack are simply not there."""
    path = Path(run) / SPLIT
    parts = split_paths(path, kind="a detection run's split.json",
                        hint="the run folder is damaged; evaluate on all images (--split all)")
    if part not in parts:
        raise DataError(f"{path} has no '{part}' part; evaluate on all images (--split all)")
    found, _ = match_paths(data, parts[part], str(path))
    return data.subset(sorted(set(found)))
