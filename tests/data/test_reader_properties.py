"""Property-based tests: every data reader, driven with generated malformed input, keeps the contract.

Either a named error (BenthosError) or a result whose every value traces back to the input as
written (a record that passed is never another value: boxes are the input's, clipped to the image;
labels, paths and points are the input's); skipped records are named in ``issues``. Any other
exception fails the test. Bounded (40 examples per reader, derandomised) to keep ``make test`` short.
"""
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from benthos.data import load_classification
from benthos.data.detection import read_coco, read_voc, read_yolo
from benthos.data.files import is_inside
from benthos.errors import BenthosError

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SIZES = {"a.jpg": (64, 48), "b.png": (30, 20)}

# JSON values of every kind, to put where a field of one kind is expected
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8))
junk = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=6)
names = st.sampled_from(["a.jpg", "b.png", "missing.jpg", "../outside.jpg", "/etc/passwd", "", "images/a.jpg",
                         "sub/../a.jpg", "a.jpg\x00", "x" * 300])
numbers = st.one_of(st.integers(-80, 200), st.floats(-80, 200), st.sampled_from([float("nan"), float("inf"), 1e308]))


def _mostly(good, bad=junk):
    """Three times in four ``good`` (sampled_from leans to its first entries, so to good ones), else ``bad``."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: good if ok else bad)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """tmp/data/images/{a.jpg,b.png} and tmp/outside.jpg beside the data folder."""
    root = tmp_path_factory.mktemp("props")
    for name, size in SIZES.items():
        (root / "data" / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 30)).save(root / "data" / "images" / name)
    Image.new("RGB", (10, 10)).save(root / "outside.jpg")
    return root / "data"


def _expected_box(xyxy, w, h):
    x0, y0, x1, y1 = xyxy
    return np.array([min(max(x0, 0), w), min(max(y0, 0), h), min(max(x1, 0), w), min(max(y1, 0), h)], np.float32)


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _empty(data) -> bool:
    return not (getattr(data, "samples", None) or any(len(r.boxes) for r in getattr(data, "records", [])))


def _read_or_named(read):
    """The reader's data, or None when it refused with a named error (the contract's other outcome);
    either way the outcome is recorded for hypothesis' statistics."""
    try:
        data = read()
    except BenthosError:
        event("named error")
        return None
    event("read" if not _empty(data) else "read, nothing kept")
    return data


def _check_paths(paths, folder):
    for p in paths:
        assert Path(p).is_file() and is_inside(p, [folder]), p


# -- COCO ------------------------------------------------------------------------------------------

def _slots(value, out):
    """Every (container, key) in a JSON value, to corrupt one of them."""
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((value, k))
            _slots(v, out)
    elif isinstance(value, list):
        for k, v in enumerate(value):
            out.append((value, k))
            _slots(v, out)
    return out


@st.composite
def corrupted(draw, valid, changes: int = 3):
    """A valid document with up to ``changes`` values replaced by others of any kind, or removed."""
    doc = draw(valid)
    for _ in range(draw(st.integers(0, changes))):
        slots = _slots(doc, []) + [(None, None)]  # the whole document last: sampled_from favours the first
        container, key = draw(st.sampled_from(slots))
        new = draw(st.one_of(junk, names, numbers))
        if container is None:
            return new  # the whole document
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = new
    return doc


xywh = st.tuples(st.integers(-10, 60), st.integers(-10, 40), st.integers(1, 40), st.floats(0.5, 40)).map(list)


@st.composite
def valid_coco(draw):
    images = [{"id": i, "file_name": n, **({"width": SIZES[Path(n).name][0], "height": SIZES[Path(n).name][1]} if sized else {})}
              for i, (n, sized) in enumerate(draw(st.lists(st.tuples(st.sampled_from(["a.jpg", "b.png", "images/a.jpg"]),
                                                                      st.booleans()), min_size=1, max_size=3)), 1)]
    anns = [{"id": k, "image_id": draw(st.integers(1, len(images))), "category_id": draw(st.sampled_from([1, 3])),
             "bbox": draw(xywh)} for k in range(1, draw(st.integers(1, 6)) + 1)]
    return {"images": images, "categories": [{"id": 1, "name": "star"}, {"id": 3, "name": "urchin"}], "annotations": anns}


coco_doc = corrupted(valid_coco())


