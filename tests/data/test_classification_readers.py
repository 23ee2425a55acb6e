"""Every classification reader, good input and the issue's list of bad input."""
from __future__ import annotations

import json

import pytest

from benthos.data import ImageDataset, detect_format, load_classification
from benthos.errors import DataError


def _kinds(data):
    return sorted(i.kind for i in data.issues)


def test_folder_recursive_and_bad_files(tmp_path, mk):
    mk.image(tmp_path / "sponge/a.jpg")
    mk.image(tmp_path / "sponge/site1/deep/b.png")          # found recursively
    mk.image(tmp_path / "sponge/.hidden.jpg")               # ignored: hidden
    (tmp_path / "sponge/notes.txt").write_text("x")         # ignored: not an image
    mk.image(tmp_path / "coral/c.jpg", mode="L", color=9)
    mk.truncated(tmp_path / "coral/broken.jpg")
    (tmp_path / "coral/zero.jpg").write_bytes(b"")
    mk.bomb(tmp_path / "coral/bomb.png")
    mk.image(tmp_path / "coral/cmyk.jpg", mode="CMYK", color=(0, 50, 90, 0), fmt="JPEG")
    (tmp_path / "empty_taxon").mkdir()
    data = load_classification(tmp_path)
    assert data.source == "folder" and data.classes == ["coral", "sponge"]
    assert sorted(s.path.name for s in data.samples) == ["a.jpg", "b.png", "c.jpg", "cmyk.jpg"]
    assert _kinds(data) == ["empty_class", "unreadable", "unreadable", "unreadable"]
    assert any("broken.jpg" in i.path and "truncated" in i.problem for i in data.issues)
    assert "4 issues" in data.summary() and "coral 2, sponge 2" in data.summary()
    assert data.unit() == "images"
    with pytest.raises(DataError, match=r"4 problem") as err:
        load_classification(tmp_path, on_error="stop")
    names = ("broken.jpg", "zero.jpg", "bomb.png", "decompression-bomb", "empty_taxon", "on_error='skip'")
    assert all(name in str(err.value) for name in names)


def test_folder_without_class_dirs(tmp_path, mk):
    mk.image(tmp_path / "a.jpg")
    with pytest.raises(DataError, match="no class sub-folders"):
        load_classification(tmp_path)


def test_manifest_rows_and_lines(tmp_path, mk):
    mk.image(tmp_path / "img/a.jpg")
    mk.image(tmp_path / "img/b.jpg")
    (tmp_path / "m.csv").write_text(
        "path,label,group\nimg/a.jpg,fish,photo1\nimg/b.jpg,crab\nimg/a.jpg\n\nimg/missing.jpg,fish,p2\n,fish,p3\n")
    assert detect_format(tmp_path / "m.csv") == "csv"
    data = load_classification(tmp_path / "m.csv")
    assert [(s.path.name, s.label, s.group) for s in data.samples] == [("a.jpg", "fish", "photo1"), ("b.jpg", "crab", None)]
    lines = {i.line: i.kind for i in data.issues}
    assert lines == {4: "bad_row", 6: "missing_file", 7: "bad_row"}
    with pytest.raises(DataError, match=r"m\.csv:6: image .*missing\.jpg does not exist"):
        load_classification(tmp_path / "m.csv", on_error="stop")


def test_manifest_without_header(tmp_path):
    (tmp_path / "m.csv").write_text("a.jpg,fish\n")
    with pytest.raises(DataError, match=r"m\.csv:1: cannot tell"):
        load_classification(tmp_path / "m.csv")
    with pytest.raises(DataError, match=r"m\.csv:1: a manifest needs a header"):
        load_classification(tmp_path / "m.csv", format="csv")


def _coco(tmp_path, mk, anns, images_dir="images"):
    mk.image(tmp_path / images_dir / "p1.jpg", size=(100, 80))
    doc = {"images": [{"id": 1, "file_name": "p1.jpg", "width": 100, "height": 80},
                      {"id": 2, "file_name": "gone.jpg", "width": 50, "height": 50}],
           "categories": [{"id": 1, "name": "starfish"}, {"id": 2, "name": "urchin"}],
           "annotations": anns}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    return tmp_path / "ann.json"


