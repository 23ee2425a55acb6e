"""The classification commands end to end at tiny sizes, including bad input."""
import csv
import json
import os
import shutil

import pytest

from benthos.cli.main import main

TINY = ["--model", "lenet5", "--weights", "none", "--input-size", "32", "--epochs", "2", "--batch-size", "8",
        "--num-workers", "0", "--lr", "0.01"]


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory):
    """Three taxa plus the usual damage: a zero-byte file, a truncated JPEG, a text file
    named .jpg, an empty class folder and a class with a single image."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("messy")
    rng = np.random.default_rng(1)
    for name, rgb in {"asteroidea": (200, 60, 40), "echinoidea": (40, 160, 60), "porifera": (50, 70, 200)}.items():
        (root / name).mkdir()
        for i in range(12):
            arr = np.clip(rng.normal(rgb, 30, size=(36, 36, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{i}.jpg")
    (root / "asteroidea" / "empty.jpg").write_bytes(b"")
    good = (root / "echinoidea" / "0.jpg").read_bytes()
    (root / "echinoidea" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "porifera" / "notes.jpg").write_text("not an image")
    (root / "empty_class").mkdir()
    (root / "lonely").mkdir()
    Image.new("RGB", (36, 36), (9, 9, 9)).save(root / "lonely" / "only.jpg")
    return root


def test_train_evaluate_predict_report_on_messy_data(messy_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(messy_folder), "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "data problems were skipped" in out and "held-out test" in out
    meta = json.loads((run / "run.json").read_text())
    issues = " ".join(meta["data"]["issues"])
    assert "empty.jpg" in issues and "truncated.jpg" in issues and "notes.jpg" in issues
    assert (run / "report.html").is_file() and (run / "evaluation.json").is_file()

    assert main(["evaluate", str(run), str(messy_folder), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["n"] > 30 and "per_class" in ev and "balanced_accuracy" in ev and "macro_f1" in ev

    preds = tmp_path / "preds.csv"
    assert main(["predict", str(run), str(messy_folder / "porifera"), "--out", str(preds), "--top-k", "2",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "notes.jpg" in captured.err  # unreadable file named, not a crash
    rows = list(csv.DictReader(open(preds)))
    assert len(rows) == 12 and {"label", "score", "label_2", "energy"} <= set(rows[0])
    assert abs(sum(float(v) for k, v in rows[0].items() if k.startswith("prob:")) - 1) < 1e-3

    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "Per-class scores" in html
    # the biodiversity sections of a predictions CSV join the run's report
    assert main(["report", str(run), "--predictions", str(preds), "--by", "folder"]) == 0
    html = (run / "report.html").read_text()
    assert "Counts per taxon" in html and "Rarefaction" in html and "Confusion matrix" in html


def test_evaluate_with_unknown_labels(messy_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(messy_folder), "--out", str(run), *TINY]) == 0
    other = tmp_path / "other"
    shutil.copytree(messy_folder / "porifera", other / "porifera")
    shutil.copytree(messy_folder / "porifera", other / "holothuroidea")
    capsys.readouterr()
    assert main(["evaluate", str(run), str(other), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["unknown_labels"] == {"holothuroidea": 12}


@pytest.mark.parametrize("argv,message", [
    (["train", "/no/such/folder", "--out", "x"], "no/such/folder"),
    (["train", ".", "--strategy", "finetune", "--out", "x"], "unknown strategy"),
    (["evaluate", "/no/such/run"], "no such run folder"),
    (["predict", "/no/such/run", "."], "no such run folder"),
    (["predict", "/no/such/run", ".", "--device", "quantum"], "not a device name"),
    (["evaluate", "/no/such/run", "--device", "cuda:7"], "cuda:7"),
    (["detect", "predict", "/no/such/run", ".", "--out", "x", "--device", "quantum"], "not a device name"),
])
def test_bad_input_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # a run that never started leaves no empty run folder


def test_device_flag_is_undone_after_the_command(monkeypatch, capsys):
    """--device sets BENTHOS_DEVICE for one command only (main() may run many times in a process)."""
    monkeypatch.delenv("BENTHOS_DEVICE", raising=False)
    assert main(["evaluate", "/no/such/run", "--device", "cpu"]) == 2
    assert "BENTHOS_DEVICE" not in os.environ
    monkeypatch.setenv("BENTHOS_DEVICE", "cpu")
    main(["evaluate", "/no/such/run", "--device", "auto"])
    assert os.environ["BENTHOS_DEVICE"] == "cpu"
