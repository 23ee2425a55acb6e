"""Every bad input of issue 34 that reaches a reader: a named skipped record or a one-line DataError,
never a traceback and never another value; paths outside the data folder refused unless allowed."""
import json
from pathlib import Path

import numpy as np
import pytest

from benthos.cli.main import main
from benthos.data import load_classification
from benthos.data.detection import read_coco, read_voc, read_yolo
from benthos.errors import DataError

CATS = [{"id": 1, "name": "star"}]


@pytest.fixture
def coco(tmp_path, mk):
    """write(images=..., annotations=..., categories=...) -> the JSON's path; images/a.jpg is 64x48."""
    mk.image(tmp_path / "images" / "a.jpg", size=(64, 48))

    def write(images=None, annotations=(), categories=CATS, raw: str | None = None, name="ann.json") -> Path:
        doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}] if images is None else images,
               "categories": categories, "annotations": list(annotations)}
        (tmp_path / name).write_text(raw if raw is not None else json.dumps(doc))
        return tmp_path / name
    return write


def _ann(bbox, **kw):
    return {"id": 1, "image_id": 1, "category_id": 1, "bbox": bbox, **kw}


def _problems(data):
    return [(i.kind, i.problem) for i in data.issues]


@pytest.mark.parametrize("bbox", [[10, "a", 20, 20], ["10", "10", "20", "20"], [10, 10, 20], "10 10 20 20",
                                  [10, 10, True, 20], [1e308, 10, 1e308, 20], None])
def test_a_bbox_that_is_not_four_numbers_is_refused_named_not_turned_into_another_box(coco, bbox):
    data = read_coco(coco(annotations=[_ann(bbox)]))
    assert [len(r.boxes) for r in data.records] == [0]  # the image stays (a negative), the box does not
    ((kind, problem),) = _problems(data)
    assert kind == "bad_record" and "annotation id 1" in problem and "not four finite numbers" in problem


def test_nan_and_infinite_bboxes_are_refused_at_the_reader(coco):
    raw = json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}], "categories": CATS,
                      "annotations": [_ann([1, 1, 5, 5], id=1), _ann([1, 1, 5, 5], id=2), _ann([1, 1, 5, 5], id=3)]})
    raw = raw.replace("[1, 1, 5, 5]", "[NaN, 1, 5, 5]", 1).replace("[1, 1, 5, 5]", "[1, Infinity, 5, 5]", 1)
    data = read_coco(coco(raw=raw))
    assert data.records[0].boxes.tolist() == [[1, 1, 6, 6]]  # only id 3
    assert [k for k, _ in _problems(data)] == ["bad_record", "bad_record"]


@pytest.mark.parametrize("image, why", [
    ({"id": 1, "file_name": "a.jpg", "width": "wide", "height": 48}, "width 'wide'"),
    ({"id": 1, "file_name": "a.jpg", "width": 64}, "height None"),
    ({"id": 1, "file_name": "a.jpg", "width": -64, "height": 48}, "width -64"),
    ({"id": 1, "file_name": "a.jpg", "width": 64.5, "height": 48}, "width 64.5"),
    ({"id": "1", "file_name": "a.jpg", "width": 64, "height": 48}, "id '1' is not an integer"),
    ({"id": 1, "file_name": 7}, "file_name 7 is not a file name"),
    ({"id": 1, "file_name": ""}, "is not a file name"),
    ("a.jpg", "images[0] is a string, not an object"),
])
def test_an_image_entry_of_the_wrong_type_is_skipped_named_with_its_boxes(coco, image, why):
    data = read_coco(coco(images=[image], annotations=[_ann([1, 1, 5, 5])]))
    assert data.records == []
    assert any(k == "bad_record" and why in p for k, p in _problems(data)), _problems(data)


