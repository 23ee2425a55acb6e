"""`benthos export` and `benthos predict --backend`: exported models carry the run, agree with PyTorch,
and are refused when they belong to another run or version; the adaptive views; the non-finite guard."""
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benthos.cli.main import main
from benthos.infer import backends

HAVE_ONNX = backends.installed("onnx")
HAVE_OPENVINO = backends.installed("openvino")
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="onnx and onnxruntime are not installed")
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "onnxruntime_predict.py"


@pytest.fixture(scope="module")
def run_and_photos(tmp_path_factory, make_tiny_run):
    return make_tiny_run(tmp_path_factory.mktemp("export"), 5, ("asteroidea", "porifera"), "photos",
                         ["a.jpg", "b.png", "c.jpg", "d.jpg"], (40, 52), "broken.png")


def _probs(path: Path) -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(open(path)))
    return {r["image"]: np.array([float(v) for k, v in r.items() if k.startswith("prob:")]) for r in rows}


def _one_line_error(capsys) -> str:
    """The error: one line, the last on stderr (progress lines may come before it), no traceback."""
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("benthos: error: ") and not any("Traceback" in e for e in err), err
    return err[-1]


@needs_onnx
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_export_round_trip_agrees_with_torch(fmt, run_and_photos, tmp_path, capsys):
    if fmt == "openvino" and not HAVE_OPENVINO:
        pytest.skip("openvino is not installed")
    run, photos = run_and_photos
    out = tmp_path / fmt
    assert main(["export", str(run), "--format", fmt, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "same top-1 label on 2/2" in said and "largest probability difference" in said
    record = json.loads((out / "benthos_export.json").read_text())
    meta = json.loads((run / "run.json").read_text())
    from benthos.infer.export import read_record
    from benthos.runs.run import weights_digest

    model_file, inside = read_record(out)
    assert inside == record and model_file.name == ("model.onnx" if fmt == "onnx" else "model.xml")
    assert record["classes"] == meta["classes"] and record["preprocessing"] == meta["preprocessing"]
    assert record["temperature"] == meta["calibration"]["temperature"]
    assert record["weights_sha256"] == weights_digest(run) and record["int8"] is False
    ref, got = tmp_path / "torch.csv", tmp_path / "exported.csv"
    assert main(["predict", str(run), str(photos), "--out", str(ref), "--backend", "torch"]) == 0
    assert main(["predict", str(run), str(photos), "--out", str(got), "--backend", fmt, "--exported", str(out)]) == 0
    assert f"backend {fmt}," in capsys.readouterr().out
    a, b = _probs(ref), _probs(got)
    assert a.keys() == b.keys() and len(a) == 4
    assert max(np.abs(a[k] - b[k]).max() for k in a) < 1e-4


@needs_onnx
def test_int8_export_runs_and_keeps_the_labels(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    out = tmp_path / "int8"
    assert main(["export", str(run), "--format", "onnx", "--int8", "--calibration-images", "8", "--out", str(out)]) == 0
    assert "INT8" in capsys.readouterr().out
    from benthos.infer.export import read_record

    assert read_record(out)[1]["int8"] is True
    ref, got = tmp_path / "fp32.csv", tmp_path / "int8.csv"
    assert main(["predict", str(run), str(photos), "--out", str(ref), "--backend", "torch"]) == 0
    assert main(["predict", str(run), str(photos), "--out", str(got), "--exported", str(out)]) == 0
    assert "backend onnx int8" in capsys.readouterr().out
    a, b = _probs(ref), _probs(got)
    assert [v.argmax() for v in a.values()] == [v.argmax() for v in b.values()]
    assert max(np.abs(a[k] - b[k]).max() for k in a) < 0.1


@needs_onnx
def test_export_of_another_run_or_version_is_refused(run_and_photos, tmp_path, capsys, monkeypatch):
    run, photos = run_and_photos
    out = tmp_path / "mine"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out), "--no-check"]) == 0
    other = tmp_path / "other_run"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("export"))
    from safetensors.torch import load_file

    from benthos.runs.run import read_meta, save_weights, write_meta

    sd = load_file(str(other / "model.safetensors"))
    key = [k for k in sd if k.endswith("weight")][-1]  # the last layer (the head), in the model's own key names
    sd[key] = sd[key] + 0.5  # retrained: other weights, recorded in run.json as training does
    save_weights(other, sd)
    write_meta(other, read_meta(other))
    capsys.readouterr()
    assert main(["predict", str(other), str(photos), "--out", str(tmp_path / "p.csv"), "--exported", str(out)]) == 2
    assert "exported from another run" in _one_line_error(capsys) and not (tmp_path / "p.csv").exists()
    # the run's own cached export is redone for the new weights, not reused
    assert main(["predict", str(other), str(photos), "--out", str(tmp_path / "q.csv"), "--backend", "onnx"]) == 0
    assert json.loads((other / "export" / "onnx" / "benthos_export.json").read_text())["weights_sha256"] != \
        json.loads((out / "benthos_export.json").read_text())["weights_sha256"]
    import benthos

    monkeypatch.setattr(benthos, "__version__", "99.0")
    capsys.readouterr()
    assert main(["predict", str(run), str(photos), "--out", str(tmp_path / "v.csv"), "--exported", str(out)]) == 2
    assert "exported by benthos 0" in _one_line_error(capsys)


