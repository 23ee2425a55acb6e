"""Classification readers: image folders, CSV manifests, and the dispatching loader.

Each reader returns ``(samples, issues)``; :func:`load_classification` adds the image
check, the per-class minimum and the ``on_error`` policy so every format behaves alike.
Image paths named in a manifest, a COCO file or a CoralNet export must lie inside the data
folder unless ``allow_outside=True`` (:mod:`benthos.data.files`).
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from benthos.data import regions
from benthos.data.files import is_file, outside_problem, read_text
from benthos.data.images import check_image, is_image_file
from benthos.data.issues import DataIssue, check_on_error, raise_if_stopping
from benthos.data.samples import ClassificationData, Sample
from benthos.errors import DataError

FORMATS = ("folder", "csv", "coco", "coralnet")


def read_folder(root: Path) -> tuple[list[Sample], list[DataIssue]]:
    """One sub-folder per class; images are found recursively inside each class folder."""
    samples: list[Sample] = []
    issues: list[DataIssue] = []
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root}: no class sub-folders. Expected one folder per taxon, e.g. "
                        f"{root}/starfish/*.jpg, {root}/sponge/*.jpg.")
    for d in class_dirs:
        files = sorted(p for p in d.rglob("*") if p.is_file() and is_image_file(p)
                       and not any(part.startswith(".") for part in p.relative_to(d).parts))
        if not files:
            issues.append(DataIssue(str(d), None, f"class folder '{d.name}' has no images", "skipped", "empty_class"))
        samples += [Sample(p, d.name) for p in files]
    return samples, issues


def _csv_rows(path: Path, what: str) -> list[list[str]]:
    """All rows of a UTF-8 CSV, or a DataError naming the file (and line) that cannot be read."""
    reader = csv.reader(io.StringIO(read_text(path, what), newline=""))
    try:
        return list(reader)
    except csv.Error as exc:  # a NUL byte, a field over the csv module's size limit
        raise DataError(f"{path}:{reader.line_num}: cannot be read as CSV ({exc}).") from None


def read_manifest(csv_path: Path, *, allow_outside: bool = False) -> tuple[list[Sample], list[DataIssue]]:
    """A CSV with a header ``path,label[,group]``; paths are relative to the CSV's folder, and
    must lie inside it unless ``allow_outside``."""
    samples: list[Sample] = []
    issues: list[DataIssue] = []
    rows = _csv_rows(csv_path, "manifest")
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "path" not in header or "label" not in header:
        raise DataError(f"{csv_path}:1: a manifest needs a header row with 'path' and 'label' "
                        f"(optionally 'group'); found {rows[0][:10] if rows else 'an empty file'}.")
    ip, il = header.index("path"), header.index("label")
    ig = header.index("group") if "group" in header else None
    need = max(ip, il) + 1  # group is optional even when the column exists
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < need or not row[ip].strip() or not row[il].strip():
            issues.append(DataIssue(str(csv_path), n, f"row has missing columns or empty path/label: {row[:10]}",
                                    "skipped", "bad_row"))
            continue
        p = Path(row[ip].strip())
        p = p if p.is_absolute() else csv_path.parent / p
        outside = outside_problem(p, [csv_path.parent], allow_outside)
        if outside:
            issues.append(DataIssue(str(csv_path), n, outside, "skipped", "outside_folder"))
            continue
        if not is_file(p):
            issues.append(DataIssue(str(csv_path), n, f"image {p} does not exist", "skipped", "missing_file"))
            continue
        group = (row[ig].strip() or None) if ig is not None and ig < len(row) else None
        samples.append(Sample(p, row[il].strip(), group, None, {"line": n}))
    return samples, issues


def _outside_samples(samples: list[Sample], roots: list[Path], allow_outside: bool,
                     source: Path) -> tuple[list[Sample], list[DataIssue]]:
    """Samples whose image lies outside ``roots`` left out, one issue per image."""
    keep, issues, seen = [], [], set()
    for s in samples:
        problem = outside_problem(s.path, roots, allow_outside, source)
        if problem is None:
            keep.append(s)
        elif s.path not in seen:
            seen.add(s.path)
            issues.append(DataIssue(str(source), s.meta.get("line"), problem, "skipped", "outside_folder"))
    return keep, issues


def detect_format(path: Path) -> str:
    """Recognise a folder, a CSV manifest, a CoralNet CSV or a COCO JSON."""
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "coco"
    if suffix == ".csv":
        header = {c.strip().lower() for c in regions.csv_header(path)}
        if regions.is_coralnet_header(header):  # Label code (CoralNet's export) or Label
            return "coralnet"
        if {"path", "label"} <= header:
            return "csv"
        raise DataError(f"{path}:1: cannot tell what this CSV is. A manifest has columns 'path,label[,group]'; "
                        f"a CoralNet export has 'Name,Row,Column,Label code'. Found: {sorted(header)}.")
    raise DataError(f"{path}: not a folder, .csv or .json. Pass format= (--format) one of {', '.join(FORMATS)}.")


def load_classification(path: str | os.PathLike, format: str | None = None, images: str | os.PathLike | None = None,
                        *, on_error: str = "skip", check_images: bool = True, min_per_class: int = 1,
                        margin: float = 0.1, patch_size: int = 224, min_box: float = 1.0,
                        allow_outside: bool = False) -> ClassificationData:
    """Read a classification dataset from a folder, CSV manifest, COCO JSON or CoralNet CSV.

    ``images`` is the image folder for COCO/CoralNet (default: ``images/`` next to the
    file, else the file's own folder). ``margin`` widens COCO boxes by that fraction of
    their size for context; ``patch_size`` is the CoralNet patch side in pixels.
    ``check_images`` decodes every file once so nothing fails mid-epoch. Problems are
    recorded in ``.issues`` and skipped, or raised together with ``on_error="stop"``.
    ``allow_outside``: take images that a manifest, COCO file or CoralNet export names outside
    its own folder and ``images`` (by default each is skipped and named).
    """
    check_on_error(on_error)
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if format is None:
        format = detect_format(path)
    elif format not in FORMATS:
        raise DataError(f"format={format!r} is not known; use one of {', '.join(FORMATS)}.")
    img_dir = Path(images).expanduser().resolve() if images is not None else None
    if img_dir is not None and not img_dir.is_dir():
        raise DataError(f"{img_dir}: the images folder does not exist.")
    try:
        if format == "folder":
            samples, issues = read_folder(path)
        elif format == "csv":
            samples, issues = read_manifest(path, allow_outside=allow_outside)
        elif format == "coco":
            samples, issues = regions.read_coco_crops(path, img_dir, margin=margin, min_box=min_box,
                                                      allow_outside=allow_outside)
        else:
            samples, issues = regions.read_coralnet(path, img_dir, patch_size=patch_size)
            # read_coralnet takes every Name as given; the same rule as the other readers applies here
            samples, outside = _outside_samples(samples, [p for p in (img_dir, path.parent) if p is not None],
                                                allow_outside, path)
            issues += outside
    except (NotADirectoryError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as format '{format}' ({exc}).") from None
    if check_images:
        samples, bad = _check_files(samples)
        issues += bad
    samples, rare = _drop_rare(samples, min_per_class, path)
    issues += rare
    raise_if_stopping(issues, on_error, path)
    if not samples:
        raise DataError(f"{path}: no usable samples ({len(issues)} issue(s), first: "
                        f"{issues[0] if issues else 'none'}).")
    return ClassificationData(samples, sorted({s.label for s in samples}), issues, format)


def _check_files(samples: list[Sample]) -> tuple[list[Sample], list[DataIssue]]:
    """Decode each distinct file once; drop the samples of files that fail."""
    bad: dict[Path, str] = {}
    for p in dict.fromkeys(s.path for s in samples):
        try:
            check_image(p)
        except DataError as exc:
            bad[p] = str(exc)
    issues = []
    for p, msg in bad.items():
        n = sum(s.path == p for s in samples)
        issues.append(DataIssue(str(p), None, msg.removeprefix(f"{p}: "),
                                f"skipped ({n} sample{'s' if n != 1 else ''})" if n > 1 else "skipped",
                                "unreadable"))
    return [s for s in samples if s.path not in bad], issues


def _drop_rare(samples: list[Sample], min_per_class: int, source: Path) -> tuple[list[Sample], list[DataIssue]]:
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.label] = counts.get(s.label, 0) + 1
    rare = {c for c, n in counts.items() if n < min_per_class}
    issues = [DataIssue(str(source), None, f"class '{c}' has {counts[c]} sample(s), fewer than "
                        f"min_per_class={min_per_class}", "dropped", "rare_class") for c in sorted(rare)]
    return [s for s in samples if s.label not in rare], issues
