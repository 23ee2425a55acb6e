"""Box annotations: read and write COCO JSON, YOLO txt and Pascal VOC XML.

Every reader returns a :class:`DetectionData` with boxes as absolute ``xyxy`` pixels,
clipped to the image, and labels as 0-based indices into ``categories``. Bad records
never raise mid-way: each is clipped, skipped or ignored and recorded as a
:class:`~benthos.data.issues.DataIssue` naming the file and record. Only a file that
cannot be parsed at all (or a category list that contradicts itself) raises
:class:`~benthos.errors.DataError`.

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
import os
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benthos.data.issues import DataIssue, summarise_issues
from benthos.errors import DataError
from benthos.runs.atomic import atomic_write_json, atomic_write_text

FORMATS = ("coco", "yolo", "voc")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class DetectionRecord:
    """One image and its boxes (xyxy absolute pixels, positive area, inside the image)."""

    image_path: Path
    image_id: int
    width: int
    height: int
    boxes: np.ndarray   # (N, 4) float32
    labels: np.ndarray  # (N,) int64, index into DetectionData.categories

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

def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        # EXIF-rotated photos: the size a viewer (and our loader) sees
        w, h = im.size
        orient = im.getexif().get(0x0112, 1)
    return (h, w) if orient in (5, 6, 7, 8) else (w, h)


def _clean_boxes(boxes: list[list[float]], labels: list[int], width: int, height: int, where: str,
                 issues: list[DataIssue], refs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Clip to the image, drop boxes with no area left; refs name each record for messages."""
    keep_b, keep_l = [], []
    for box, lab, ref in zip(boxes, labels, refs):
        x0, y0, x1, y1 = (float(v) for v in box)
        if not all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
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
    return (np.asarray(keep_b, np.float32).reshape(-1, 4), np.asarray(keep_l, np.int64))