def test_missing_backend_is_a_one_line_hint(run_and_photos, tmp_path, capsys, monkeypatch):
    run, photos = run_and_photos
    monkeypatch.setattr(backends, "installed", lambda name: name == "torch")
    assert main(["predict", str(run), str(photos), "--out", str(tmp_path / "p.csv"), "--backend", "openvino"]) == 2
    line = _one_line_error(capsys)
    assert "not installed" in line and "pip install" in line
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "x")]) == 2
    assert "pip install onnx onnxruntime" in _one_line_error(capsys)
    # nothing exported installed: the default falls back to PyTorch
    assert backends.choose_backend(None, "cpu") == "torch"


def test_default_backend_is_the_fastest_installed(monkeypatch):
    monkeypatch.setattr(backends, "installed", lambda name: True)
    assert backends.choose_backend(None, "cpu") == "onnx"
    monkeypatch.setattr(backends, "installed", lambda name: name in ("openvino", "torch"))
    assert backends.choose_backend(None, "cpu") == "openvino"
    with pytest.raises(Exception, match="choose one of"):
        backends.choose_backend("tensorrt", "cpu")


def _damaged_copy(run: Path, tmp_path: Path) -> Path:
    """A run whose weights are finite (loading checks that) but whose outputs overflow to infinity."""
    import torch
    from safetensors.torch import load_file

    from benthos.runs.run import read_meta, save_weights, write_meta

    bad = tmp_path / "inf_run"
    shutil.copytree(run, bad, ignore=shutil.ignore_patterns("export"))
    sd = load_file(str(bad / "model.safetensors"))
    # LeNet-5's last hidden layer (Linear + Tanh) made to output 1.0 everywhere, and a head of 3e38s:
    # every weight finite, every logit a sum of 84 of them, which is not
    sd["features.10.weight"] = torch.zeros_like(sd["features.10.weight"])
    sd["features.10.bias"] = torch.full_like(sd["features.10.bias"], 50.0)
    sd["classifier.weight"] = torch.full_like(sd["classifier.weight"], 3e38)
    save_weights(bad, sd)
    write_meta(bad, read_meta(bad))
    return bad


@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
def test_non_finite_outputs_stop_the_job_in_every_backend(backend, run_and_photos, tmp_path, capsys):
    if not backends.installed(backend):
        pytest.skip(f"{backend} is not installed")
    run, photos = run_and_photos
    bad = _damaged_copy(run, tmp_path)
    out = tmp_path / "p.csv"
    assert main(["predict", str(bad), str(photos), "--out", str(out), "--backend", backend]) == 2
    line = _one_line_error(capsys)
    assert "non-finite outputs" in line and f"({backend})" in line
    assert not out.exists()


def test_unexportable_layer_is_named(run_and_photos, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    import torch

    import benthos.runs
    from benthos.runs import load_run

    class Bessel(torch.nn.Module):  # an operator ONNX has no counterpart for
        def forward(self, x):
            return torch.special.i1e(x)

    def with_bessel(run_dir):
        model, meta = load_run(run_dir)
        model.body.features[1] = torch.nn.Sequential(model.body.features[1], Bessel())
        return model, meta

    run, _ = run_and_photos
    monkeypatch.setattr(benthos.runs, "load_run", with_bessel)
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "x")]) == 2
    line = _one_line_error(capsys)
    assert "layer 'body.features.1.1' (Bessel)" in line and "i1e" in line
    assert not (tmp_path / "x").exists()


