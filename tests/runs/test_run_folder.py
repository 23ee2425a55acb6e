"""One run folder for every kind: written and read by benthos.runs, checked on load, old folders still read."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from benthos.cli.main import main
from benthos.data import sample_path
from benthos.errors import BenthosError, WeightsError
from benthos.runs import load_run, read_meta

LEGACY = Path(__file__).parent / "legacy_v1"


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    from benthos.train import TrainConfig, train

    out = tmp_path_factory.mktemp("cls") / "run"
    train(TrainConfig(data=str(sample_path("aquarium") / "crops" / "manifest.csv"), out=str(out), model="lenet5",
                      weights=None, epochs=1, batch_size=16, num_workers=0, report=False))
    return out


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory):
    from benthos.detect.config import DetectConfig
    from benthos.tasks.detect import train

    out = tmp_path_factory.mktemp("det") / "run"
    train(str(sample_path("aquarium") / "detection" / "annotations.json"), out,
          DetectConfig(model="yolo_lite0", backbone="test_efficientnet", input_size=64, epochs=1, batch_size=2,
                       limit_train_batches=1, pretrained_backbone=False), log=lambda s: None)
    return out


def test_every_kind_records_its_kind_schema_and_weights(classifier_run, detector_run):
    for run, kind, arch in ((classifier_run, "classifier", "lenet5"), (detector_run, "detector", "yolo_lite0")):
        meta = read_meta(run)
        assert (meta["kind"], meta["schema_version"], meta["architecture"]) == (kind, 2, arch)
        assert meta["weights"]["file"] == "model.safetensors" and len(meta["weights"]["sha256"]) == 64
        assert meta["weights"]["bytes"] == (run / "model.safetensors").stat().st_size
        for name in ("config.yaml", "split.json", "logs/metrics.csv"):
            assert (run / name).is_file(), (run, name)
        assert {"classes", "config", "split", "versions"} <= set(meta)
        model, again = load_run(run)
        assert again["kind"] == kind and not model.training


def test_a_command_handed_the_other_kind_says_so_in_one_line(classifier_run, detector_run, tmp_path, capsys):
    images = str(sample_path("aquarium") / "detection" / "images")
    ann = str(sample_path("aquarium") / "detection" / "annotations.json")
    for argv, kind, said in (
        (["predict", str(detector_run), images, "--out", str(tmp_path / "p.csv")], "detector", "benthos detect predict"),
        (["evaluate", str(detector_run)], "detector", "benthos detect predict"),
        (["detect", "predict", str(classifier_run), images, "--out", str(tmp_path / "d")], "classifier",
         "benthos predict"),
        (["detect", "evaluate", str(classifier_run), ann], "classifier", "benthos predict"),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err and f"is a {kind} run" in err, err
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "d").exists()


def test_damaged_weights_never_predict(classifier_run, detector_run, tmp_path, capsys):
    for run in (classifier_run, detector_run):
        copy = tmp_path / run.parent.name
        shutil.copytree(run, copy)
        w = copy / "model.safetensors"
        data = bytearray(w.read_bytes())
        data[len(data) // 2: len(data) // 2 + 4096] = bytes(4096)  # 4 KB overwritten mid-file
        w.write_bytes(bytes(data))
        with pytest.raises(WeightsError, match="SHA-256 differs"):
            load_run(copy)
        w.write_bytes(bytes(data[: len(data) // 3]))  # truncated
        with pytest.raises(WeightsError):
            load_run(copy)
        w.unlink()
        with pytest.raises(WeightsError, match="no model.safetensors"):
            load_run(copy)


def test_legacy_weights_without_a_checksum_are_checked_for_nan(classifier_run, tmp_path):
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "old"
    shutil.copytree(classifier_run, copy)
    meta = json.loads((copy / "run.json").read_text())
    meta.pop("weights"), meta.pop("kind"), meta.pop("schema_version")  # as written before the checksum
    (copy / "run.json").write_text(json.dumps(meta))
    sd = load_file(str(copy / "model.safetensors"))
    next(v for v in sd.values() if v.is_floating_point()).view(-1)[0] = float("nan")
    save_file(sd, str(copy / "model.safetensors"))
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_run(copy)


@pytest.mark.parametrize("text, said", [
    ("[1, 2]", "not a JSON object"), ('{"kind": "classifier", "archi', "not valid JSON"),
    ('{"kind": "sonar", "architecture": "x", "classes": ["a"]}', "'kind' is 'sonar'"),
    ('{"kind": "detector", "architecture": "yolo_lite0", "classes": "ab", "config": {}}', "'classes'"),
    ('{"schema_version": 99, "architecture": "x"}', "newer benthos"),
    ('{"architecture": "lenet5", "classes": ["a", "b"]}', "'preprocessing'"),
])
def test_damaged_run_json_is_one_line(tmp_path, capsys, text, said):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(BenthosError, match=said):
        read_meta(tmp_path)
    assert main(["predict", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def _legacy(tmp_path: Path, kind: str) -> Path:
    """A copy of a run folder as benthos wrote it before run.json had kind and schema_version."""
    sample = sample_path("aquarium")
    dst = tmp_path / "runs" / kind
    shutil.copytree(LEGACY / kind, dst)
    for f in dst.rglob("*"):
        if f.suffix in (".json", ".yaml", ".csv") and f.is_file():
            f.write_text(f.read_text().replace("{SAMPLE}", str(sample)).replace("{RUNS}", str(tmp_path / "runs")))
    if kind == "detector":  # its 1.4 MB weights are not kept: the same keys, rebuilt from its run.json
        from benthos.detect.build import build_model
        from benthos.detect.config import DetectConfig
        from benthos.runs.run import save_weights

        meta = json.loads((dst / "run.json").read_text())
        cfg = DetectConfig.from_dict(meta["config"])
        torch.manual_seed(0)
        save_weights(dst, build_model(cfg, len(meta["categories"])).state_dict())
    return dst


def test_runs_written_before_the_run_format_still_load_and_work(tmp_path, capsys):
    cls = _legacy(tmp_path, "classifier")
    meta = read_meta(cls)
    assert (meta["kind"], meta["schema_version"]) == ("classifier", 1)
    model, _ = load_run(cls)
    assert model.num_classes == len(meta["classes"]) == 7
    assert main(["evaluate", str(cls), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1
    crops = str(sample_path("aquarium") / "crops" / "starfish")
    assert main(["predict", str(cls), crops, "--out", str(tmp_path / "p.csv")]) == 0
    assert len((tmp_path / "p.csv").read_text().splitlines()) > 2

    det = _legacy(tmp_path, "detector")
    meta = read_meta(det)
    assert (meta["kind"], meta["architecture"], meta["classes"][0]) == ("detector", "yolo_lite0", "fish")
    images = str(sample_path("aquarium") / "detection" / "images")
    assert main(["detect", "predict", str(det), images, "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "no counting threshold in the run's run.json" in out and "score >= 0.5" in out  # stated fallback
    ann = str(sample_path("aquarium") / "detection" / "annotations.json")
    assert main(["detect", "evaluate", str(det), ann, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "val"  # its own split.json of the old format
