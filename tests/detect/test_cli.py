import json

import pytest

from benthos.cli.main import main


def test_cli_train_evaluate_predict(tiny_coco, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--model", "yolo_lite0",
                 "--input-size", "96", "--epochs", "1", "--batch-size", "2", "--trainable-stages", "2",
                 "--no-pretrained-backbone", "--no-vflip"]) == 0
    config = json.loads((run / "run.json").read_text())["config"]
    assert (config["trainable_stages"], config["input_size"], config["vflip"]) == (2, 96, False)
    capsys.readouterr()
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--split", "all", "--json"]) == 0
    m = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert {"mAP", "AP50", "per_class"} <= set(m) and set(m["per_class"]["star"]) >= {"AP", "AP50"}
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--split", "all"]) == 0
    assert "nan" not in capsys.readouterr().out  # undefined values print as a dash
    assert main(["detect", "predict", str(run), str(tiny_coco.parent / "images"), "--out", str(tmp_path / "p"),
                 "--tile", "64", "--tile-overlap", "0.3", "--tta", "--min-score", "0.2"]) == 0
    assert (tmp_path / "p" / "detections.csv").is_file() and (tmp_path / "p" / "counts.csv").is_file()
    out = capsys.readouterr().out
    assert "animals counted (counting boxes with score >= 0.2: given with --min-score)" in out
    record = json.loads((tmp_path / "p" / "detections.csv.json").read_text())
    assert record["tta"] == "flip" and record["tile_overlap"] == 0.3 and record["count_threshold"]["default"] == 0.2


def test_cli_flags_of_earlier_versions_still_work_with_a_note(tiny_coco, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--detector", "yolo_lite0",
                 "--image-size", "96", "--epochs", "1", "--batch-size", "2", "--limit-train-batches", "1",
                 "--no-pretrained"]) == 0
    err = capsys.readouterr().err
    for old, new in (("--detector", "--model"), ("--image-size", "--input-size"),
                     ("--no-pretrained", "--no-pretrained-backbone")):
        assert f"{old} is deprecated; use {new}" in err
    config = json.loads((run / "run.json").read_text())["config"]
    assert (config["model"], config["input_size"], config["pretrained_backbone"]) == ("yolo_lite0", 96, False)
    assert main(["detect", "predict", str(run), str(tiny_coco.parent / "images"), "--out", str(tmp_path / "p"),
                 "--tile", "64", "--overlap", "0.25", "--count-thresh", "0.4"]) == 0
    err = capsys.readouterr().err
    assert "--overlap is deprecated; use --tile-overlap" in err and "--count-thresh is deprecated" in err
    record = json.loads((tmp_path / "p" / "detections.csv.json").read_text())
    assert record["tile_overlap"] == 0.25 and record["count_threshold"]["default"] == 0.4


@pytest.mark.parametrize("args, said", [
    (["--tile", "-5"], "--tile -5"), (["--tile", "256", "--tile-overlap", "1.5"], "--tile-overlap 1.5"),
    (["--min-score", "2"], "--min-score is 2.0"), (["--score-thresh", "-1"], "--score-thresh -1"),
])
def test_cli_predict_refuses_bad_settings_in_one_line(tiny_coco, tmp_path, capsys, args, said):
    run = tmp_path / "run"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--model", "yolo_lite0", "--input-size", "64",
                 "--epochs", "1", "--limit-train-batches", "1", "--no-pretrained-backbone"]) == 0
    capsys.readouterr()
    assert main(["detect", "predict", str(run), str(tiny_coco.parent / "images"), "--out", str(tmp_path / "p"),
                 *args]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "p").exists()


@pytest.mark.parametrize("flag, value, said", [
    ("--lr", "-5", "lr -5.0"), ("--input-size", "0", "input_size 0"), ("--epochs", "99999999999999999999999", "epochs"),
    ("--tile-overlap", "1.5", "tile_overlap 1.5"), ("--model", "fasterrcnn", "unknown detector"),
    ("--val-fraction", "0", "val_fraction 0.0"), ("--lr", "nan", "lr nan"),
])
def test_cli_train_refuses_bad_values_before_anything_is_written(tiny_coco, tmp_path, capsys, flag, value, said):
    run = tmp_path / "r"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), flag, value]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1 and not run.exists()


def test_yaml_config_values_of_the_wrong_type_are_named(tiny_coco, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("epochs: many\n")
    assert main(["detect", "train", str(tiny_coco), "--out", str(tmp_path / "r"), "--config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "c.yaml: epochs: 'many' is not a whole number" in err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["detect", "train", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r")]) == 2
    assert "no such COCO JSON" in capsys.readouterr().err
    assert main(["detect", "train", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r"),
                 "--model", "fasterrcnn"]) == 2
    assert main(["detect", "predict", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "p")]) == 2
    assert "run.json" in capsys.readouterr().err


def test_cli_refuses_a_split_file_of_other_data_in_one_line(tiny_coco, tmp_path, capsys):
    (tmp_path / "split.json").write_text(json.dumps({"train": ["/x/a.jpg"], "val": ["/x/b.jpg"]}))
    run = tmp_path / "r"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--model", "yolo_lite0",
                 "--no-pretrained-backbone", "--input-size", "96", "--split", str(tmp_path / "split.json")]) == 2
    err = capsys.readouterr().err
    assert "not in the annotations" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (run / "split.json").exists()


def test_bad_anchor_sizes_refused_before_the_run_folder_is_written(tiny_coco, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--model", "retinanet_lite0_fpn",
                 "--anchor-sizes", "[[16, 32]]", "--no-pretrained-backbone", "--input-size", "96"]) == 2
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
