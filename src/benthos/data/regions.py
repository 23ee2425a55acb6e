"""Classification samples cut from annotations: COCO boxes and CoralNet points.

Nothing is cut to disk: each :class:`Sample` carries a ``box`` that the dataset cuts
when it loads the image. ``group`` is the source photograph, so a split never puts
two regions of one photograph on both sides.
"""
from __future__ import annotations

import csv
import json
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
                    min_box: float = 1.0) -> tuple[list[Sample], list[DataIssue]]:
    """One sample per COCO box, widened by ``margin`` x box size on each side for context."""
    with open(json_path, encoding="utf-8") as fh:
        coco = json.load(fh)
    if not isinstance(coco, dict) or not all(k in coco for k in ("images", "annotations", "categories")):
        raise DataError(f"{json_path}: not a COCO file (needs 'images', 'annotations' and 'categories' lists).")
    img_dir = default_image_dir(json_path, images)
    src = str(json_path)
    cats = {c["id"]: str(c["name"]) for c in coco["categories"]}
    imgs = {im["id"]: im for im in coco["images"]}
    issues: list[DataIssue] = []
    missing: set = set()
    samples: list[Sample] = []
    for k, ann in enumerate(coco["annotations"]):
        where = f"annotation {ann.get('id', k)}"
        im = imgs.get(ann.get("image_id"))
        if im is None:
            issues.append(DataIssue(src, None, f"{where}: unknown image_id {ann.get('image_id')}", "skipped", "bad_ref"))
            continue
        if ann.get("category_id") not in cats:
            issues.append(DataIssue(src, None, f"{where}: unknown category_id {ann.get('category_id')}",
                                    "skipped", "bad_ref"))
            continue
        path = img_dir / im["file_name"]
        if im["id"] in missing:
            continue
        if not path.is_file():
            missing.add(im["id"])
            issues.append(DataIssue(str(path), None, f"image listed in {json_path.name} does not exist "
                                    f"(looked in {img_dir}; pass images=/--images)", "skipped", "missing_file"))
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            issues.append(DataIssue(src, None, f"{where}: bbox is not [x, y, w, h]", "skipped", "bad_box"))
            continue
        W, H = im.get("width"), im.get("height")
        if not W or not H:
            W, H = image_size(path)
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, W), min(y + h, H)
        if x1 - x0 < min_box or y1 - y0 < min_box:
            issues.append(DataIssue(src, None, f"{where}: box {[x, y, w, h]} is empty, smaller than {min_box} px "
                                    f"or outside the {W}x{H} image", "skipped", "bad_box"))
            continue
        if (x0, y0, x1, y1) != (x, y, x + w, y + h):
            issues.append(DataIssue(src, None, f"{where}: box {[x, y, w, h]} extends past the {W}x{H} image",
                                    "clipped", "clipped_box"))
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        samples.append(Sample(path, cats[ann["category_id"]], str(im["file_name"]),
                              (x0 - mx, y0 - my, x1 + mx, y1 + my), {"annotation_id": ann.get("id", k)}))
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
