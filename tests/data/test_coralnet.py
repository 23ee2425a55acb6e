"""CoralNet as its users export it: `Label code`, photos in subfolders, other encodings, its own columns."""
import numpy as np
import pytest
from PIL import Image

from benthos.cli.main import main
from benthos.data import load_classification
from benthos.data.readers import detect_format
from benthos.data.regions import read_coralnet
from benthos.errors import DataError

EXPORT = ("Name,Date,Aux1,Aux2,Aux3,Aux4,Aux5,Height (cm),Latitude,Longitude,Depth,Camera,Photographer,Water quality,"
          "Strobes,Framing gear used,White balance card,Comments,Row,Column,Label code\n")


def _photo(path, size=(120, 90)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(len(str(path))).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _row(name, date, site, r, c, label):
    return f"{name},{date},{site},T1,,,,,12.5,-80.1,5m,GoPro,Ana,,,,,,{r},{c},{label}\n"


@pytest.fixture
def export(tmp_path):
    """A CoralNet export whose photos lie in a folder per site, as surveys keep them."""
    _photo(tmp_path / "photos" / "reefA" / "IMG_1.jpg")
    _photo(tmp_path / "photos" / "reefB" / "IMG_2.jpg")
    (tmp_path / "annotations.csv").write_text(
        EXPORT + _row("IMG_1.jpg", "2024-05-01", "reefA", 10, 20, "Porit") + _row("IMG_1.jpg", "2024-05-01", "reefA", 50, 60, "CCA")
        + _row("IMG_2.jpg", "2024-05-02", "reefB", 30, 30, "CCA") + _row("IMG_2.jpg", "2024-05-02", "reefB", 70, 100, "Sand"),
        encoding="utf-8")
    return tmp_path


def test_label_code_is_read_everywhere_and_photos_found_in_subfolders(export, capsys):
    csv_path, photos = export / "annotations.csv", export / "photos"
    assert detect_format(csv_path) == "coralnet"
    data = load_classification(csv_path, images=photos, patch_size=32)
    assert data.source == "coralnet" and data.classes == ["CCA", "Porit", "Sand"] and not data.issues
    assert {s.path.parent.name for s in data.samples} == {"reefA", "reefB"}
    # `benthos data inspect` (train and evaluate read through the same loader)
    assert main(["data", "inspect", str(csv_path), "--images", str(photos)]) == 0
    assert "Porit" in capsys.readouterr().out


def test_coralnet_columns_are_kept_for_predictions_only_when_asked(export):
    samples, issues = read_coralnet(export / "annotations.csv", export / "photos", 32, labelled=False, columns=True)
    assert not issues and [s.label for s in samples] == ["Porit", "CCA", "CCA", "Sand"]
    cols = samples[2].meta["columns"]
    assert cols["Date"] == "2024-05-02" and cols["Aux1"] == "reefB" and cols["Latitude"] == "12.5" and cols["Height (cm)"] == ""
    assert not {"Name", "Row", "Column", "Label code"} & set(cols)  # the point's own columns are the prediction's
    plain, _ = read_coralnet(export / "annotations.csv", export / "photos", 32)
    assert "columns" not in plain[0].meta  # training samples (split.json) stay small


def test_two_photos_of_one_name_are_refused_not_guessed(export):
    _photo(export / "photos" / "reefB" / "IMG_1.jpg")
    with pytest.raises(DataError, match=r"annotations\.csv:2: photo 'IMG_1\.jpg' is found 2 times under .*"
                                        r"reefA/IMG_1\.jpg, reefB/IMG_1\.jpg"):
        read_coralnet(export / "annotations.csv", export / "photos", 32)
    # a Name with its folder picks one
    text = (export / "annotations.csv").read_text().replace("IMG_1.jpg,", "reefA/IMG_1.jpg,")
    (export / "annotations.csv").write_text(text)
    samples, issues = read_coralnet(export / "annotations.csv", export / "photos", 32)
    assert not issues and samples[0].path == export / "photos" / "reefA" / "IMG_1.jpg"


def test_a_csv_saved_as_latin1_is_refused_with_its_line(export):
    text = (export / "annotations.csv").read_text().replace("Ana", "Zoë")
    (export / "annotations.csv").write_bytes(text.encode("latin-1"))
    for read in (lambda: detect_format(export / "annotations.csv"),
                 lambda: read_coralnet(export / "annotations.csv", export / "photos", 32)):
        with pytest.raises(DataError, match=r"annotations\.csv:2: not UTF-8 text \(byte 0xeb.* save it as 'CSV UTF-8'"):
            read()
    # and Excel's UTF-8 with a byte-order mark is fine
    (export / "annotations.csv").write_bytes(text.encode("utf-8-sig"))
    assert detect_format(export / "annotations.csv") == "coralnet"
    assert len(read_coralnet(export / "annotations.csv", export / "photos", 32)[0]) == 4


def test_missing_label_column_names_what_is_needed(tmp_path):
    (tmp_path / "p.csv").write_text("Name,Row,Column,Comments\nq.png,1,1,x\n")
    with pytest.raises(DataError, match=r"p\.csv:1: a CoralNet CSV needs the columns Name, Row, Column, Label code "
                                        r"\(or Label\); found Name, Row, Column, Comments"):
        read_coralnet(tmp_path / "p.csv", tmp_path)
