"""The whole detector as one ONNX graph: `benthos export` on a detector run, and the graph as the CPU
default of `detect predict/evaluate` (benthos.detect.export)."""
import json

import numpy as np
import pytest

from benthos.cli.main import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def run(tiny_coco, tmp_path_factory, train_tiny):
    return train_tiny(tiny_coco, tmp_path_factory.mktemp("det_export") / "run", "fasterrcnn_lite0_fpn")


def _rows(folder):
    return [line.split(",") for line in (folder / "detections.csv").read_text().splitlines()[1:]]


def test_export_runs_without_torch_and_gives_the_pytorch_boxes(run, tiny_coco, tmp_path, capsys):
    import onnxruntime as ort
    from PIL import Image

    out = tmp_path / "x"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "the whole detector" in said and "found again" in said
    record = json.loads((out / "benthos_export.json").read_text())
    assert record["kind"] == "detector" and record["classes"] == ["star", "urchin"]
    assert record["settings"]["box_vote"] == 0.6 and record["settings"]["test_proposals"] == 500
    from benthos.infer.export import read_record

    assert read_record(out)[1] == record  # the same record inside the model file
    # onnxruntime and numpy alone, as the record says: float RGB in [0, 1], [3, H, W]
    image = tiny_coco.parent / "images" / "f0.jpg"
    x = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255
    boxes, labels, scores = ort.InferenceSession(str(out / "model.onnx")).run(None, {"image": x})
    assert boxes.shape[1] == 4 and len(boxes) == len(labels) == len(scores) > 0
    assert main(["detect", "predict", str(run), str(image), "--out", str(tmp_path / "t"), "--backend", "torch",
                 "--tta", "none"]) == 0
    ref = _rows(tmp_path / "t")
    assert len(ref) == len(boxes)
    # box for box (order aside: the tiny detector's scores tie): the same label, extent to the CSV's 0.1 px, score
    names = [record["classes"][k - 1] for k in labels]
    for r in ref:
        v = np.array([float(x) for x in r[2:7]])
        assert any(n == r[1] and abs(s - v[0]) < 2e-4 and np.abs(b - v[1:]).max() < 0.1
                   for n, s, b in zip(names, scores, boxes)), r


def test_the_graph_is_the_cpu_default_and_its_boxes_are_pytorchs(run, tiny_coco, tmp_path, capsys):
    from benthos.detect.build import backend_of, load_detector, test_proposals_of

    images = str(tiny_coco.parent / "images")
    assert backend_of(load_detector(run, device="cpu")[0]) == "onnx"
    assert test_proposals_of(load_detector(run, device="cpu")[0]) == 500
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "o")]) == 0
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "t"), "--backend", "torch"]) == 0
    assert json.loads((tmp_path / "o" / "detections.csv.json").read_text())["backend"] == "onnx"
    a, b = _rows(tmp_path / "t"), _rows(tmp_path / "o")
    assert a and len(a) == len(b)  # flip TTA (the run's default) merges the graph's boxes as PyTorch's
    theirs = [(r[0], r[1], np.array([float(v) for v in r[2:7]])) for r in b]
    for r in a:  # box for box, order aside (the tiny detector's scores tie)
        v = np.array([float(x) for x in r[2:7]])
        assert any(i == r[0] and n == r[1] and abs(w[0] - v[0]) < 2e-4 and np.abs(w[1:] - v[1:]).max() < 0.11
                   for i, n, w in theirs), r


def test_the_cached_graph_is_redone_when_its_settings_or_weights_differ(run):
    from benthos.detect.build import load_detector, test_proposals_of
    from benthos.detect.export import CACHE
    from benthos.infer.export import INFO

    load_detector(run, device="cpu")
    folder = run / "export" / CACHE
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    load_detector(run, device="cpu")
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp  # reused
    model, _ = load_detector(run, device="cpu", test_proposals=50)
    assert test_proposals_of(model) == 50  # another setting: another graph, never the old one
    assert json.loads((folder / INFO).read_text())["settings"]["test_proposals"] == 50
    record = json.loads((folder / INFO).read_text())
    (folder / INFO).write_text(json.dumps({**record, "weights_sha256": "0" * 64}))  # as if the weights changed
    load_detector(run, device="cpu", test_proposals=50)
    assert json.loads((folder / INFO).read_text())["weights_sha256"] != "0" * 64


def test_detectors_that_do_not_export_and_wrong_options_are_one_line(run, tiny_coco, tmp_path, capsys):
    other = tmp_path / "yolo"
    assert main(["detect", "train", str(tiny_coco), "--out", str(other), "--model", "yolov1_lite0", "--input-size",
                 "96", "--epochs", "1", "--batch-size", "2", "--limit-train-batches", "1",
                 "--no-pretrained-backbone"]) == 0
    capsys.readouterr()
    for argv, words in [([str(other), "--format", "onnx"], ["yolov1_lite0 cannot be exported", "fasterrcnn_lite0_fpn",
                                                            "retinanet_lite0_fpn", "ssd_lite0"]),
                        ([str(run), "--format", "openvino"], ["detectors export to ONNX only"]),
                        ([str(run), "--format", "onnx", "--int8"], ["--int8 is for classifiers"])]:
        assert main(["export", *argv, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert all(w in err for w in words) and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("model", ["retinanet_lite0_fpn", "ssd_lite0"])
def test_torchvisions_other_detectors_export_box_for_box_and_run_with_backend_onnx(model, tiny_coco, tmp_path,
                                                                                   train_tiny):
    from benthos.detect.build import backend_of, load_detector
    from benthos.tasks.detect import compare_detector_export, export_detector

    run = train_tiny(tiny_coco, tmp_path / "run", model)
    record = export_detector(run, "onnx", tmp_path / "x")
    assert record["architecture"] == model
    c = compare_detector_export(run, tmp_path / "x")
    # box for box, but for a box or two at the score threshold (the untrained detector's scores crowd there)
    assert c["boxes_torch"] > 0 and c["matched"] >= c["boxes_torch"] - 2, c
    assert abs(c["boxes_export"] - c["boxes_torch"]) <= 2, c
    assert c["max_score_diff"] < 1e-4
    assert backend_of(load_detector(run, device="cpu")[0]) == "torch"  # not measured faster: not the default
    assert backend_of(load_detector(run, device="cpu", backend="onnx")[0]) == "onnx"
