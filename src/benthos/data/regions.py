"""Classification samples cut from annotations: COCO boxes and CoralNet points.

Nothing is cut to disk: each :class:`Sample` carries a ``box`` that the dataset cuts
when it loads the image. ``group`` is the source photograph, so a split never puts
two regions of one photograph on both sides.
"""
from __future__ import annotations

import csv
from pathlib import Path

from benthos.data.images import image_size
from benthos.data.issues import DataIssue
from benthos.data.samples import Sample
from benthos.errors import DataError


def default_image_dir(ann_path: Path, images: Path | None) -> Path:
    """The given folder, else ``images/`` next to the annotation file, else its own folder."""
    if images is not None:
        return images
    beside = ann_path.parent / "images"
    return beside if beside.is_dir() else ann_path.parent


def read_coco_crops(json_path: Path, images: Path | None = None, margin: float = 0.1,
                    min_box: float = 1.0, *, allow_outside: bool = False) -> tuple[list[Sample], list[DataIssue]]:
    """One sample per COCO box, widened by ``margin`` x box size on each side for context.

    The boxes are :func:`benthos.data.detection.read_coco`'s, so both read COCO by one set of rules
    (types, duplicate ids, clipping, image folders, ``allow_outside``); boxes smaller than ``min_box``
    pixels after clipping are left out here."""
    from benthos.data.detection import read_coco

    data = read_coco(json_path, images, allow_outside=allow_outside)
    src = str(json_path)
    issues = list(data.issues)
    samples: list[Sample] = []
    for r in data.records:
        for (x0, y0, x1, y1), label, aid in zip(r.boxes.tolist(), r.labels.tolist(), r.annotation_ids):
            if x1 - x0 < min_box or y1 - y0 < min_box:
                issues.append(DataIssue(src, None, f"annotation {aid} (image {r.file_name}): box "
                                        f"{[round(v, 2) for v in (x0, y0, x1, y1)]} is smaller than {min_box} px",
                                        "skipped", "small_box"))
                continue
            mx, my = margin * (x1 - x0), margin * (y1 - y0)
            samples.append(Sample(r.image_path, data.categories[label], r.file_name,
                                  (x0 - mx, y0 - my, x1 + mx, y1 + my), {"annotation_id": aid}))
    return samples, issues


def _column(header: list[str], name: str) -> int:
    return [c.strip().lower() for c in header].index(name)


