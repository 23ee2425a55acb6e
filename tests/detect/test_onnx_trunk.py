"""The detector trunk in ONNX Runtime (`detect predict/evaluate --backend onnx` for a detector that does not
export as one graph; R-FCN here. The whole-graph export of Faster R-CNN: test_export.py)."""
import json

import numpy as np
import pytest

from benthos.cli.main import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def run(tiny_coco, tmp_path_factory, train_tiny):
    return train_tiny(tiny_coco, tmp_path_factory.mktemp("onnx_trunk") / "run", "rfcn_lite0_fpn")


def _boxes(folder):
    rows = [line.split(",") for line in (folder / "detections.csv").read_text().splitlines()[1:]]
    return rows


def test_onnx_trunk_gives_the_pytorch_detections(run, tiny_coco, tmp_path, capsys):
    images = str(tiny_coco.parent / "images")
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "t"), "--backend", "torch"]) == 0
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "o"), "--backend", "onnx"]) == 0
    assert "backend onnx trunk" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "detections.csv.json").read_text())["backend"] == "onnx trunk"
    assert json.loads((tmp_path / "t" / "detections.csv.json").read_text())["backend"] == "torch"
    torch_rows, onnx_rows = _boxes(tmp_path / "t"), _boxes(tmp_path / "o")
    assert torch_rows, "the tiny detector should output boxes at score threshold 0"
    # the same boxes to float rounding: every box of one has a box of the other with the same label,
    # coordinates within 0.2 px and score within 0.002 (the CSV rounds to 0.1 px and 4 decimals)
    assert abs(len(torch_rows) - len(onnx_rows)) <= 2  # a box right at the score threshold may cross it
    def values(rows):
        return [(r[0], r[1], np.array([float(v) for v in r[2:7]])) for r in rows]
    a, b = values(torch_rows), values(onnx_rows)
    matched = sum(any(i == j and la == lb and abs(va[0] - vb[0]) < 2e-3 and np.abs(va[1:] - vb[1:]).max() < 0.2
                      for j, lb, vb in b) for i, la, va in a)
    assert matched >= len(a) - 2, (matched, len(a))


def test_the_export_is_kept_and_redone_only_when_its_record_differs(run, tiny_coco, tmp_path):
    from benthos.detect.build import backend_of, load_detector
    from benthos.detect.onnx_trunk import FOLDER, RECORD

    model, _ = load_detector(run, backend="onnx")
    assert backend_of(model) == "onnx trunk"
    folder = run / "export" / FOLDER
    onnx_file = folder / "trunk0.onnx"
    stamp = onnx_file.stat().st_mtime_ns
    load_detector(run, backend="onnx")
    assert onnx_file.stat().st_mtime_ns == stamp  # reused
    record = json.loads((folder / RECORD).read_text())
    record["weights_sha256"] = "0" * 64  # as if the run's weights had changed
    (folder / RECORD).write_text(json.dumps(record))
    load_detector(run, backend="onnx")
    assert json.loads((folder / RECORD).read_text())["weights_sha256"] != "0" * 64  # exported again


def test_default_is_pytorch_and_onnx_runs_when_asked(run):
    from benthos.detect.build import backend_of, load_detector

    assert backend_of(load_detector(run, device="cpu")[0]) == "torch"  # a trunk alone: not faster, not the default
    assert backend_of(load_detector(run, device="cpu", backend="onnx")[0]) == "onnx trunk"
    assert backend_of(load_detector(run, device="cpu", backend="onnx", tta="flip")[0]) == "onnx trunk"  # through TTA


def test_onnx_backend_refusals_are_one_line(run, tiny_coco, tmp_path, capsys, monkeypatch):
    import importlib.util

    images = str(tiny_coco.parent / "images")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "o"), "--backend", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install onnx onnxruntime" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setattr(importlib.util, "find_spec", real)
    from benthos.detect import onnx_trunk

    def broken(*a, **k):
        raise RuntimeError("Exporting the operator 'weird_op' to ONNX opset version 17 is not supported")

    monkeypatch.setattr(onnx_trunk, "_export", broken)
    import shutil

    shutil.rmtree(run / "export", ignore_errors=True)
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "p"), "--backend", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "weird_op" in err and "--backend torch" in err and len(err.splitlines()) == 1
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "q")]) == 0  # the default: PyTorch
    assert json.loads((tmp_path / "q" / "detections.csv.json").read_text())["backend"] == "torch"