def test_string_ids_and_annotations_that_are_not_objects_are_skipped_named(coco):
    data = read_coco(coco(annotations=[7, [1, 2], _ann([1, 1, 5, 5], image_id="1"), _ann([1, 1, 5, 5], id="x", image_id=1),
                                       _ann([1, 1, 5, 5], id=2, category_id=[1]), _ann([1, 1, 5, 5], id=3)]))
    assert data.records[0].boxes.tolist() == [[1, 1, 6, 6]] and data.records[0].annotation_ids == [3]
    problems = " | ".join(p for _, p in _problems(data))
    for part in ("annotations[0] is a number", "annotations[1] is a list", "image_id '1' is not an integer",
                 "id 'x' is not an integer", "category_id [1] is not in the category list"):
        assert part in problems


@pytest.mark.parametrize("categories, why", [
    ([{"name": "star"}], r"categories\[0\] \('star'\) has no integer 'id'"),
    ([{"id": "1", "name": "star"}], "has no integer 'id'"),
    (["star"], r"categories\[0\] is a string"),
    ([{"id": 1, "name": ["star"]}], "is not a name"),
])
def test_a_category_list_that_cannot_be_used_is_one_data_error(coco, categories, why):
    with pytest.raises(DataError, match=why):
        read_coco(coco(categories=categories))


@pytest.mark.parametrize("raw, why", [
    ('{"images": {"id": 1}, "categories": []}', "'images' is an object, not a list"),
    ('{"images": [], "categories": [], "annotations": "none"}', "'annotations' is a string"),
    ("[]", "not a COCO file"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
])
def test_a_coco_file_of_the_wrong_shape_is_one_data_error(coco, raw, why):
    with pytest.raises(DataError, match=why):
        read_coco(coco(raw=raw))


def test_a_coco_file_that_is_not_utf8_is_one_data_error_naming_the_line(coco, tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes('{"images": [],\n "categories": [{"id": 1, "name": "\xe9toile"}]}'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.json:2: not UTF-8"):
        read_coco(path)


def test_a_huge_image_without_its_size_goes_through_the_safe_loader(coco, tmp_path, mk):
    mk.bomb(tmp_path / "images" / "huge.png")
    data = read_coco(coco(images=[{"id": 1, "file_name": "huge.png"}], annotations=[_ann([1, 1, 5, 5])]))
    assert data.records == []
    ((kind, problem),) = _problems(data)
    assert kind == "unreadable" and "decompression-bomb" in problem and "ann.json" in problem


def test_the_crop_reader_follows_the_same_rules_a_duplicate_annotation_counts_once(coco):
    path = coco(annotations=[_ann([1, 1, 20, 20]), _ann([2, 2, 20, 20]), _ann(["1", 1, 20, 20], id=2),
                             _ann([3, 3, 0.5, 20], id=3)])
    data = load_classification(path, margin=0.0)
    assert [s.box for s in data.samples] == [(1.0, 1.0, 21.0, 21.0)]
    assert data.samples[0].meta == {"annotation_id": 1} and data.samples[0].group == "a.jpg"
    assert sorted(i.kind for i in data.issues) == ["bad_record", "duplicate_id", "small_box"]


# -- paths outside the data folder --------------------------------------------------------------

@pytest.fixture
def outside_image(tmp_path, mk):
    """An image beside (not inside) the data folder tmp_path/data."""
    return mk.image(tmp_path / "elsewhere" / "b.jpg", size=(64, 48))


def test_coco_file_names_outside_the_images_folder_are_refused_unless_allowed(tmp_path, mk, outside_image):
    data_dir = tmp_path / "data"
    mk.image(data_dir / "images" / "a.jpg", size=(64, 48))
    doc = {"images": [{"id": 1, "file_name": "../elsewhere/b.jpg", "width": 64, "height": 48},
                      {"id": 2, "file_name": str(outside_image), "width": 64, "height": 48},
                      {"id": 3, "file_name": "/etc/passwd", "width": 64, "height": 48},
                      {"id": 4, "file_name": "a.jpg", "width": 64, "height": 48}],
           "categories": CATS, "annotations": [_ann([1, 1, 5, 5], image_id=2)]}
    (data_dir / "ann.json").write_text(json.dumps(doc))
    data = read_coco(data_dir / "ann.json")
    assert [r.image_id for r in data.records] == [4]
    outside = [i for i in data.issues if i.kind == "outside_folder"]
    assert len(outside) == 3 and "--allow-outside-paths" in outside[0].problem and "and its 1 box" in outside[1].problem
    allowed = read_coco(data_dir / "ann.json", allow_outside=True)
    assert [r.image_id for r in allowed.records] == [1, 2, 3, 4]  # /etc/passwd: size given, so no check here...
    with pytest.raises(DataError):  # ... and as an image it is refused when opened
        from benthos.data import check_image
        check_image(allowed.records[2].image_path)


def test_data_convert_does_not_take_etc_passwd_from_a_coco_file(tmp_path, capsys):
    (tmp_path / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "../../../../../../../../etc/passwd", "width": 64, "height": 48}],
        "categories": CATS, "annotations": [_ann([1, 1, 5, 5])]}))
    assert main(["data", "convert", str(tmp_path / "ann.json"), str(tmp_path / "out.json"), "--from", "coco",
                 "--to", "coco"]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["images"] == []
    assert "outside the data folder" in capsys.readouterr().err


def test_manifest_paths_outside_its_folder_are_refused_unless_allowed(tmp_path, mk, outside_image):
    mk.image(tmp_path / "data" / "img" / "a.jpg")
    mk.image(tmp_path / "data" / "img" / "c.jpg")
    (tmp_path / "data" / "m.csv").write_text(f"path,label\nimg/a.jpg,fish\n../elsewhere/b.jpg,crab\n{outside_image},crab\n"
                                             f"{tmp_path / 'data' / 'img' / 'c.jpg'},crab\n")
    data = load_classification(tmp_path / "data" / "m.csv")
    assert sorted(s.path.name for s in data.samples) == ["a.jpg", "c.jpg"]  # an absolute path inside is fine
    assert {i.line: i.kind for i in data.issues} == {3: "outside_folder", 4: "outside_folder"}
    allowed = load_classification(tmp_path / "data" / "m.csv", allow_outside=True)
    assert sorted(s.path.name for s in allowed.samples) == ["a.jpg", "b.jpg", "b.jpg", "c.jpg"]


def test_a_link_inside_the_data_folder_is_the_users_own_and_stays_allowed(tmp_path, mk, outside_image):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "photos").symlink_to(outside_image.parent, target_is_directory=True)
    (tmp_path / "data" / "m.csv").write_text("path,label\nphotos/b.jpg,crab\nphotos/b.jpg,fish\n")
    assert len(load_classification(tmp_path / "data" / "m.csv").samples) == 2


