import json

import pytest

from benthos.cli.main import main


def test_cli_train_evaluate_predict(tiny_coco, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--detector", "yolo_lite0",
                 "--image-size", "96", "--epochs", "1", "--batch-size", "2", "--trainable-stages", "2",
                 "--no-pretrained"]) == 0
    assert json.loads((run / "run.json").read_text())["config"]["trainable_stages"] == 2
    capsys.readouterr()
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--split", "all", "--json"]) == 0
    m = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert {"mAP", "AP50", "per_class"} <= set(m) and set(m["per_class"]["star"]) >= {"AP", "AP50"}
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--split", "all"]) == 0
    assert "nan" not in capsys.readouterr().out  # undefined values print as a dash
    assert main(["detect", "predict", str(run), str(tiny_coco.parent / "images"), "--out", str(tmp_path / "p"),
                 "--tile", "64"]) == 0
    assert (tmp_path / "p" / "detections.csv").is_file() and (tmp_path / "p" / "counts.csv").is_file()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["detect", "train", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r")]) == 2
    assert "no such COCO JSON" in capsys.readouterr().err
    assert main(["detect", "train", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r"),
                 "--detector", "fasterrcnn"]) == 2
    assert main(["detect", "predict", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "p")]) == 2
    assert "run.json" in capsys.readouterr().err


def test_cli_refuses_a_split_file_of_other_data_in_one_line(tiny_coco, tmp_path, capsys):
    (tmp_path / "split.json").write_text(json.dumps({"train": ["/x/a.jpg"], "val": ["/x/b.jpg"]}))
    run = tmp_path / "r"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--detector", "yolo_lite0", "--no-pretrained",
                 "--image-size", "96", "--split", str(tmp_path / "split.json")]) == 2
    err = capsys.readouterr().err
    assert "not in the annotations" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (run / "split.json").exists()


def test_bad_anchor_sizes_refused_before_the_run_folder_is_written(tiny_coco, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--detector", "retinanet_lite0_fpn",
                 "--anchor-sizes", "[[16, 32]]", "--no-pretrained", "--image-size", "96"]) == 2
    err = capsys.readouterr().err
    assert "one list of sizes per map" in err and "Traceback" not in err
    assert not run.exists()



def test_json_output_has_no_nan():
    import numpy as np

    from benthos.runs.atomic import json_safe

    m = {"AP50": float("nan"), "per_class": {"a": {"AP": float("nan"), "gt": 0}}, "curve": [0.5, float("nan")],
         "np": np.array([1.0, np.inf]), "scalar": np.float32("nan"), "t": (1, float("-inf")), "name": "x"}
    assert json.dumps(json_safe(m), allow_nan=False) == \
        '{"AP50": null, "per_class": {"a": {"AP": null, "gt": 0}}, "curve": [0.5, null], "np": [1.0, null], ' \
        '"scalar": null, "t": [1, null], "name": "x"}'
