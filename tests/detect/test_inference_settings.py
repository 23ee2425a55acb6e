"""Test-time RPN proposals: the default's 500, recorded in the run and beside the detections; --test-proposals."""
import json

import pytest

from benthos.cli.main import main
from benthos.detect.config import DetectConfig


def test_the_default_detector_keeps_500_proposals_at_test_time_and_others_none():
    assert DetectConfig().resolved().test_proposals == 500
    assert DetectConfig(model="fasterrcnn_lite0_p2fpn").resolved().test_proposals is None  # torchvision's 1000
    with pytest.raises(Exception, match="no region proposal network"):
        DetectConfig(model="yolo_lite0", test_proposals=300).resolved()


@pytest.fixture(scope="module")
def run(tiny_coco, tmp_path_factory):
    run = tmp_path_factory.mktemp("proposals") / "run"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--input-size", "96", "--epochs", "1",
                 "--batch-size", "2", "--limit-train-batches", "1", "--no-pretrained-backbone"]) == 0
    return run


def test_a_run_predicts_with_its_recorded_proposals_and_the_flag_overrides_them(run, tiny_coco, tmp_path):
    from benthos.detect.build import load_detector, test_proposals_of

    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["model"] == "fasterrcnn_lite0_fpn" and meta["config"]["test_proposals"] == 500
    assert test_proposals_of(load_detector(run)[0]) == 500
    assert test_proposals_of(load_detector(run, test_proposals=50)[0]) == 50
    images = str(tiny_coco.parent / "images")
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "a")]) == 0
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "b"), "--test-proposals", "50"]) == 0
    assert json.loads((tmp_path / "a" / "detections.csv.json").read_text())["test_proposals"] == 500
    assert json.loads((tmp_path / "b" / "detections.csv.json").read_text())["test_proposals"] == 50


def test_a_run_trained_before_the_setting_keeps_torchvisions_1000(run, tmp_path):
    import shutil

    from benthos.detect.build import load_detector, test_proposals_of
    from benthos.runs.run import read_meta, write_meta

    old = tmp_path / "old"
    shutil.copytree(run, old)
    meta = read_meta(old)
    meta["config"]["test_proposals"] = None  # as runs trained before 2026-12-07 recorded it
    write_meta(old, meta)
    assert test_proposals_of(load_detector(old)[0]) == 1000