def test_coralnet_names_outside_the_images_folder_are_refused_unless_allowed(tmp_path, mk, outside_image):
    mk.image(tmp_path / "data" / "images" / "a.jpg", size=(64, 48))
    (tmp_path / "data" / "points.csv").write_text(f"Name,Row,Column,Label\na.jpg,10,10,fish\na.jpg,20,20,crab\n"
                                                  f"../../elsewhere/b.jpg,10,10,crab\n{outside_image},5,5,fish\n")
    data = load_classification(tmp_path / "data" / "points.csv", patch_size=8)
    assert [s.path.name for s in data.samples] == ["a.jpg", "a.jpg"]
    assert sorted(i.line for i in data.issues if i.kind == "outside_folder") == [4, 5]
    assert len(load_classification(tmp_path / "data" / "points.csv", patch_size=8, allow_outside=True).samples) == 4


def test_voc_file_names_outside_the_dataset_are_refused(tmp_path, mk, outside_image):
    (tmp_path / "voc" / "Annotations").mkdir(parents=True)
    (tmp_path / "voc" / "Annotations" / "x.xml").write_text(
        "<annotation><filename>../../elsewhere/b.jpg</filename><size><width>1e400</width><height>48</height></size>"
        "<object><name>star</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>nan</xmax><ymax>12</ymax></bndbox></object>"
        "</annotation>")
    data = read_voc(tmp_path / "voc")
    assert data.records == [] and [i.kind for i in data.issues] == ["outside_folder"]
    allowed = read_voc(tmp_path / "voc", allow_outside=True)  # the size read from the image; the NaN box named
    assert (allowed.records[0].width, allowed.records[0].height) == (64, 48) and len(allowed.records[0].boxes) == 0
    assert [i.kind for i in allowed.issues] == ["bad_record"]