def _check_coco(doc, data, folder):
    cats = sorted((c for c in doc["categories"]), key=lambda c: c["id"])
    assert data.categories == [str(c.get("name", c["id"])) for c in cats]
    name_of = {k: c.get("name", c["id"]) for k, c in enumerate(cats)}
    anns = doc.get("annotations", [])
    for r in data.records:
        image = next(im for im in doc["images"] if isinstance(im, dict) and im.get("id") == r.image_id
                     and not isinstance(im.get("id"), bool))
        assert r.file_name == image["file_name"] and r.image_path.name == Path(image["file_name"]).name
        if "width" in image or "height" in image:
            assert (r.width, r.height) == (image["width"], image["height"])
        else:
            assert (r.width, r.height) == SIZES[r.image_path.name]
        for box, label, aid in zip(r.boxes, r.labels.tolist(), r.annotation_ids):
            cands = [a for n, a in enumerate(anns) if isinstance(a, dict) and a.get("image_id") == r.image_id
                     and (a.get("id") == aid if "id" in a else n == aid)]
            assert cands, (aid, anns)
            a = cands[0]
            assert str(name_of[label]) == str(next(c.get("name", c["id"]) for c in cats if c["id"] == a["category_id"]))
            assert isinstance(a["bbox"], list) and len(a["bbox"]) == 4 and all(_real(v) for v in a["bbox"])
            x, y, w, h = (float(v) for v in a["bbox"])
            np.testing.assert_array_equal(box, _expected_box((x, y, x + w, y + h), r.width, r.height))
    _check_paths([r.image_path for r in data.records], folder)


@SETTINGS
@given(doc=coco_doc)
def test_read_coco_names_its_errors_and_keeps_values(folder, doc):
    path = folder / "ann.json"
    path.write_text(json.dumps(doc))
    data = _read_or_named(lambda: read_coco(path))
    if data is None:
        return
    _check_coco(doc, data, folder)


@SETTINGS
@given(doc=coco_doc)
def test_coco_crops_name_their_errors_and_keep_values(folder, doc):
    path = folder / "crops.json"
    path.write_text(json.dumps(doc))
    data = _read_or_named(lambda: load_classification(path, margin=0.0, check_images=False, min_per_class=1))
    if data is None:
        return
    boxes = read_coco(path)  # the crops are its boxes, one sample each (none here is under 1 px by chance)
    want = [(r.image_path, tuple(float(v) for v in b)) for r in boxes.records for b in r.boxes
            if b[2] - b[0] >= 1 and b[3] - b[1] >= 1]
    assert [(s.path, s.box) for s in data.samples] == want


# -- YOLO ------------------------------------------------------------------------------------------

tokens = st.one_of(st.sampled_from(["0", "1", "2", "-1", "1.0", "1e400", "nan", "inf", "0.5", "0.25", "1.2", "-0.1",
                                    "abc", "", "0x10", "½"]), st.floats().map(repr), st.text(max_size=4))
good_yolo = st.tuples(st.sampled_from(["0", "1", "1.0"]), *[st.floats(-0.2, 1.2).map(repr)] * 4)
yolo_line = _mostly(good_yolo, st.lists(tokens, min_size=0, max_size=6)).map(" ".join)


def _yolo_expected(text: str, n_classes: int, w: int, h: int) -> list[tuple[int, np.ndarray]]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) != 5:
            continue
        try:
            c, vals = float(f[0]), [float(v) for v in f[1:]]
        except ValueError:
            continue
        if not (math.isfinite(c) and c.is_integer() and 0 <= c < n_classes and all(math.isfinite(v) for v in vals)):
            continue
        cx, cy, bw, bh = vals
        xyxy = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
        if xyxy[2] <= xyxy[0] or xyxy[3] <= xyxy[1]:
            continue
        b = _expected_box(xyxy, w, h)
        if b[2] - b[0] >= 1e-3 and b[3] - b[1] >= 1e-3:
            out.append((int(c), b))
    return out


@SETTINGS
@given(lines=st.lists(yolo_line, min_size=1, max_size=6), classes=st.sampled_from(["star\nurchin\n", "star\nurchin\n", "", "\xe9toile\n"]),
       latin=st.booleans())
def test_read_yolo_names_its_errors_and_keeps_values(tmp_path, lines, classes, latin):
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "labels").mkdir(exist_ok=True)
    Image.new("RGB", (64, 48)).save(tmp_path / "images" / "a.jpg")
    text = "\n".join(lines) + "\n"
    (tmp_path / "labels" / "a.txt").write_text(text)
    (tmp_path / "classes.txt").write_bytes(classes.encode("latin-1" if latin else "utf-8"))
    data = _read_or_named(lambda: read_yolo(tmp_path))
    if data is None:
        return
    ((rec,),) = [data.records]
    want = _yolo_expected(text, len(data.categories), 64, 48)
    assert rec.labels.tolist() == [c for c, _ in want]
    np.testing.assert_array_equal(rec.boxes, np.array([b for _, b in want], np.float32).reshape(-1, 4))


# -- VOC -------------------------------------------------------------------------------------------

xml_text = _mostly(st.integers(-5, 70).map(str), tokens)
voc_box = _mostly(st.tuples(st.integers(-5, 60), st.integers(-5, 40), st.integers(1, 30), st.integers(1, 30)).map(
    lambda b: [str(b[0]), str(b[1]), str(b[0] + b[2]), str(b[1] + b[3])]), st.lists(xml_text, min_size=3, max_size=4))


@SETTINGS
@given(filename=st.sampled_from(["a.jpg", "a", "b.png", "a.jpg", "../outside.jpg", "missing.jpg", "/etc/passwd", ""]),
       size=_mostly(st.just(("64", "48")), st.tuples(xml_text, xml_text)),
       objects=st.lists(st.tuples(st.sampled_from(["star", " urchin ", ""]), voc_box), min_size=1, max_size=4))