def read_coralnet(csv_path: Path, images: Path | None = None, patch_size: int = 224,
                  labelled: bool = True, keep=None) -> tuple[list[Sample], list[DataIssue]]:
    """One square patch per CoralNet point (CSV ``Name,Row,Column,Label``, as CoralNet exports).

    Patches reaching past the image edge are padded when cut; points outside the image
    are skipped. ``labelled=False`` (points to classify): the Label column may be missing
    or empty; such samples get the label "". ``keep``: a test on each photo's path; the points
    of photos it rejects are left out silently, their photos not opened (another machine's share).
    """
    img_dir = default_image_dir(csv_path, images)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path}: cannot be read as a UTF-8 CSV ({exc}); save it as 'CSV UTF-8' "
                        "(in a spreadsheet: Save as > CSV UTF-8) and try again") from None
    try:
        cols = [_column(rows[0], n) for n in ("name", "row", "column")]
    except (IndexError, ValueError):
        need = "Name, Row, Column, Label" if labelled else "Name, Row, Column (Label is optional)"
        raise DataError(f"{csv_path}:1: a CoralNet CSV needs the columns {need}.") from None
    try:
        cols.append(_column(rows[0], "label"))
    except ValueError:
        if labelled:
            raise DataError(f"{csv_path}:1: a CoralNet CSV needs the columns Name, Row, Column, Label.") from None
    src = str(csv_path)
    sizes: dict[str, tuple[int, int] | None] = {}
    issues: list[DataIssue] = []
    samples: list[Sample] = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            name, r, c, label = (*(row[i].strip() for i in cols[:3]),
                                 row[cols[3]].strip() if len(cols) > 3 and cols[3] < len(row) else "")
            r, c = float(r), float(c)
            if not name or (labelled and not label):
                raise ValueError
        except (IndexError, ValueError):
            need = "Name, numeric Row/Column and Label" if labelled else "Name and numeric Row/Column"
            issues.append(DataIssue(src, n, f"row needs {need}: {row}", "skipped", "bad_row"))
            continue
        if name not in sizes:
            path = img_dir / name
            sizes[name] = None
            if keep is not None and not keep(path):
                continue
            if not path.is_file():
                issues.append(DataIssue(src, n, f"image {path} does not exist (pass images=/--images); "
                                        "all its points are left out", "skipped", "missing_file"))
            else:
                try:
                    sizes[name] = image_size(path)
                except DataError as exc:
                    why = str(exc).removeprefix(f"{path}: ")  # the issue names the path itself
                    issues.append(DataIssue(str(path), None, f"{why}; all its points are left out",
                                            "skipped", "unreadable"))
        if sizes[name] is None:
            continue
        W, H = sizes[name]
        if not (0 <= r < H and 0 <= c < W):
            issues.append(DataIssue(src, n, f"point (row {r:g}, column {c:g}) is outside {name} ({W}x{H})",
                                    "skipped", "outside_image"))
            continue
        samples.append(point_patch(img_dir / name, label, name, r, c, patch_size, line=n))
    return samples, issues


def point_patch(path: Path, label: str, group: str, row: float, column: float, patch_size: int, **meta) -> Sample:
    """The sample of one point: a square patch of ``patch_size`` centred on it (padded at the
    edges when cut), in split ``group`` (its photo), with ``row``/``column`` (and ``meta``) kept."""
    half = patch_size / 2
    return Sample(path, label, group, (column - half, row - half, column + half, row + half),
                  {"row": row, "column": column, **meta})


def parse_grid(spec: str) -> tuple[int, int]:
    """'5x6' -> (5 rows, 6 columns)."""
    try:
        r, c = (int(v) for v in spec.lower().split("x"))
        if r < 1 or c < 1:
            raise ValueError
    except ValueError:
        raise DataError(f"grid {spec!r}: give ROWSxCOLUMNS, e.g. 5x5") from None
    return r, c


def layout_points(width: int, height: int, name: str, n: int | None = None,
                  grid: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Points (row, column) to classify on a photo without annotations, as CoralNet lays them out:
    ``n`` simple random points (seeded by the file ``name``, so the same photo always gets the
    same points and an interrupted job resumes them) or a uniform ``grid`` of (rows, columns)
    cell centres."""
    import zlib

    import numpy as np

    if grid is not None:
        r, c = grid
        return [(int((i + 0.5) * height / r), int((j + 0.5) * width / c)) for i in range(r) for j in range(c)]
    if not n or n < 1:
        raise DataError(f"points per photo {n!r}: give a whole number >= 1")
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    return list(zip(rng.integers(0, height, n).tolist(), rng.integers(0, width, n).tolist()))


def photo_points(paths: list[Path], patch_size: int, n: int | None = None,
                 grid: tuple[int, int] | None = None) -> tuple[list[Sample], list[DataIssue]]:
    """Patch samples at :func:`layout_points` on each photo (label ""); unreadable photos become issues."""
    samples: list[Sample] = []
    issues: list[DataIssue] = []
    for path in paths:
        try:
            W, H = image_size(path)
        except DataError as exc:
            issues.append(DataIssue(str(path), None, str(exc).removeprefix(f"{path}: "), "skipped", "unreadable"))
            continue
        samples += [point_patch(path, "", path.name, r, c, patch_size) for r, c in layout_points(W, H, path.name, n, grid)]
    return samples, issues
