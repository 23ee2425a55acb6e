"""Box annotations: read and write COCO JSON, YOLO txt and Pascal VOC XML.

Every reader returns a :class:`DetectionData` with boxes as absolute ``xyxy`` pixels,
clipped to the image, and labels as 0-based indices into ``categories``. Bad records
never raise mid-way: each is clipped, skipped or ignored and recorded as a
:class:`~benthos.data.issues.DataIssue` naming the file and record. Only a file that
cannot be parsed at all (or a category list that contradicts itself) raises
:class:`~benthos.errors.DataError`.

Values are checked where they enter: a field of the wrong type (a width "wide", a string id, a
bbox ``["10", "10", "20", "20"]``, a NaN) makes its record skipped and named, never a traceback and
never another value. Image files named in an annotation file must lie inside the data folder
(:mod:`benthos.data.files`) unless ``allow_outside=True``; sizes not written in the file are read
from the image header through the safe loader (:func:`benthos.data.images.image_size`).

Layouts:
- COCO: one JSON file; image ``file_name`` is relative to ``images`` (default: the
  JSON's folder, then its ``images/`` sub-folder).
- YOLO: ``DIR/labels/<stem>.txt`` (``class cx cy w h``, normalised) beside
  ``DIR/images/``, classes from ``DIR/classes.txt`` or ``DIR/data.yaml`` (``names``).
  Label files may also sit next to the images.
- VOC: ``DIR/Annotations/*.xml`` (or ``DIR/*.xml``) and ``DIR/JPEGImages/`` (or the
  folder named by ``images``).
"""
from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benthos.data.files import is_file, is_inside, outside_allowed, outside_problem, read_text
from benthos.data.images import IMAGE_EXTENSIONS, image_size
from benthos.data.issues import DataIssue, summarise_issues
from benthos.errors import DataError
from benthos.runs.atomic import atomic_write_json, atomic_write_text

FORMATS = ("coco", "yolo", "voc")
# the order in which a name without its suffix is tried: the common photo formats first
_LOOKUP = sorted(IMAGE_EXTENSIONS, key=lambda e: ((".jpg", ".jpeg", ".png").index(e) if e in (".jpg", ".jpeg", ".png") else 3, e))


@dataclass
class DetectionRecord:
    """One image and its boxes (xyxy absolute pixels, positive area, inside the image)."""

    image_path: Path
    image_id: int
    width: int
    height: int
    boxes: np.ndarray   # (N, 4) float32
    labels: np.ndarray  # (N,) int64, index into DetectionData.categories
    annotation_ids: list[int] | None = None  # COCO: each box's annotation id (its position when it has none)
    file_name: str | None = None             # COCO: the image's file_name as written

    @classmethod
    def example(cls, path: str | os.PathLike = "img.jpg") -> "DetectionRecord":
        return cls(Path(path), 1, 64, 48, np.array([[4, 4, 20, 30]], np.float32), np.array([0], np.int64))


@dataclass
class DetectionData:
    categories: list[str]
    records: list[DetectionRecord]
    issues: list[DataIssue] = field(default_factory=list)
    source: str = ""

    def summary(self) -> dict:
        """Counts for people and for run.json: images, boxes, negatives, per class, issues."""
        per_class = Counter()
        for r in self.records:
            per_class.update(self.categories[i] for i in r.labels.tolist())
        return {
            "images": len(self.records),
            "boxes": int(sum(len(r.boxes) for r in self.records)),
            "negatives": sum(1 for r in self.records if len(r.boxes) == 0),
            "per_class": {c: per_class.get(c, 0) for c in self.categories},
            "issues": dict(Counter(i.kind for i in self.issues)),
        }

    def describe(self) -> str:
        s = self.summary()
        return (f"{s['images']} images ({s['negatives']} without boxes), {s['boxes']} boxes in "
                f"{len(self.categories)} categories; {summarise_issues(self.issues)}")

    def subset(self, indices: list[int]) -> "DetectionData":
        return DetectionData(self.categories, [self.records[i] for i in indices], self.issues, self.source)


# --------------------------------------------------------------------------- helpers

def _image_size(path: Path, where: str, issues: list[DataIssue]) -> tuple[int, int] | None:
    """(width, height) from the header through the safe loader; None (and an issue) when unreadable."""
    try:
        return image_size(path)
    except DataError as exc:
        issues.append(DataIssue(str(path), None, f"{str(exc).removeprefix(f'{path}: ')} (named in {where})",
                                "skipped", "unreadable"))
        return None