def test_coco_crops_with_margin_and_issues(tmp_path, mk):
    path = _coco(tmp_path, mk, [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 40, 20]},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [80, 60, 40, 40]},   # clipped to 20x20
        {"id": 3, "image_id": 1, "category_id": 9, "bbox": [0, 0, 5, 5]},       # unknown category
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 3]},       # empty box
        {"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5]},       # image file missing
        {"id": 6, "image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5]},       # unknown image
    ])
    data = load_classification(path, margin=0.1)
    assert data.source == "coco" and data.classes == ["starfish", "urchin"]
    s1, s2 = data.samples
    assert s1.box == pytest.approx((6, 18, 54, 42)) and s1.group == "p1.jpg"
    assert s2.box == pytest.approx((78, 58, 102, 82))
    assert _kinds(data) == ["clipped_box", "empty_box", "missing_image", "unknown_category", "unknown_image"]
    ds = ImageDataset(data.samples, data.class_to_idx)
    im, label = ds[1]
    assert im.size == (24, 24) and label == 1  # padded past the image edge, not shrunk
    with pytest.raises(DataError, match="4 problem"):  # clipping alone does not stop
        load_classification(path, on_error="stop")


def test_coco_images_folder_option_and_bad_json(tmp_path, mk):
    path = _coco(tmp_path, mk, [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9]}], images_dir="pics")
    with pytest.raises(DataError, match=r"no usable samples.*p1\.jpg"):  # not beside the JSON
        load_classification(path)
    data = load_classification(path, images=tmp_path / "pics")
    assert len(data.samples) == 1 and data.samples[0].path.parent.name == "pics"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.json.*cannot be read"):
        load_classification(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DataError, match="not a COCO file"):
        load_classification(tmp_path / "list.json")


def test_coralnet_points(tmp_path, mk):
    mk.image(tmp_path / "images/q1.jpg", size=(300, 200))
    mk.truncated(tmp_path / "images/q2.jpg")
    (tmp_path / "points.csv").write_text(
        "Name,Date,Row,Column,Label\n"
        "q1.jpg,2020-01-01,100,150,CCA\n"
        "q1.jpg,2020-01-01,5,290,Porites\n"     # near the corner: patch padded
        "q1.jpg,2020-01-01,250,10,Sand\n"       # row outside a 200-px-high image
        "q1.jpg,2020-01-01,abc,10,Sand\n"       # not a number
        "q3.jpg,2020-01-01,1,1,Sand\n"          # no such image
        "q2.jpg,2020-01-01,1,1,Sand\n")         # unreadable image
    assert detect_format(tmp_path / "points.csv") == "coralnet"
    data = load_classification(tmp_path / "points.csv", patch_size=64)
    assert data.source == "coralnet" and data.classes == ["CCA", "Porites"]
    a, b = data.samples
    assert a.box == (118, 68, 182, 132) and a.group == "q1.jpg" and a.meta["row"] == 100
    assert {i.line: i.kind for i in data.issues if i.line} == {4: "outside_image", 5: "bad_row", 6: "missing_file"}
    assert any(i.kind == "unreadable" and "q2.jpg" in i.path for i in data.issues)
    im, _ = ImageDataset(data.samples, data.class_to_idx)[1]
    assert im.size == (64, 64)
    assert data.unit() == "patches (cut from 1 photo)"  # how training messages count them
    with pytest.raises(DataError, match=r"points\.csv:4: point \(row 250, column 10\) is outside q1\.jpg"):
        load_classification(tmp_path / "points.csv", on_error="stop")


def test_coralnet_default_patch_and_format_override(tmp_path, mk):
    mk.image(tmp_path / "q.png", size=(50, 50))
    (tmp_path / "pts.csv").write_text("Name,Row,Column,Label\nq.png,25,25,Algae\n")
    s = load_classification(tmp_path / "pts.csv", format="coralnet", images=tmp_path).samples[0]
    assert s.box == (-87, -87, 137, 137)  # 224 px patch, mostly padding


def test_unknown_format_path_and_policy(tmp_path, mk):
    mk.image(tmp_path / "x.jpg")
    with pytest.raises(DataError, match="not a folder, .csv or .json"):
        load_classification(tmp_path / "x.jpg")
    with pytest.raises(DataError, match="format='yolo' is not known"):
        load_classification(tmp_path, format="yolo")
    with pytest.raises(DataError, match="no such file"):
        load_classification(tmp_path / "nothing")
    with pytest.raises(DataError, match="on_error='ignore'"):
        load_classification(tmp_path, on_error="ignore")


def test_min_per_class_drops_with_issue(tmp_path, mk):
    for i in range(3):
        mk.image(tmp_path / f"common/{i}.jpg")
    mk.image(tmp_path / "single/0.jpg")
    data = load_classification(tmp_path, min_per_class=2)
    assert data.classes == ["common"] and _kinds(data) == ["rare_class"]
    assert "'single' has 1 sample" in data.issues[0].problem
