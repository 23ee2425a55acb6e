"""Test-time RPN proposals (the default's 500) and RoIAlign sampling points (the default's 1 x 1), recorded in
the run and beside the detections; --test-proposals, --test-roi-sampling."""
import json

import pytest

from benthos.cli.main import main
from benthos.detect.config import DetectConfig


def test_the_default_detector_keeps_500_proposals_at_test_time_and_others_none():
    assert DetectConfig().resolved().test_proposals == 500
    assert DetectConfig(model="fasterrcnn_lite0_p2fpn").resolved().test_proposals is None  # torchvision's 1000
    with pytest.raises(Exception, match="no region proposal network"):
        DetectConfig(model="yolo_lite0", test_proposals=300).resolved()


def test_the_default_detector_samples_one_point_per_roi_bin_at_test_time_and_others_as_built():
    from benthos.errors import ConfigError

    assert DetectConfig().resolved().test_roi_sampling == 1
    assert DetectConfig(model="fasterrcnn_lite0_p2fpn").resolved().test_roi_sampling is None  # torchvision's 2
    assert DetectConfig(roi_op="pool").resolved().test_roi_sampling is None  # RoI max pooling samples nothing
    for bad, words in [(dict(roi_op="pool", test_roi_sampling=1), "roi_op pool"),
                       (dict(model="yolo_lite0", test_roi_sampling=1), "yolo_lite0"),
                       (dict(test_roi_sampling=0), "use 1 to 16")]:
        with pytest.raises(ConfigError, match=words):
            DetectConfig(**bad).resolved()


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


def test_a_run_predicts_with_its_roi_sampling_and_the_flag_overrides_it(run, tiny_coco, tmp_path):
    from benthos.detect.build import load_detector, roi_sampling_of

    assert json.loads((run / "run.json").read_text())["config"]["test_roi_sampling"] == 1
    for backend in ("torch", "onnx"):  # the exported graph has it baked in, and says so
        assert roi_sampling_of(load_detector(run, backend=backend)[0]) == 1
        assert roi_sampling_of(load_detector(run, backend=backend, test_roi_sampling=2)[0]) == 2
    images = str(tiny_coco.parent / "images")
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "a"), "--test-roi-sampling", "2"]) == 0
    assert json.loads((tmp_path / "a" / "detections.csv.json").read_text())["test_roi_sampling"] == 2
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--out", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["test_roi_sampling"] == 1


def test_a_run_trained_before_the_setting_keeps_torchvisions_1000(run, tmp_path):
    import shutil

    from benthos.detect.build import load_detector, test_proposals_of
    from benthos.runs.run import read_meta, write_meta

    old = tmp_path / "old"
    shutil.copytree(run, old)
    meta = read_meta(old)
    meta["config"]["test_proposals"] = None  # as runs trained before 2026-12-07 recorded it
    meta["config"].pop("test_roi_sampling")  # and before 2026-12-08: no such key
    write_meta(old, meta)
    assert test_proposals_of(load_detector(old)[0]) == 1000
    from benthos.detect.build import roi_sampling_of

    assert roi_sampling_of(load_detector(old)[0]) == 2