def _short(value, limit: int = 60) -> str:
    """repr for a message, cut to one short line."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v) -> float | None:
    """A JSON number as a finite float, else None (strings, booleans, NaN and infinities are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer too large for a float
        return None
    return f if math.isfinite(f) else None


def _pixels(v) -> int | None:
    """A positive whole number of pixels (640 or 640.0), else None."""
    f = _finite(v)
    return int(f) if f is not None and f >= 1 and f.is_integer() else None


def _clean_boxes(boxes: list[list[float]], labels: list[int], width: int, height: int, where: str,
                 issues: list[DataIssue], refs: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Clip to the image, drop boxes with no area left; refs name each record for messages.
    Returns the boxes, their labels and the positions (in ``boxes``) of those kept."""
    keep_b, keep_l, kept = [], [], []
    for k, (box, lab, ref) in enumerate(zip(boxes, labels, refs)):
        x0, y0, x1, y1 = (float(v) for v in box)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            issues.append(DataIssue(where, None, f"{ref}: box {_short(box)} is not finite", "skipped", "bad_record"))
            continue
        if x1 <= x0 or y1 <= y0:
            issues.append(DataIssue(where, None, f"{ref}: box {box} has zero or negative size", "skipped", "empty_box"))
            continue
        c = [min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width), min(max(y1, 0.0), height)]
        if c[2] - c[0] < 1e-3 or c[3] - c[1] < 1e-3:
            issues.append(DataIssue(where, None, f"{ref}: box {box} lies outside the {width}x{height} image", "skipped", "outside_box"))
            continue
        if c != [x0, y0, x1, y1]:
            issues.append(DataIssue(where, None, f"{ref}: box {box} extends past the {width}x{height} image", "clipped", "clipped_box"))
        keep_b.append(c)
        keep_l.append(lab)
        kept.append(k)
    return np.asarray(keep_b, np.float32).reshape(-1, 4), np.asarray(keep_l, np.int64), kept


def _find_image(stem_or_name: str, folders: list[Path], roots: list[Path] | None = None,
                allow_outside: bool = False) -> tuple[Path | None, Path | None]:
    """(image inside ``roots``, or None; an image found only outside them, or None). Without
    ``roots`` every folder searched is a root."""
    roots = folders if roots is None else roots
    outside = None
    for folder in folders:
        p = folder / stem_or_name
        cands = [p] if p.suffix.lower() in IMAGE_EXTENSIONS else []
        cands += [folder / (stem_or_name + suf) for ext in _LOOKUP for suf in (ext, ext.upper())]
        for cand in cands:
            if is_file(cand):
                if outside_allowed(allow_outside) or is_inside(cand, roots):
                    return cand, None
                outside = outside or cand
    return None, outside


# --------------------------------------------------------------------------- COCO

def _load_json(json_path: Path) -> dict:
    if not is_file(json_path):
        raise DataError(f"{json_path}: no such COCO JSON file. Pass the annotations file (e.g. annotations.json).")
    try:
        doc = json.loads(read_text(json_path, "COCO JSON file"))
    except (json.JSONDecodeError, RecursionError) as exc:
        why = exc if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise DataError(f"{json_path}: cannot be read as COCO JSON, not valid JSON ({why}). "
                        "Is this a COCO annotations file?") from None
    if not isinstance(doc, dict) or "images" not in doc or "categories" not in doc:
        raise DataError(f"{json_path}: not a COCO file: it needs an object with 'images' and 'categories' lists "
                        "(and usually 'annotations').")
    for key in ("images", "categories", "annotations"):
        if key in doc and not isinstance(doc[key], list):
            raise DataError(f"{json_path}: '{key}' is {_json_type(doc[key])}, not a list; "
                            "a COCO file lists its images, categories and annotations.")
    return doc


def _json_type(v) -> str:
    return {dict: "an object", str: "a string", bool: "true/false", type(None): "null", list: "a list"}.get(
        type(v), "a number")


def _coco_categories(cats: list, json_path: Path) -> tuple[list[str], dict[int, int]]:
    """Category names in id order and id -> index; a category without an integer id is an error (the
    label space must be right, not partly skipped)."""
    for k, c in enumerate(cats):
        if not isinstance(c, dict):
            raise DataError(f"{json_path}: categories[{k}] is {_json_type(c)}, not an object with 'id' and 'name'.")
        if not _is_int(c.get("id")):
            raise DataError(f"{json_path}: categories[{k}] ({_short(c.get('name', ''))}) has no integer 'id' "
                            f"(found {_short(c.get('id'))}); every category needs one.")
        name = c.get("name", c["id"])
        if isinstance(name, bool) or not isinstance(name, (str, int, float)) or not str(name).strip():
            raise DataError(f"{json_path}: category id {c['id']}: name {_short(name)} is not a name.")
    cats = sorted(cats, key=lambda c: c["id"])
    dup = [i for i, n in Counter(c["id"] for c in cats).items() if n > 1]
    if dup:
        raise DataError(f"{json_path}: category id(s) {dup} appear more than once in 'categories'; "
                        "each category needs its own id.")
    return [str(c.get("name", c["id"])) for c in cats], {c["id"]: k for k, c in enumerate(cats)}


def read_coco(json_path: str | os.PathLike, images: str | os.PathLike | None = None, *,
              allow_outside: bool = False) -> DetectionData:
    """Read a COCO detection JSON (``bbox`` = x, y, w, h).

    ``allow_outside``: take image files that lie outside the images folder and the JSON's folder
    (a ``file_name`` with ``..`` or an absolute path elsewhere); by default such images are skipped.
    """
    json_path = Path(json_path)
    doc = _load_json(json_path)
    where = str(json_path)
    issues: list[DataIssue] = []
    folders = ([Path(images)] if images else []) + [json_path.parent, json_path.parent / "images"]
    roots = ([Path(images)] if images else []) + [json_path.parent]
    categories, cat_index = _coco_categories(doc["categories"], json_path)

    # image id -> [(xyxy, label index, ref, annotation id)]
    per_image: dict[int, list[tuple[list[float], int, str, int]]] = {}
    seen_ann: set = set()
    for n, ann in enumerate(doc.get("annotations", [])):
        if not isinstance(ann, dict):
            issues.append(DataIssue(where, None, f"annotations[{n}] is {_json_type(ann)}, not an object",
                                    "skipped", "bad_record"))
            continue
        aid = ann.get("id")
        ref = f"annotation id {aid}" if _is_int(aid) else f"annotation #{n}"
        if "id" in ann:
            if not _is_int(aid):
                issues.append(DataIssue(where, None, f"{ref}: id {_short(aid)} is not an integer", "skipped", "bad_record"))
                continue
            if aid in seen_ann:
                issues.append(DataIssue(where, None, f"{ref} is a duplicate id", "skipped", "duplicate_id"))
                continue
            seen_ann.add(aid)
        cid = ann.get("category_id")
        if not _is_int(cid) or cid not in cat_index:
            issues.append(DataIssue(where, None, f"{ref}: category_id {_short(cid)} is not in the "
                                    f"category list {sorted(cat_index)}", "skipped", "unknown_category"))
            continue
        iid = ann.get("image_id")
        if not _is_int(iid):
            issues.append(DataIssue(where, None, f"{ref}: image_id {_short(iid)} is not an integer", "skipped", "bad_record"))
            continue
        bbox = ann.get("bbox")
        nums = [_finite(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
        if nums is None or None in nums or not all(math.isfinite(v) for v in (nums[0] + nums[2], nums[1] + nums[3])):
            issues.append(DataIssue(where, None, f"{ref}: bbox {_short(bbox)} is not four finite numbers [x, y, w, h]",
                                    "skipped", "bad_record"))
            continue
        x, y, w, h = nums
        per_image.setdefault(iid, []).append(([x, y, x + w, y + h], cat_index[cid], ref, aid if "id" in ann else n))

    records, seen_img = [], set()
    for k, im in enumerate(doc["images"]):
        if not isinstance(im, dict):
            issues.append(DataIssue(where, None, f"images[{k}] is {_json_type(im)}, not an object", "skipped", "bad_record"))
            continue
        iid, name = im.get("id"), im.get("file_name")
        if not _is_int(iid):
            issues.append(DataIssue(where, None, f"images[{k}] ({_short(name)}): id {_short(iid)} is not an integer",
                                    "skipped", "bad_record"))
            continue
        if iid in seen_img:
            issues.append(DataIssue(where, None, f"image id {iid} ({_short(name)}) is a duplicate id", "skipped", "duplicate_id"))
            continue
        seen_img.add(iid)
        anns = per_image.pop(iid, [])
        lost = f" (and its {len(anns)} box{'es' if len(anns) != 1 else ''})" if anns else ""
        if not isinstance(name, str) or not name.strip():
            issues.append(DataIssue(where, None, f"image id {iid}: file_name {_short(name)} is not a file name{lost}",
                                    "skipped", "bad_record"))
            continue
        w, h = im.get("width"), im.get("height")
        if (w is not None or h is not None) and (_pixels(w) is None or _pixels(h) is None):
            issues.append(DataIssue(where, None, f"image id {iid} ({name}): width {_short(w)} and height {_short(h)} "
                                    f"must be positive whole numbers of pixels (or both left out){lost}",
                                    "skipped", "bad_record"))
            continue
        # file_name may carry a folder (images/x.jpg) or not; try it as written, then its base name
        cands = [f / n for f in folders for n in dict.fromkeys([name, Path(name).name])]
        found = [c for c in cands if is_file(c)]
        path = next((c for c in found if outside_allowed(allow_outside) or is_inside(c, roots)), None)
        if path is None and found:
            issues.append(DataIssue(where, None, f"image id {iid}: {outside_problem(found[0], roots, allow_outside)}"
                                    f"{lost}", "skipped", "outside_folder"))
            continue
        if path is None:
            issues.append(DataIssue(str(folders[0] / name), None, f"image file {name} (image id {iid}) not found "
                                    f"in {', '.join(map(str, folders))}{lost}", "skipped", "missing_image"))
            continue
        if w is None or h is None:
            size = _image_size(path, where, issues)
            if size is None:
                continue
            w, h = size
        w, h = _pixels(w), _pixels(h)
        b, lab, kept = _clean_boxes([a[0] for a in anns], [a[1] for a in anns], w, h, where, issues,
                                    [f"{a[2]} (image {name})" for a in anns])
        records.append(DetectionRecord(path, iid, w, h, b, lab, [anns[i][3] for i in kept], name))
    for iid, anns in per_image.items():
        issues.append(DataIssue(where, None, f"{len(anns)} annotation(s) refer to image id {iid!r}, "
                                "which is not in 'images'", "skipped", "unknown_image"))
    return DetectionData(categories, records, issues, "coco")


def write_coco(data: DetectionData, out: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> Path:
    """Write COCO JSON; ``file_name`` is relative to ``relative_to`` (default: the JSON's folder) when possible."""
    out = Path(out)
    base = Path(relative_to) if relative_to else out.parent
    images, anns = [], []
    for r in data.records:
        try:
            name = os.path.relpath(r.image_path.resolve(), base.resolve())
        except ValueError:  # another drive on Windows
            name = str(r.image_path.resolve())
        images.append({"id": int(r.image_id), "file_name": name, "width": int(r.width), "height": int(r.height)})
        for box, lab in zip(r.boxes.tolist(), r.labels.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append({"id": len(anns) + 1, "image_id": int(r.image_id), "category_id": int(lab) + 1,
                         "bbox": [round(v, 3) for v in (box[0], box[1], w, h)], "area": round(w * h, 3), "iscrowd": 0})
    cats = [{"id": k + 1, "name": c, "supercategory": ""} for k, c in enumerate(data.categories)]
    return atomic_write_json(out, {"images": images, "annotations": anns, "categories": cats})


# --------------------------------------------------------------------------- YOLO

def _yolo_names(root: Path) -> list[str] | None:
    for name in ("classes.txt", "obj.names", "labels/classes.txt"):
        p = root / name
        if p.is_file():
            names = [ln.strip() for ln in read_text(p, "class list").splitlines() if ln.strip()]
            if not names:
                raise DataError(f"{p}: lists no class names; write one name per line, class 0 first.")
            return names
    for name in ("data.yaml", "dataset.yaml"):
        p = root / name
        if p.is_file():
            import yaml

            try:
                doc = yaml.safe_load(read_text(p, "YAML file"))
            except yaml.YAMLError as exc:
                raise DataError(f"{p}: not valid YAML ({' '.join(str(exc).split())}).") from None
            names = doc.get("names") if isinstance(doc, dict) else None
            if isinstance(names, dict):
                # class k is names[k]: the keys must be 0..n-1, or the labels would shift silently
                if sorted(k for k in names if _is_int(k)) != list(range(len(names))):
                    raise DataError(f"{p}: 'names' keys must be the class numbers 0..{len(names) - 1}, "
                                    f"found {_short(list(names))}.")
                names = [names[k] for k in range(len(names))]
            if isinstance(names, list):
                bad = [n for n in names if isinstance(n, bool) or not isinstance(n, (str, int, float))]
                if bad or not names:
                    raise DataError(f"{p}: 'names' must list the class names, class 0 first; found {_short(names)}.")
                return [str(n) for n in names]
            if names is not None or not isinstance(doc, dict):
                raise DataError(f"{p}: expected a mapping with a 'names' list of class names.")
    return None


def _yolo_row(fields: list[str]) -> tuple[int, list[float]] | str:
    """(class, [cx, cy, w, h]) from one label line, or what is wrong with it."""
    try:
        cls = float(fields[0])
        vals = [float(v) for v in fields[1:]]
    except ValueError:
        return "not numbers"
    if not math.isfinite(cls) or not cls.is_integer():
        return f"class {fields[0]!r} is not a whole number"
    if not all(math.isfinite(v) for v in vals):
        return "not finite numbers"
    return int(cls), vals


def read_yolo(root: str | os.PathLike, images: str | os.PathLike | None = None, *,
              allow_outside: bool = False) -> DetectionData:
    """Read YOLO txt labels (``class cx cy w h`` normalised to 0-1), one file per image.

    Images are found by the label files' names in the dataset's own folders (or ``images``), so no
    path is read from the files: ``allow_outside`` is accepted for a uniform signature."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder. A YOLO dataset is a folder with images/, labels/ and classes.txt.")
    label_dir = root / "labels" if (root / "labels").is_dir() else root
    img_dirs = [Path(images)] if images else [root / "images", label_dir, root]
    names = _yolo_names(root)
    issues: list[DataIssue] = []
    parsed: list[tuple[Path, Path, list[tuple[int, list[float], int]]]] = []
    max_cls = -1
    label_files = {p.stem: p for p in sorted(label_dir.glob("*.txt")) if p.name not in ("classes.txt", "obj.names")}
    # images without a label file are negatives
    stems = set(label_files)
    for d in img_dirs:
        if d.is_dir():
            stems |= {p.stem for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
    for stem in sorted(stems):
        img, _ = _find_image(stem, img_dirs)
        lf = label_files.get(stem)
        if img is None:
            issues.append(DataIssue(str(lf), None, f"no image named {stem}.* in {', '.join(map(str, img_dirs))}",
                                    "skipped", "missing_image"))
            continue
        rows = []
        if lf is not None:
            for ln, line in enumerate(lf.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 5:
                    issues.append(DataIssue(str(lf), ln, f"expected 5 fields 'class cx cy w h', found {len(fields)}",
                                            "skipped", "bad_record"))
                    continue
                row = _yolo_row(fields)
                if isinstance(row, str):
                    issues.append(DataIssue(str(lf), ln, f"{row}: {_short(line.strip())}", "skipped", "bad_record"))
                    continue
                cls, vals = row
                if cls < 0 or (names is not None and cls >= len(names)):
                    issues.append(DataIssue(str(lf), ln, f"class {cls} is not in the class list "
                                            f"(0..{len(names or []) - 1})", "skipped", "unknown_category"))
                    continue
                max_cls = max(max_cls, cls)
                rows.append((cls, vals, ln))
        parsed.append((img, lf, rows))
    if names is None:
        names = [str(i) for i in range(max_cls + 1)]
        issues.append(DataIssue(str(root), None, "no classes.txt or data.yaml: classes named by their index",
                                "ignored", "no_class_names"))
    records = []
    for img, lf, rows in parsed:
        size = _image_size(img, str(lf or root), issues)
        if size is None:
            continue
        w, h = size
        boxes = [[(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h] for _, (cx, cy, bw, bh), _ in rows]
        refs = [f"line {ln}" for *_, ln in rows]
        b, lab, _ = _clean_boxes(boxes, [c for c, _, _ in rows], w, h, str(lf), issues, refs)
        records.append(DetectionRecord(img, len(records) + 1, w, h, b, lab))
    return DetectionData(names, records, issues, "yolo")


def write_yolo(data: DetectionData, out: str | os.PathLike) -> Path:
    """Write ``OUT/labels/<stem>.txt``, ``OUT/classes.txt`` and ``OUT/data.yaml`` (images stay where they are)."""
    out = Path(out)
    stems = Counter(r.image_path.stem for r in data.records)
    clash = [s for s, n in stems.items() if n > 1]
    if clash:
        raise DataError(f"YOLO names label files after images, but {len(clash)} image name(s) repeat "
                        f"(e.g. {clash[0]}); rename them or keep COCO.")
    for r in data.records:
        lines = []
        for (x0, y0, x1, y1), lab in zip(r.boxes.tolist(), r.labels.tolist()):
            lines.append(f"{lab} {(x0 + x1) / 2 / r.width:.6f} {(y0 + y1) / 2 / r.height:.6f} "
                         f"{(x1 - x0) / r.width:.6f} {(y1 - y0) / r.height:.6f}")
        atomic_write_text(out / "labels" / f"{r.image_path.stem}.txt", "\n".join(lines) + ("\n" if lines else ""))
    atomic_write_text(out / "classes.txt", "\n".join(data.categories) + "\n")
    img_dirs = sorted({str(r.image_path.parent.resolve()) for r in data.records})
    import yaml

    atomic_write_text(out / "data.yaml", yaml.safe_dump({"names": list(data.categories), "images": img_dirs}))
    return out


# --------------------------------------------------------------------------- VOC

def read_voc(root: str | os.PathLike, images: str | os.PathLike | None = None, *,
             allow_outside: bool = False) -> DetectionData:
    """Read Pascal VOC XML files (one per image); classes are the sorted names found.

    The image is looked up by ``<filename>`` in the image folders, then at ``<path>``; either must
    lie inside ``images`` (when given) or the dataset folder, unless ``allow_outside``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder. A VOC dataset is a folder with Annotations/*.xml and JPEGImages/.")
    ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
    img_dirs = [Path(images)] if images else [root / "JPEGImages", root / "images", ann_dir, root]
    roots = ([Path(images)] if images else []) + [root]
    issues: list[DataIssue] = []
    parsed = []
    for xf in sorted(ann_dir.glob("*.xml")):
        try:
            tree = ET.parse(xf).getroot()
        except ET.ParseError as exc:
            issues.append(DataIssue(str(xf), None, f"not valid XML ({exc})", "skipped", "bad_file"))
            continue
        fname = (tree.findtext("filename") or xf.stem).strip()
        img, outside = _find_image(fname, img_dirs, roots, allow_outside)
        if img is None:
            img, elsewhere = _find_image(Path(fname).stem, img_dirs, roots, allow_outside)
            outside = outside or elsewhere
        if img is None:
            p = (tree.findtext("path") or "").strip()
            if p and is_file(p):
                if outside_allowed(allow_outside) or is_inside(p, roots):
                    img = Path(p)
                else:
                    outside = outside or Path(p)
        if img is None and outside is not None:
            issues.append(DataIssue(str(xf), None, outside_problem(outside, roots, allow_outside, xf),
                                    "skipped", "outside_folder"))
            continue
        if img is None:
            issues.append(DataIssue(str(xf), None, f"image {fname} not found in {', '.join(map(str, img_dirs))}",
                                    "skipped", "missing_image"))
            continue
        objs = []
        for k, obj in enumerate(tree.findall("object"), 1):
            name, bb = (obj.findtext("name") or "").strip(), obj.find("bndbox")
            try:
                box = [float(bb.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")]
            except (AttributeError, TypeError, ValueError):
                issues.append(DataIssue(str(xf), None, f"object {k} ({name or 'no name'}): missing or non-numeric "
                                        "bndbox", "skipped", "bad_record"))
                continue
            if not name:
                issues.append(DataIssue(str(xf), None, f"object {k}: no <name>", "skipped", "unknown_category"))
                continue
            objs.append((name, box, k))
        size = tree.find("size")
        try:
            w, h = (_pixels(float(size.findtext(t))) for t in ("width", "height"))
        except (AttributeError, TypeError, ValueError):
            w = h = None
        if w is None or h is None:  # not written, or not a size: read it from the image
            got = _image_size(img, str(xf), issues)
            if got is None:
                continue
            w, h = got
        parsed.append((xf, img, w, h, objs))
    categories = sorted({n for *_, objs in parsed for n, _, _ in objs})
    index = {c: i for i, c in enumerate(categories)}
    records = []
    for k, (xf, img, w, h, objs) in enumerate(parsed):
        # VOC pixel coordinates are 1-based and inclusive; we keep them as written (common practice)
        b, lab, _ = _clean_boxes([o[1] for o in objs], [index[o[0]] for o in objs], w, h, str(xf), issues,
                                 [f"object {o[2]} ({o[0]})" for o in objs])
        records.append(DetectionRecord(img, k + 1, w, h, b, lab))
    return DetectionData(categories, records, issues, "voc")


def write_voc(data: DetectionData, out: str | os.PathLike) -> Path:
    """Write ``OUT/Annotations/<stem>.xml`` with the image's absolute path in ``<path>``."""
    out = Path(out)
    for r in data.records:
        ann = ET.Element("annotation")
        ET.SubElement(ann, "folder").text = r.image_path.parent.name
        ET.SubElement(ann, "filename").text = r.image_path.name
        ET.SubElement(ann, "path").text = str(r.image_path.resolve())
        size = ET.SubElement(ann, "size")
        for tag, v in (("width", r.width), ("height", r.height), ("depth", 3)):
            ET.SubElement(size, tag).text = str(v)
        for (x0, y0, x1, y1), lab in zip(r.boxes.tolist(), r.labels.tolist()):
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = data.categories[lab]
            ET.SubElement(obj, "difficult").text = "0"
            bb = ET.SubElement(obj, "bndbox")
            for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), (x0, y0, x1, y1)):
                ET.SubElement(bb, tag).text = f"{v:.2f}".rstrip("0").rstrip(".")
        ET.indent(ann)
        atomic_write_text(out / "Annotations" / f"{r.image_path.stem}.xml", ET.tostring(ann, encoding="unicode") + "\n")
    return out


# --------------------------------------------------------------------------- dispatch

READERS = {"coco": read_coco, "yolo": read_yolo, "voc": read_voc}
WRITERS = {"coco": write_coco, "yolo": write_yolo, "voc": write_voc}


def guess_format(path: str | os.PathLike) -> str:
    p = Path(path)
    if p.suffix.lower() == ".json":
        return "coco"
    if p.is_dir():
        if (p / "Annotations").is_dir() or any(p.glob("*.xml")):
            return "voc"
        if (p / "labels").is_dir() or any(p.glob("*.txt")):
            return "yolo"
    raise DataError(f"{path}: cannot tell the annotation format; pass one of {', '.join(FORMATS)} "
                    "(a .json file is COCO, a folder with labels/ is YOLO, one with Annotations/ is VOC).")


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        from benthos.errors import closest

        raise DataError(f"unknown annotation format {fmt!r}; use one of {', '.join(FORMATS)}.{closest(fmt, FORMATS)}")
    return fmt


def read_detection(path: str | os.PathLike, format: str | None = None,
                   images: str | os.PathLike | None = None, *, allow_outside: bool = False) -> DetectionData:
    """Read boxes in any supported format (guessed from the path when ``format`` is None).
    ``allow_outside``: take image files outside the data folder (see :mod:`benthos.data.files`)."""
    fmt = _check_format(format or guess_format(path))
    return READERS[fmt](path, images=images, allow_outside=allow_outside)


def write_detection(data: DetectionData, out: str | os.PathLike, format: str) -> Path:
    return WRITERS[_check_format(format)](data, out)


def convert_annotations(src: str | os.PathLike, dst: str | os.PathLike, src_format: str | None = None,
                        dst_format: str | None = None, images: str | os.PathLike | None = None, *,
                        allow_outside: bool = False) -> DetectionData:
    """Read ``src`` in one format and write ``dst`` in another; returns what was read (with its issues)."""
    data = read_detection(src, src_format, images, allow_outside=allow_outside)
    if dst_format is None:
        dst_format = "coco" if str(dst).lower().endswith(".json") else None
    if dst_format is None:
        raise DataError(f"{dst}: say which format to write ({', '.join(FORMATS)}).")
    write_detection(data, dst, dst_format)
    return data