# -- YOLO, manifests ------------------------------------------------------------------------------

def test_yolo_class_fields_that_are_not_whole_numbers_are_skipped_named(tmp_path, mk):
    mk.image(tmp_path / "images" / "a.jpg", size=(64, 48))
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("star\nurchin\n")
    (tmp_path / "labels" / "a.txt").write_text("1e400 0.5 0.5 0.1 0.1\n0.5 0.5 0.5 0.1 0.1\nnan 0.5 0.5 0.1 0.1\n"
                                               "0 0.5 nan 0.1 0.1\n1.0 0.5 0.5 0.5 0.5\n")
    data = read_yolo(tmp_path)
    assert data.records[0].labels.tolist() == [1]
    assert {i.line: i.kind for i in data.issues} == {1: "bad_record", 2: "bad_record", 3: "bad_record", 4: "bad_record"}
    assert "class '1e400' is not a whole number" in data.issues[0].problem


@pytest.mark.parametrize("yaml_text, why", [("names: {0: a, 2: c}\n", "keys must be the class numbers 0..1"),
                                            ("- a\n- b\n", "expected a mapping with a 'names' list"),
                                            ("names: [a, [b]]\n", "'names' must list the class names"),
                                            ("names: []\n", "'names' must list the class names"),
                                            ("names: 5\n", "expected a mapping")])
def test_yolo_class_names_that_would_shift_labels_are_one_error(tmp_path, yaml_text, why):
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text(yaml_text)
    with pytest.raises(DataError, match=why):
        read_yolo(tmp_path)


def test_a_latin1_manifest_is_one_line_naming_the_line_and_the_fix(tmp_path, mk, capsys):
    """Refused, not guessed: read as Latin-1 'étoile' would be right here, but a wrong guess (cp1252, MacRoman)
    silently changes labels and file names, and UTF-8 names on disk would not match them anyway."""
    mk.image(tmp_path / "img" / "a.jpg")
    (tmp_path / "m.csv").write_bytes("path,label\nimg/a.jpg,fish\nimg/a.jpg,\xe9toile\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"m\.csv:3: not UTF-8 text \(byte 0xe9;.*CSV UTF-8"):
        load_classification(tmp_path / "m.csv")
    assert main(["data", "inspect", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_manifest_with_a_nul_byte_or_impossible_names_is_named_not_a_traceback(tmp_path, mk):
    mk.image(tmp_path / "img" / "a.jpg")
    (tmp_path / "m.csv").write_bytes(b"path,label\nimg/a.jpg,fish\n" + b"x" * 5000 + b".jpg,crab\nimg/\x00.jpg,crab\n")
    data = load_classification(tmp_path / "m.csv")
    assert {i.line: i.kind for i in data.issues} == {3: "missing_file", 4: "missing_file"}
    (tmp_path / "big.csv").write_text("path,label\nimg/a.jpg,fish\n" + "y" * 200_000 + ",crab\n")
    with pytest.raises(DataError, match=r"big\.csv:3: cannot be read as CSV \(field larger"):
        load_classification(tmp_path / "big.csv")


def test_boxes_are_kept_exact(coco):
    """Values that pass are kept as written: no rounding beyond float32, no swapping."""
    data = read_coco(coco(annotations=[_ann([10.25, 3.5, 20, 30.75])]))
    np.testing.assert_array_equal(data.records[0].boxes, np.array([[10.25, 3.5, 30.25, 34.25]], np.float32))


def test_evaluate_passes_allow_outside_paths_to_its_reader(monkeypatch, capsys):
    """`benthos evaluate` reads DATA inside benthos.tasks; the flag reaches the reader as an argument."""
    import benthos.tasks

    seen = []
    monkeypatch.setattr(benthos.tasks, "evaluate_run", lambda *a, **k: seen.append(k.get("allow_outside")) or {})
    main(["evaluate", "run", "data", "--allow-outside-paths", "--json"])
    main(["evaluate", "run", "data", "--json"])
    assert seen == [True, False]