def _find_image(stem_or_name: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        p = folder / stem_or_name
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            return p
        for suf in IMAGE_SUFFIXES:
            for cand in (folder / (stem_or_name + suf), folder / (stem_or_name + suf.upper())):
                if cand.is_file():
                    return cand
    return None


# --------------------------------------------------------------------------- COCO

def read_coco(json_path: str | os.PathLike, images: str | os.PathLike | None = None) -> DetectionData:
    """Read a COCO detection JSON (``bbox`` = x, y, w, h)."""
    json_path = Path(json_path)
    if not json_path.is_file():
        raise DataError(f"{json_path}: no such COCO JSON file. Pass the annotations file (e.g. annotations.json).")
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{json_path}: not valid JSON ({exc}). Is this a COCO annotations file?") from exc
    if not isinstance(doc, dict) or "images" not in doc or "categories" not in doc:
        raise DataError(f"{json_path}: a COCO file needs 'images' and 'categories' lists (and usually 'annotations').")
    where = str(json_path)
    issues: list[DataIssue] = []
    folders = ([Path(images)] if images else []) + [json_path.parent, json_path.parent / "images"]

    cats = sorted(doc["categories"], key=lambda c: c.get("id", 0))
    ids = [c.get("id") for c in cats]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if dup:
        raise DataError(f"{json_path}: category id(s) {dup} appear more than once in 'categories'; "
                        "each category needs its own id.")
    cat_index = {c["id"]: k for k, c in enumerate(cats)}
    categories = [str(c.get("name", c["id"])) for c in cats]

    per_image: dict[int, list[dict]] = {}
    seen_ann: set = set()
    for n, ann in enumerate(doc.get("annotations", [])):
        ref = f"annotation id {ann.get('id', f'#{n}')}"
        if "id" in ann:
            if ann["id"] in seen_ann:
                issues.append(DataIssue(where, None, f"{ref} is a duplicate id", "skipped", "duplicate_id"))
                continue
            seen_ann.add(ann["id"])
        if ann.get("category_id") not in cat_index:
            issues.append(DataIssue(where, None, f"{ref}: category_id {ann.get('category_id')!r} is not in the "
                                    f"category list {ids}", "skipped", "unknown_category"))
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            issues.append(DataIssue(where, None, f"{ref}: bbox {bbox!r} is not [x, y, w, h]", "skipped", "bad_record"))
            continue
        per_image.setdefault(ann.get("image_id"), []).append(ann | {"_ref": ref})

    records, seen_img = [], set()
    for im in doc["images"]:
        iid, name = im.get("id"), im.get("file_name", "")
        if iid in seen_img:
            issues.append(DataIssue(where, None, f"image id {iid} ({name}) is a duplicate id", "skipped", "duplicate_id"))
            continue
        seen_img.add(iid)
        # file_name may carry a folder (images/x.jpg) or not; try it as written, then its base name
        cands = [f / n for f in folders for n in dict.fromkeys([name, Path(name).name])]
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            issues.append(DataIssue(str(folders[0] / name), None, f"image file {name} (image id {iid}) not found "
                                    f"in {', '.join(map(str, folders))}", "skipped", "missing_image"))
            continue
        w, h = im.get("width"), im.get("height")
        if not w or not h:
            w, h = _image_size(path)
        anns = per_image.pop(iid, [])
        boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns]
        b, lab = _clean_boxes(boxes, [cat_index[a["category_id"]] for a in anns], int(w), int(h), where, issues,
                              [f"{a['_ref']} (image {name})" for a in anns])
        records.append(DetectionRecord(path, int(iid), int(w), int(h), b, lab))
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
            return [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for name in ("data.yaml", "dataset.yaml"):
        p = root / name
        if p.is_file():
            import yaml

            try:
                names = (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("names")
            except yaml.YAMLError as exc:
                raise DataError(f"{p}: not valid YAML ({exc}).") from exc
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
    return None


def read_yolo(root: str | os.PathLike, images: str | os.PathLike | None = None) -> DetectionData:
    """Read YOLO txt labels (``class cx cy w h`` normalised to 0-1), one file per image."""
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
            stems |= {p.stem for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    for stem in sorted(stems):
        img = _find_image(stem, img_dirs)
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
                try:
                    cls, vals = int(float(fields[0])), [float(v) for v in fields[1:]]
                except ValueError:
                    issues.append(DataIssue(str(lf), ln, f"not numbers: {line.strip()!r}", "skipped", "bad_record"))
                    continue
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
    for k, (img, lf, rows) in enumerate(parsed):
        w, h = _image_size(img)
        boxes = [[(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h] for _, (cx, cy, bw, bh), _ in rows]
        refs = [f"line {ln}" for *_, ln in rows]
        b, lab = _clean_boxes(boxes, [c for c, _, _ in rows], w, h, str(lf), issues, refs)
        records.append(DetectionRecord(img, k + 1, w, h, b, lab))
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

def read_voc(root: str | os.PathLike, images: str | os.PathLike | None = None) -> DetectionData:
    """Read Pascal VOC XML files (one per image); classes are the sorted names found."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder. A VOC dataset is a folder with Annotations/*.xml and JPEGImages/.")
    ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
    img_dirs = [Path(images)] if images else [root / "JPEGImages", root / "images", ann_dir, root]
    issues: list[DataIssue] = []
    parsed = []
    for xf in sorted(ann_dir.glob("*.xml")):
        try:
            tree = ET.parse(xf).getroot()
        except ET.ParseError as exc:
            issues.append(DataIssue(str(xf), None, f"not valid XML ({exc})", "skipped", "bad_file"))
            continue
        fname = (tree.findtext("filename") or xf.stem).strip()
        img = _find_image(fname, img_dirs) or _find_image(Path(fname).stem, img_dirs)
        if img is None:
            p = tree.findtext("path")
            img = Path(p) if p and Path(p).is_file() else None
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
            w, h = int(float(size.findtext("width"))), int(float(size.findtext("height")))
            if w <= 0 or h <= 0:
                raise ValueError
        except (AttributeError, TypeError, ValueError):
            w, h = _image_size(img)
        parsed.append((xf, img, w, h, objs))
    categories = sorted({n for *_, objs in parsed for n, _, _ in objs})
    index = {c: i for i, c in enumerate(categories)}
    records = []
    for k, (xf, img, w, h, objs) in enumerate(parsed):
        # VOC pixel coordinates are 1-based and inclusive; we keep them as written (common practice)
        b, lab = _clean_boxes([o[1] for o in objs], [index[o[0]] for o in objs], w, h, str(xf), issues,
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
                   images: str | os.PathLike | None = None) -> DetectionData:
    """Read boxes in any supported format (guessed from the path when ``format`` is None)."""
    fmt = _check_format(format or guess_format(path))
    return READERS[fmt](path, images=images)


def write_detection(data: DetectionData, out: str | os.PathLike, format: str) -> Path:
    return WRITERS[_check_format(format)](data, out)


def convert_annotations(src: str | os.PathLike, dst: str | os.PathLike, src_format: str | None = None,
                        dst_format: str | None = None, images: str | os.PathLike | None = None) -> DetectionData:
    """Read ``src`` in one format and write ``dst`` in another; returns what was read (with its issues)."""
    data = read_detection(src, src_format, images)
    if dst_format is None:
        dst_format = "coco" if str(dst).lower().endswith(".json") else None
    if dst_format is None:
        raise DataError(f"{dst}: say which format to write ({', '.join(FORMATS)}).")
    write_detection(data, dst, dst_format)
    return data
