"""Classification samples cut from annotations: COCO boxes and CoralNet points.

Nothing is cut to disk: each :class:`Sample` carries a ``box`` that the dataset cuts
when it loads the image. ``group`` is the source photograph, so a split never puts
two regions of one photograph on both sides.
"""
from __future__ import annotations

import csv
import io
import os
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


# -- CoralNet ---------------------------------------------------------------------------------
# CoralNet's annotation export: Name, Date, Aux1-Aux5, Height (cm), Latitude, Longitude, Depth,
# Camera, Photographer, Water quality, Strobes, Framing gear used, White balance card, Comments,
# then per point Row, Column and "Label code" (older exports and hand-made files: "Label"), and
# optionally Annotator, Date annotated, Machine suggestion/confidence N. Column names are matched
# without regard to case or surrounding spaces.
CORALNET_LABELS = ("label code", "label")  # the first one present is the label
CORALNET_POINT_COLUMNS = {"name", "row", "column", "label", "label code", "label id", "annotator", "date annotated"}
_POINT_PREFIXES = ("machine suggestion", "machine confidence")


def _norm(name: str) -> str:
    return name.strip().lower()


def _column(header: list[str], name: str) -> int:
    return [_norm(c) for c in header].index(name)


def label_column(header: list[str]) -> int | None:
    """Index of the label column of a CoralNet CSV (``Label code``, else ``Label``), or None."""
    names = [_norm(c) for c in header]
    return next((names.index(n) for n in CORALNET_LABELS if n in names), None)


def is_coralnet_header(header: list[str] | set[str]) -> bool:
    """A CoralNet CSV of labelled points: Name, Row, Column and Label code (or Label)."""
    names = {_norm(c) for c in header}
    return {"name", "row", "column"} <= names and any(n in names for n in CORALNET_LABELS)


def is_point_column(name: str) -> bool:
    """A column that describes one point (its place, label, annotator) rather than the photo."""
    n = _norm(name)
    return n in CORALNET_POINT_COLUMNS or n.startswith(_POINT_PREFIXES)


def read_csv_rows(path: Path, what: str = "CoralNet CSV") -> list[list[str]]:
    """All rows of a CSV in UTF-8 (with or without Excel's byte-order mark).

    Any other encoding is refused, naming the line and the byte: a CSV saved as Latin-1 or
    Windows-1252 decodes without error under either guess, so a wrong guess would silently
    rename labels and photos ("Acrópora" becoming "AcrÃ³pora" splits one class in two); the one
    fix, saving as "CSV UTF-8", is the user's to make, once.
    """
    from benthos.data.files import read_text

    reader = csv.reader(io.StringIO(read_text(path, what), newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: cannot be read as CSV ({exc})") from None


def csv_header(path: Path) -> list[str]:
    """The first row of a CSV (UTF-8, see :func:`read_csv_rows`), or [] for an empty file."""
    rows = read_csv_rows(path, "CSV")
    return rows[0] if rows else []


class PhotoFinder:
    """A CoralNet photo's file under the images folder: ``folder/Name`` when it is there, else the
    one file of that name anywhere below (CoralNet names photos by file name only, while surveys
    keep them in a folder per dive or site). Two files of one name are refused, not guessed."""

    def __init__(self, root: Path):
        self.root = root
        self._index: dict[str, list[Path]] | None = None

    def _build(self) -> dict[str, list[Path]]:
        index: dict[str, list[Path]] = {}
        for folder, dirs, files in os.walk(self.root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in files:
                index.setdefault(f, []).append(Path(folder) / f)
        return index

    def find(self, name: str, where: str) -> Path:
        direct = self.root / name
        if direct.is_file():
            return direct
        if self._index is None:
            self._index = self._build()
        hits = self._index.get(Path(name).name, [])
        if len(hits) > 1:
            listed = ", ".join(str(h.relative_to(self.root)) for h in sorted(hits)[:4])
            raise DataError(f"{where}: photo '{name}' is found {len(hits)} times under {self.root} ({listed}): write its "
                            f"path relative to {self.root} in the Name column, or pass --images with the folder of "
                            "this survey's photos only")
        return hits[0] if hits else direct


def read_coralnet(csv_path: Path, images: Path | None = None, patch_size: int = 224,
                  labelled: bool = True, keep=None, columns: bool = False) -> tuple[list[Sample], list[DataIssue]]:
    """One square patch per CoralNet point (CSV ``Name,Row,Column,Label code``, as CoralNet exports;
    ``Label`` is accepted for the label too).

    Photos are looked for under ``images`` (default: ``images/`` beside the CSV, else its folder),
    in subfolders too (:class:`PhotoFinder`). Patches reaching past the image edge are padded when
    cut; points outside the image are skipped. ``labelled=False`` (points to classify): the label
    column may be missing or empty; such samples get the label "". ``keep``: a test on each photo's
    path; the points of photos it rejects are left out silently, their photos not opened (another
    machine's share). ``columns``: keep CoralNet's other columns (Date, Aux1-Aux5, ...) in each
    sample's ``meta["columns"]``, to carry them into predictions.
    """
    img_dir = default_image_dir(csv_path, images)
    rows = read_csv_rows(csv_path)
    try:
        cols = [_column(rows[0], n) for n in ("name", "row", "column")]
    except (IndexError, ValueError):
        need = "Name, Row, Column, Label code" if labelled else "Name, Row, Column (Label code is optional)"
        raise DataError(f"{csv_path}:1: a CoralNet CSV needs the columns {need}.") from None
    lab = label_column(rows[0])
    if lab is None and labelled:
        raise DataError(f"{csv_path}:1: a CoralNet CSV needs the columns Name, Row, Column, Label code "
                        "(or Label); found " + ", ".join(c.strip() for c in rows[0]) + ".")
    if lab is not None:
        cols.append(lab)
    extra = [(i, c.strip()) for i, c in enumerate(rows[0]) if not is_point_column(c) and c.strip()] if columns else []
    src = str(csv_path)
    finder = PhotoFinder(img_dir)
    sizes: dict[str, tuple[int, int] | None] = {}
    paths: dict[str, Path] = {}
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
            need = "Name, numeric Row/Column and Label code" if labelled else "Name and numeric Row/Column"
            issues.append(DataIssue(src, n, f"row needs {need}: {row}", "skipped", "bad_row"))
            continue
        if name not in sizes:
            path = paths[name] = finder.find(name, f"{csv_path}:{n}")
            sizes[name] = None
            if keep is not None and not keep(path):
                continue
            if not path.is_file():
                issues.append(DataIssue(src, n, f"image {name} was not found in {img_dir} or its subfolders "
                                        "(pass images=/--images); all its points are left out", "skipped", "missing_file"))
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
        more = {"columns": {h: (row[i].strip() if i < len(row) else "") for i, h in extra}} if extra else {}
        samples.append(point_patch(paths[name], label, name, r, c, patch_size, line=n, **more))
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
