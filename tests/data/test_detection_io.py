"""Readers/writers for COCO, YOLO and VOC boxes: round trips and every kind of bad record."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benthos.data.detection import (
    FORMATS, DetectionData, DetectionRecord, convert_annotations, read_coco, read_detection, read_voc, read_yolo,
    write_detection,
)
from benthos.errors import DataError


def _images(folder: Path, n: int = 3, size=(64, 48)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"im{i}.jpg"
        Image.new("RGB", size, (i * 40, 80, 120)).save(p)
        paths.append(p)
    return paths


def _data(tmp_path: Path) -> DetectionData:
    paths = _images(tmp_path / "images")
    recs = [
        DetectionRecord(paths[0], 1, 64, 48, np.array([[2, 3, 20, 30], [30, 10, 60, 40]], np.float32), np.array([0, 1])),
        DetectionRecord(paths[1], 2, 64, 48, np.array([[10, 10, 12.5, 14]], np.float32), np.array([1])),
        DetectionRecord(paths[2], 3, 64, 48, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)),  # negative
    ]
    return DetectionData(["brittle_star", "sea_star"], recs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(tmp_path, fmt):
    data = _data(tmp_path)
    out = tmp_path / ("out.json" if fmt == "coco" else "out")
    write_detection(data, out, fmt)
    back = read_detection(out, fmt, images=tmp_path / "images")
    assert back.categories == data.categories
    assert not [i for i in back.issues if i.action == "skipped"], back.issues
    by_name = {r.image_path.name: r for r in back.records}
    for r in data.records:
        if fmt == "voc" and len(r.boxes) == 0:
            continue  # VOC writes the file; categories come from objects, negatives survive too
        got = by_name[r.image_path.name]
        assert (got.width, got.height) == (64, 48)
        np.testing.assert_allclose(np.sort(got.boxes, 0), np.sort(r.boxes, 0), atol=0.01)
        assert sorted(got.labels.tolist()) == sorted(r.labels.tolist())
    assert back.summary()["boxes"] == 3


def test_convert_coco_to_yolo_to_voc(tmp_path):
    data = _data(tmp_path)
    write_detection(data, tmp_path / "a.json", "coco")
    convert_annotations(tmp_path / "a.json", tmp_path / "y", "coco", "yolo")
    convert_annotations(tmp_path / "y", tmp_path / "v", "yolo", "voc", images=tmp_path / "images")
    # VOC's <path> names the images where they are, outside the VOC folder: refused unless allowed
    assert read_voc(tmp_path / "v").summary()["issues"] == {"outside_folder": 3}
    for back in (read_voc(tmp_path / "v", images=tmp_path / "images"), read_voc(tmp_path / "v", allow_outside=True)):
        assert back.summary()["per_class"] == {"brittle_star": 1, "sea_star": 2} and not back.issues


def test_coco_bad_records_are_counted_not_fatal(tmp_path):
    _images(tmp_path / "images", 2)
    doc = {
        "images": [{"id": 1, "file_name": "im0.jpg", "width": 64, "height": 48},
                   {"id": 1, "file_name": "im1.jpg", "width": 64, "height": 48},      # duplicate image id
                   {"id": 2, "file_name": "missing.jpg", "width": 64, "height": 48},  # missing file
                   {"id": 3, "file_name": "im1.jpg"}],                                 # size from the file, no boxes
        "categories": [{"id": 1, "name": "brittle_star"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [50, 40, 30, 30]},   # clipped
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},       # duplicate ann id
            {"id": 11, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5]},       # unknown category
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 5]},       # zero width
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [100, 100, 5, 5]},   # fully outside
            {"id": 14, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},      # unknown image
        ],
    }
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(doc))
    data = read_coco(p)
    kinds = data.summary()["issues"]
    assert kinds == {"clipped_box": 1, "duplicate_id": 2, "unknown_category": 1, "empty_box": 1,
                     "outside_box": 1, "missing_image": 1, "unknown_image": 1}
    assert [len(r.boxes) for r in data.records] == [1, 0]
    np.testing.assert_allclose(data.records[0].boxes[0], [50, 40, 64, 48])
    assert data.records[1].width == 64 and data.summary()["negatives"] == 1
    msg = " ".join(str(i) for i in data.issues)
    assert "annotation id 11" in msg and "missing.jpg" in msg and str(p) in msg


def test_coco_refuses_unreadable_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        read_coco(tmp_path / "bad.json")
    (tmp_path / "dup.json").write_text(json.dumps({"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}))
    with pytest.raises(DataError, match="category id"):
        read_coco(tmp_path / "dup.json")
    with pytest.raises(DataError, match="no such"):
        read_coco(tmp_path / "nope.json")


def test_yolo_wrong_field_count_and_unknown_class(tmp_path):
    _images(tmp_path / "images", 2)
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("brittle_star\n")
    (tmp_path / "labels" / "im0.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5\n3 0.5 0.5 0.1 0.1\n0 0.99 0.5 0.2 0.2\nx y z w h\n")
    (tmp_path / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    data = read_yolo(tmp_path)
    kinds = data.summary()["issues"]
    assert kinds == {"bad_record": 2, "unknown_category": 1, "clipped_box": 1, "missing_image": 1}
    assert any(i.line == 2 and i.path.endswith("im0.txt") for i in data.issues)
    assert [len(r.boxes) for r in data.records] == [2, 0]  # im1 has no label file: a negative


def test_voc_bad_xml_is_skipped(tmp_path):
    _images(tmp_path / "JPEGImages", 1)
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "im0.xml").write_text(
        "<annotation><filename>im0.jpg</filename><size><width>64</width><height>48</height></size>"
        "<object><name>star</name><bndbox><xmin>-5</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax></bndbox></object>"
        "<object><name>star</name><bndbox><xmin>a</xmin></bndbox></object></annotation>")
    (tmp_path / "Annotations" / "broken.xml").write_text("<annotation>")
    data = read_voc(tmp_path)
    assert data.categories == ["star"]
    assert data.summary()["issues"] == {"clipped_box": 1, "bad_record": 1, "bad_file": 1}
    np.testing.assert_allclose(data.records[0].boxes[0], [0, 2, 10, 12])


def test_unknown_format_suggests(tmp_path):
    with pytest.raises(DataError, match="coco"):
        read_detection(tmp_path, "cocoo")