def test_read_voc_names_its_errors_and_keeps_values(folder, filename, size, objects):
    from xml.sax.saxutils import escape

    root = folder / "voc"
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    objs = "".join(f"<object><name>{escape(n)}</name><bndbox>" + "".join(
        f"<{t}>{escape(v)}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), vals)) + "</bndbox></object>"
        for n, vals in objects)
    (root / "Annotations" / "x.xml").write_text(
        f"<annotation><filename>{escape(filename)}</filename><size><width>{escape(size[0])}</width>"
        f"<height>{escape(size[1])}</height></size>{objs}</annotation>")
    data = _read_or_named(lambda: read_voc(root, images=folder / "images"))
    if data is None:
        return
    for r in data.records:
        assert r.image_path.name in SIZES
        try:
            given_size = tuple(float(v) for v in size)
        except ValueError:
            given_size = None
        if given_size and all(math.isfinite(v) and v >= 1 and v.is_integer() for v in given_size):
            assert (r.width, r.height) == given_size
        else:
            assert (r.width, r.height) == SIZES[r.image_path.name]
        want = []
        for n, vals in objects:
            try:
                box = [float(v) for v in vals] if len(vals) == 4 else None
            except ValueError:
                box = None
            if box is None or not n.strip() or not all(math.isfinite(v) for v in box):
                continue
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            b = _expected_box(box, r.width, r.height)
            if b[2] - b[0] >= 1e-3 and b[3] - b[1] >= 1e-3:
                want.append((n.strip(), b))
        assert [data.categories[i] for i in r.labels.tolist()] == [n for n, _ in want]
        np.testing.assert_array_equal(r.boxes, np.array([b for _, b in want], np.float32).reshape(-1, 4))
    _check_paths([r.image_path for r in data.records], folder)


# -- CSV manifests and CoralNet exports ------------------------------------------------------------

cell = st.one_of(names, st.sampled_from(["images/a.jpg", "images/b.png", "fish", " crab ", "", "12", "-4", "nan",
                                         "1e400", "Name", "\xe9toile"]), st.text(max_size=6))
manifest_row = _mostly(st.tuples(st.sampled_from(["images/a.jpg", "images/b.png", "images/../../outside.jpg"]),
                                   st.sampled_from(["fish", " crab ", "\xe9toile"])).map(list),
                       st.lists(cell, min_size=0, max_size=5))
point_row = _mostly(st.tuples(st.sampled_from(["a.jpg", "b.png", "../../outside.jpg"]), st.integers(-5, 60).map(str),
                              st.floats(-5, 70).map(repr), st.sampled_from(["fish", " crab "])).map(list),
                    st.lists(cell, min_size=0, max_size=5))


def _csv_bytes(header, body, encoding):
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *body])
    try:
        return buf.getvalue().encode(encoding)
    except UnicodeEncodeError:
        return buf.getvalue().encode("utf-8")


@SETTINGS
@given(header=st.sampled_from([["path", "label"], ["path", "label", "group"], ["label", "path"], ["Path", "Label"],
                               ["path", "label"], ["path"], []]),
       body=st.lists(manifest_row, min_size=1, max_size=6), encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"]))
def test_manifests_name_their_errors_and_keep_values(folder, header, body, encoding):
    path = folder / "m.csv"
    path.write_bytes(_csv_bytes(header, body, encoding))
    data = _read_or_named(lambda: load_classification(path, format="csv", check_images=False, min_per_class=1))
    if data is None:
        return
    text = path.read_bytes().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    cols = [c.strip().lower() for c in lines[0]]
    for s in data.samples:
        row = lines[s.meta["line"] - 1]
        assert s.label == row[cols.index("label")].strip()
        written = Path(row[cols.index("path")].strip())
        assert s.path == (written if written.is_absolute() else folder / written)
    _check_paths([s.path for s in data.samples], folder)


@SETTINGS
@given(header=st.sampled_from([["Name", "Row", "Column", "Label"], ["name", "row", "column", "label", "extra"],
                               ["Name", "Row", "Column", "Label"], ["Name", "Row", "Label"]]),
       body=st.lists(point_row, min_size=1, max_size=6), encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1"]))
def test_coralnet_exports_name_their_errors_and_keep_values(folder, header, body, encoding):
    path = folder / "points.csv"
    path.write_bytes(_csv_bytes(header, body, encoding))
    data = _read_or_named(lambda: load_classification(path, format="coralnet", check_images=False, min_per_class=1, patch_size=8))
    if data is None:
        return
    lines = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    cols = [c.strip().lower() for c in lines[0]]
    for s in data.samples:
        row = lines[s.meta["line"] - 1]
        assert s.label == row[cols.index("label")].strip()
        assert s.path == folder / "images" / row[cols.index("name")].strip()
        assert (s.meta["row"], s.meta["column"]) == (float(row[cols.index("row")]), float(row[cols.index("column")]))
        assert all(math.isfinite(v) for v in (s.meta["row"], s.meta["column"]))
    _check_paths([s.path for s in data.samples], folder)
