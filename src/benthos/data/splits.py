"""Seeded, stratified, grouped train/val/test splits, and their JSON record.

Groups (the source photograph of crops and points, or a manifest's group column) never
straddle splits: patches of one photograph on both sides would leak the photograph's
background, light and camera into the test score. Within that constraint each class
is spread over the splits in the requested proportions, greedily, like scikit-learn's
StratifiedGroupKFold: groups are placed rarest-class first, each into the split whose
per-class quota is least filled.
"""
from __future__ import annotations

import json
import os
import random
from collections import Counter, defaultdict
from pathlib import Path

from benthos.data.samples import Sample
from benthos.errors import DataError
from benthos.runs.atomic import atomic_write_json

DEFAULT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def split_samples(samples: list[Sample], fractions: dict[str, float] | None = None, seed: int = 0,
                  grouped: bool = True, rare: str = "error") -> dict[str, list[int]]:
    """Indices into ``samples`` for each split name, stratified by label, seeded.

    With ``grouped`` samples sharing ``group`` land in one split (samples without a
    group are their own group). A class with fewer groups than non-empty splits cannot
    be stratified: ``rare="error"`` raises a DataError naming it, ``rare="train"`` puts
    all of it in the first split.
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if not fractions or any(f < 0 for f in fractions.values()) or sum(fractions.values()) <= 0:
        raise DataError(f"split fractions {fractions} must be non-negative and sum to more than 0.")
    if rare not in ("error", "train"):
        raise DataError(f"rare={rare!r}: use 'error' or 'train'.")
    total = sum(fractions.values())
    names = list(fractions)
    frac = {k: v / total for k, v in fractions.items()}
    active = [k for k in names if frac[k] > 0]

    members: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        key = s.group if grouped and s.group is not None else f"\0{i}"  # \0: cannot clash with a real group
        members[key].append(i)
    group_counts = {g: Counter(samples[i].label for i in idx) for g, idx in members.items()}
    groups_per_class = Counter(c for cnt in group_counts.values() for c in cnt)

    out: dict[str, list[int]] = {k: [] for k in names}
    too_few = sorted(c for c, n in groups_per_class.items() if n < len(active))
    if too_few and rare == "error":
        unit = "photographs/groups" if grouped else "samples"
        detail = ", ".join(f"'{c}' ({groups_per_class[c]})" for c in too_few)
        raise DataError(f"cannot stratify: class(es) {detail} have fewer {unit} than the {len(active)} splits "
                        f"{active}. Add images, merge or drop these classes (min_per_class=), use fewer "
                        "splits, or pass rare='train' to keep them in training only.")
    rare_groups = {g for g, cnt in group_counts.items() if any(c in too_few for c in cnt)}
    for g in rare_groups:
        out[active[0]].extend(members[g])

    class_total = Counter(s.label for s in samples)
    target = {k: {c: frac[k] * n for c, n in class_total.items()} for k in active}
    filled = {k: Counter() for k in active}
    rng = random.Random(seed)
    order = [g for g in members if g not in rare_groups]
    rng.shuffle(order)
    # rarest class first so small classes get spread before big groups fill the quotas
    order.sort(key=lambda g: (min(groups_per_class[c] for c in group_counts[g]), -len(members[g])))
    for g in order:
        cnt = group_counts[g]
        size = sum(cnt.values())

        def need(k: str) -> float:  # how unfilled split k is for this group's classes, 1 = empty
            return sum(n * (target[k][c] - filled[k][c]) / max(target[k][c], 1e-9) for c, n in cnt.items()) / size

        best = max(active, key=lambda k: (need(k), frac[k]))
        filled[best].update(cnt)
        out[best].extend(members[g])
    return {k: sorted(v) for k, v in out.items()}


def save_split(path: str | os.PathLike, samples: list[Sample], split: dict[str, list[int]], **meta) -> Path:
    """Write the split as JSON: per split, the indices and each sample (path, label, group, box)."""
    doc = {"format": "benthos-split/1", **meta,
           "splits": {k: {"indices": list(idx), "samples": [samples[i].to_dict() for i in idx]}
                      for k, idx in split.items()}}
    return atomic_write_json(path, doc)


def read_split_file(path: str | os.PathLike, kind: str = "a split file written by save_split",
                    hint: str = "") -> dict:
    """The JSON document of a split written by :func:`save_split`, read once; a clear DataError when it
    is missing or is not a JSON object (its ``splits`` are checked by :func:`load_split` and
    :func:`load_split_indices`). ``kind`` names the file in the message, ``hint`` ends it (what to do)."""
    path = Path(path)
    end = f"; {hint}." if hint else "."
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such split file{end}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not {kind} ({exc}){end}") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}: not {kind} (not a JSON object){end}")
    return doc


def load_split(path: str | os.PathLike, doc: dict | None = None) -> dict[str, list[Sample]]:
    """Read a split written by :func:`save_split`: split name -> samples (``doc``: the file already read)."""
    doc = read_split_file(path) if doc is None else doc
    try:
        return {k: [Sample.from_dict(d) for d in v["samples"]] for k, v in doc["splits"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{path}: not a split file written by save_split ({exc}).") from None


def split_meta(path: str | os.PathLike, doc: dict | None = None) -> dict:
    """What :func:`save_split` recorded beside the splits (seed, members, added_total, ...); {} when unreadable."""
    if doc is None:
        try:
            doc = read_split_file(path)
        except DataError:
            return {}
    return {k: v for k, v in doc.items() if k != "splits"}


def check_split(path: str | os.PathLike, samples: list[Sample], reused: bool = False,
                doc: dict | None = None) -> dict[str, list[int]]:
    """The indices per split recorded in ``path`` (as :func:`load_split_indices`), refusing a split
    file written for other data: every recorded index must hold the same photo, region and label
    in ``samples`` (the data read again when a run is resumed, or when ``reused`` with ``--split``).
    ``doc``: the file already read (:func:`read_split_file`)."""
    path = Path(path)
    doc = read_split_file(path) if doc is None else doc
    recorded, indices = load_split(path, doc), load_split_indices(path, doc)
    for name, idx in indices.items():
        for i, want in zip(idx, recorded[name]):
            have = samples[i] if 0 <= i < len(samples) else None
            if have is None or have.label != want.label or have.box != want.box \
                    or os.path.abspath(have.path) != os.path.abspath(want.path):
                now = f"{have.path} '{have.label}'" if have is not None else f"no item (the data has {len(samples)})"
                was = f"item {i} of its {name} split was {want.path} '{want.label}', it is now {now}"
                if reused:
                    raise DataError(f"{path}: this split was made for other data: {was}. --split reuses a split on "
                                    "the data (and --add files) it was made with; leave --split out to split this "
                                    "data afresh")
                raise DataError(f"{path}: the data changed since this run started: {was}. Resuming needs the same data "
                                "(and --add files) as the run was started with; start a new run (--out) to train on "
                                "the new data")
    return indices


def load_split_indices(path: str | os.PathLike, doc: dict | None = None) -> dict[str, list[int]]:
    """The indices per split recorded by :func:`save_split` (``doc``: the file already read)."""
    doc = read_split_file(path) if doc is None else doc
    try:
        return {k: [int(i) for i in v["indices"]] for k, v in doc["splits"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{path}: not a split file written by save_split ({exc}).") from None


def save_image_split(path: str | os.PathLike, paths: list[str], split: dict[str, list[int]], **meta) -> Path:
    """A split of whole images (a detector's): the same file format as :func:`save_split`, each part
    listing its images' indices and (absolute) paths."""
    doc = {"format": "benthos-split/1", **meta,
           "splits": {k: {"indices": list(idx), "samples": [{"path": os.path.abspath(paths[i])} for i in idx]}
                      for k, idx in split.items()}}
    return atomic_write_json(path, doc)


def split_paths(path: str | os.PathLike, doc: dict | None = None, kind: str = "a run's split.json",
                hint: str = "") -> dict[str, list[str]]:
    """The image paths of each part of a split file, as listed (a part may list one image more than
    once: one entry per sample). Reads the files of :func:`save_split` and :func:`save_image_split`, and
    detector runs' split.json of before both used that format (``{"train": [paths], "val": [paths]}``).
    Anything else is a DataError naming the file (``kind``) and ending with ``hint``."""
    doc = read_split_file(path, kind, hint) if doc is None else doc
    end = f"; {hint}." if hint else "."
    if "splits" in doc:
        parts = doc["splits"]
        try:
            out = {k: [s["path"] for s in v["samples"]] for k, v in parts.items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: not {kind} (its 'splits' lack sample paths: {exc!r}){end}") from None
    else:
        out = {k: v for k, v in doc.items() if k in ("train", "val", "test")}
        if not out:
            raise DataError(f"{path}: not {kind} (no 'splits', nor lists of image paths under 'train' and 'val'){end}")
    if not all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in out.values()):
        raise DataError(f"{path}: not {kind} (each part must list image paths){end}")
    return out
