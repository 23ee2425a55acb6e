"""benthos data inspect / convert: the report and the CLI."""
from __future__ import annotations

import json
import shutil

import pytest

from benthos.cli.main import main
from benthos.data import format_report, inspect_dataset


@pytest.fixture
def messy(tmp_path, mk):
    for i in range(4):
        mk.image(tmp_path / f"fish/{i}.jpg", size=(40 + i, 30), color=(i * 40, 10, 10))
    mk.image(tmp_path / "crab/g.png", mode="L", color=200)
    shutil.copy(tmp_path / "fish/0.jpg", tmp_path / "crab/copy_of_fish.jpg")  # duplicate, clashing label
    mk.truncated(tmp_path / "crab/cut.jpg")
    (tmp_path / "anemone").mkdir()
    return tmp_path


def test_inspect_report(messy):
    r = inspect_dataset(messy)
    assert r["classes"] == {"crab": 3, "fish": 4} and r["samples"] == 7 and r["files"] == 7
    assert r["imbalance_ratio"] == pytest.approx(4 / 3, abs=1e-3)
    assert r["modes"] == {"RGB": 6, "L": 1}  # the truncated JPEG has a readable header
    assert [u["path"].endswith("cut.jpg") for u in r["unreadable"]] == [True]
    (dup,) = r["duplicates"]
    assert sorted(p.rsplit("/", 1)[-1] for p in dup["files"]) == ["0.jpg", "copy_of_fish.jpg"]
    assert dup["labels"] == ["crab", "fish"]
    assert r["image_sizes"]["max"] == [64, 48] and r["image_sizes"]["min"] == [32, 24]
    assert [i["kind"] for i in r["issues"]] == ["empty_class"]
    text = format_report(r)
    assert "imbalance ratio" in text and "different labels!" in text and "cut.jpg" in text


def test_cli_inspect_json_and_table(messy, capsys):
    assert main(["data", "inspect", str(messy), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["source"] == "folder" and len(r["duplicates"]) == 1
    assert main(["data", "inspect", str(messy)]) == 0
    assert "class" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("benthos: error:") and "missing" in err and "Traceback" not in err


def test_cli_convert_calls_detection(tmp_path, monkeypatch, capsys):
    import benthos.data.detection as det

    calls = []
    monkeypatch.setattr(det, "convert_annotations", lambda *a, **k: calls.append((a, k)))
    assert main(["data", "convert", "a.json", "out", "--from", "coco", "--to", "yolo", "--images", "imgs"]) == 0
    assert main(["data", "convert", "a.json", "out", "--from", "coco", "--to", "yolo", "--allow-outside-paths"]) == 0
    assert calls == [(("a.json", "out", "coco", "yolo"), {"images": "imgs", "allow_outside": False}),
                     (("a.json", "out", "coco", "yolo"), {"images": None, "allow_outside": True})]