def test_old_runs_keep_their_views_and_a_fitted_rule_is_used(run_and_photos, tmp_path, capsys):
    from benthos.tasks import tta_of

    run, photos = run_and_photos
    meta = json.loads((run / "run.json").read_text())
    assert "views" not in meta["calibration"]  # 4 validation images: too few to fit a margin
    assert tta_of(meta) == meta["tta"] == "dihedral"
    old = tmp_path / "old.csv"
    assert main(["predict", str(run), str(photos), "--out", str(old), "--backend", "torch"]) == 0
    assert "views dihedral" in capsys.readouterr().out
    assert json.loads(Path(str(old) + ".json").read_text())["tta"] == "dihedral"
    # a run whose training fitted the rule predicts adaptively: margin 1 re-scores every image with all
    # 8 views (the dihedral result), margin 0 none (one view)
    fitted = tmp_path / "fitted"
    shutil.copytree(run, fitted, ignore=shutil.ignore_patterns("export"))
    t = meta["calibration"]["temperature"]
    for margin, same_as, views in ((1.0, "dihedral", "8.00"), (0.0, "none", "1.00")):
        meta["calibration"]["views"] = {"mode": "dihedral", "margin": margin, "temperature": t}
        (fitted / "run.json").write_text(json.dumps(meta))
        out, ref = tmp_path / f"m{margin}.csv", tmp_path / f"r{margin}.csv"
        assert main(["predict", str(fitted), str(photos), "--out", str(out), "--backend", "torch"]) == 0
        assert f"views adaptive, {views} views per image" in capsys.readouterr().out
        assert main(["predict", str(fitted), str(photos), "--out", str(ref), "--backend", "torch", "--tta", same_as]) == 0
        a, b = _probs(out), _probs(ref)
        assert max(np.abs(a[k] - b[k]).max() for k in a) < 1e-5
        assert json.loads(Path(str(out) + ".json").read_text())["view_margin"] == margin
    with pytest.raises(Exception, match="no fitted view margin"):
        tta_of(json.loads((run / "run.json").read_text()), "adaptive")


def test_calibration_records_the_fitted_margin(run_and_photos, tmp_path, monkeypatch):
    import benthos.train.views as views
    from benthos.train.calibrate import calibrate_run, calibration_line

    run, _ = run_and_photos
    copy = tmp_path / "refit"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    monkeypatch.setattr(views, "MIN_IMAGES", 2)
    record = calibrate_run(copy)
    stored = json.loads((copy / "run.json").read_text())["calibration"]
    assert stored == record and set(record["views"]) >= {"margin", "temperature", "extra_views_fraction",
                                                         "val_accuracy_adaptive", "val_accuracy_all_views"}
    assert 0 <= record["views"]["margin"] <= 1 and record["views"]["mode"] == "dihedral"
    assert "adaptive views:" in calibration_line(record)


@needs_onnx
def test_onnxruntime_example_needs_neither_torch_nor_benthos(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    out = tmp_path / "x"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out), "--no-check"]) == 0
    ref = tmp_path / "ref.csv"
    assert main(["predict", str(run), str(photos), "--out", str(ref), "--tta", "none"]) == 0
    images = sorted(str(p) for p in photos.iterdir() if "broken" not in p.name)
    # the README's example as it is, in a Python where torch and benthos cannot be imported
    blocker = "import runpy, sys; sys.modules.update(torch=None, benthos=None, torchvision=None); " \
              f"sys.argv = sys.argv[1:]; runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", blocker, str(EXAMPLE), str(out / "model.onnx"), *images],
                          capture_output=True, text=True, check=True)
    expected = {r["image"]: (r["label"], float(r["score"])) for r in csv.DictReader(open(ref))}
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(images) == 4
    for line in lines:
        path, label, score = line.split(",")
        assert expected[path][0] == label and abs(expected[path][1] - float(score)) < 1e-3
