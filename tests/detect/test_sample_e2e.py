"""End to end on the bundled CC BY aquarium sample through the CLI (slow: a real, if short, training run)."""
import csv
import json
from importlib import resources
from pathlib import Path

import pytest

from benthos.cli.main import main

SAMPLE = Path(str(resources.files("benthos"))) / "sample" / "aquarium" / "detection"


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE / "annotations.json").is_file(), reason="bundled detection sample not installed")
def test_sample_train_evaluate_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", str(SAMPLE / "annotations.json"), "--images", str(SAMPLE / "images"),
                 "--out", str(run), "--input-size", "320", "--epochs", "2", "--batch-size", "4"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["data"]["images"] >= 30 and "fish" in info["classes"]
    capsys.readouterr()
    assert main(["detect", "evaluate", str(run), str(SAMPLE / "annotations.json"), "--images", str(SAMPLE / "images"),
                 "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert 0.0 <= m["mAP"] <= 1.0 and "fish" in m["per_class"]
    assert (run / "report.html").stat().st_size > 10_000
    assert main(["detect", "predict", str(run), str(SAMPLE / "images"), "--out", str(tmp_path / "pred")]) == 0
    rows = list(csv.reader(open(tmp_path / "pred" / "counts.csv")))
    assert rows[0][0] == "image" and len(rows) == info["data"]["images"] + 2
