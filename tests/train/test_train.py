"""Training engine at tiny sizes: strategies, run folder, reproducibility, bad config."""
import json

import pytest
import torch

from benthos.errors import BenthosError, ConfigError
from benthos.train import STRATEGIES, TrainConfig, train



@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_trains_and_writes_a_run(colour_folder, tmp_path, strategy, tiny_config):
    cfg = tiny_config(colour_folder, tmp_path / "run", strategy=strategy, epochs=2, freeze_bottom=2)
    meta = train(cfg)
    run = tmp_path / "run"
    for f in ("model.safetensors", "run.json", "config.yaml", "split.json"):
        assert (run / f).is_file(), f
    assert meta["classes"] == ["asteroidea", "holothuroidea", "porifera"]
    assert meta["history"] and all("val_loss" in h for h in meta["history"])
    from benthos.runs import load_run

    model, m2 = load_run(run)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)


def test_fine_tune_learns_and_evaluates(colour_folder, tmp_path, tiny_config):
    from benthos.tasks import evaluate_run

    train(tiny_config(colour_folder, tmp_path / "run", epochs=6, ema_decay=0.0))
    ev = evaluate_run(tmp_path / "run")
    assert ev["accuracy"] > 0.6  # chance is 1/3
    cal = json.loads((tmp_path / "run" / "run.json").read_text())["calibration"]
    # the fitted temperature never makes the validation likelihood worse, and evaluation uses it
    assert cal["temperature"] > 0 and cal["val_nll_after"] <= cal["val_nll_before"] + 1e-6
    assert ev["temperature"] == pytest.approx(cal["temperature"]) and ev["calibrated"] is True
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert len(saved["confusion_matrix"]) == 3 and (tmp_path / "run" / "report.html").is_file()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's safe loader on Lightning's checkpoint
def test_no_validation_split_trains_the_full_schedule(colour_folder, tmp_path, tiny_config):
    """val_fraction 0: every non-test image trains, all epochs run, the last weights are kept."""
    from safetensors.torch import load_file

    from benthos.tasks import evaluate_run

    run = tmp_path / "run"
    meta = train(tiny_config(colour_folder, run, val_fraction=0.0, epochs=3, patience=1))
    assert "val" not in json.loads((run / "split.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [0, 1, 2] and not any("val_loss" in h for h in meta["history"])
    assert "calibration" not in json.loads((run / "run.json").read_text())
    # the saved weights are those of the last epoch (the EMA weights the checkpoint also holds)
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    saved = load_file(run / "model.safetensors")
    assert last["epoch"] == 2 and len(last["history"]) == 3  # the row is written before the resumable checkpoint
    from benthos.models import create_model

    ema = create_model("lenet5", num_classes=3, in_chans=3)
    ema.load_state_dict(last["ema_state"])  # the checkpoint keeps the wrapper's names; the weights file the network's
    assert saved.keys() == ema.native_state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in ema.native_state_dict().items())
    ev = evaluate_run(run)  # on the run's test split, uncalibrated
    assert ev["n"] > 0 and ev["temperature"] == 1.0 and ev["calibrated"] is False
    assert "not temperature-scaled" in (run / "report.html").read_text()
    with pytest.raises(BenthosError, match="linear probe"):
        train(tiny_config(colour_folder, tmp_path / "probe", val_fraction=0.0, strategy="linear-probe"))
    assert not (tmp_path / "probe").exists()  # refused before the run folder is made


def test_frozen_stages_do_not_change(colour_folder, tmp_path, tiny_config):
    from benthos.models import create_model
    from safetensors.torch import load_file

    torch.manual_seed(0)
    train(tiny_config(colour_folder, tmp_path / "run", strategy="freeze-bottom", freeze_bottom=2, epochs=1, ema_decay=0.0, seed=3))
    trained = load_file(tmp_path / "run" / "model.safetensors")
    # the same seed gives the same initial weights: frozen stem weights must be untouched
    import lightning.pytorch as pl

    pl.seed_everything(3, verbose=False)
    init = create_model("lenet5", in_chans=3)
    stem_key = "features.0.weight"  # the network's own name (the run saves native keys)
    assert torch.equal(trained[stem_key], init.native_state_dict()[stem_key])


def test_linear_probe_cache_makes_later_epochs_cheap(colour_folder, tmp_path, tiny_config):
    meta = train(tiny_config(colour_folder, tmp_path / "run", strategy="linear-probe", epochs=3))
    t = meta["timings"]
    assert t["feature_cache_s"] > 0 and t["later_epoch_s"] < t["first_epoch_s"]


def test_same_seed_same_metrics(colour_folder, tmp_path, tiny_config):
    a = train(tiny_config(colour_folder, tmp_path / "a", epochs=2))
    b = train(tiny_config(colour_folder, tmp_path / "b", epochs=2))
    assert [h["val_loss"] for h in a["history"]] == pytest.approx([h["val_loss"] for h in b["history"]], rel=1e-5)


def test_refuses_to_overwrite_a_finished_run(colour_folder, tmp_path, tiny_config):
    train(tiny_config(colour_folder, tmp_path / "run", epochs=1))
    with pytest.raises(BenthosError, match="already holds a finished run"):
        train(tiny_config(colour_folder, tmp_path / "run", epochs=1))


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="unknown strategy"):
        TrainConfig(data="x", strategy="finetune").validate()
    with pytest.raises(ConfigError, match="no training data"):
        TrainConfig().validate()
    assert TrainConfig(data="x", add="answers.csv").validate().add == ["answers.csv"]  # one file from YAML


def test_yaml_config_and_flags(tmp_path):
    import argparse

    from benthos.cli.train import options_from_args

    (tmp_path / "c.yaml").write_text("epochs: 7\nmodel: resnet18\n")
    ns = argparse.Namespace(config=str(tmp_path / "c.yaml"), data="d", epochs=2, func=None, command="train")
    cfg = options_from_args(ns, TrainConfig)
    assert (cfg.epochs, cfg.model, cfg.data) == (2, "resnet18", "d")


def test_temperature_scaling_recovers_a_known_temperature():
    import numpy as np

    from benthos.train.calibrate import fit_temperature, nll

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 5))
    for true_t in (0.5, 1.0, 2.5):  # labels drawn from softmax(logits / T)
        p = torch.as_tensor(logits / true_t).softmax(-1).numpy()
        y = np.array([rng.choice(5, p=row) for row in p])
        t = fit_temperature(logits, y)
        assert t == pytest.approx(true_t, rel=0.1)
        assert nll(logits, y, t) <= nll(logits, y, 1.0) + 1e-9
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros((3, 2)), np.zeros(2, int))


def test_mixup_blends_images_and_losses():
    from benthos.models import create_model
    from benthos.train.module import ClassifierModule

    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=3, in_chans=3)
    cfg = TrainConfig(data="x", mixup=0.4, channels_last=False, ema_decay=0.0, label_smoothing=0.0)
    module = ClassifierModule(model, cfg, None, steps_per_epoch=1)
    module.log = lambda *a, **k: None  # no trainer attached
    seen = []
    model.forward_with_aux = lambda x: (seen.append(x) or model(x), [])
    x = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])
    y = torch.tensor([0, 2])
    loss = module.training_step((x, y), 0)
    blended = seen[0]
    # each image is lam * itself + (1 - lam) * another image of the batch: here a constant between 0 and 1
    assert torch.isfinite(loss) and blended.shape == x.shape
    values = {round(float(v), 5) for v in blended.flatten().unique()}
    assert len(values) <= 2 and all(0 <= v <= 1 for v in values)
    with torch.no_grad():  # the loss is the same blend of the two labels' losses (or unmixed if lam == 1)
        z = model(blended)
        import torch.nn.functional as F

        pairs = [F.cross_entropy(z, y), F.cross_entropy(z, y.flip(0))]
    assert min(pairs) - 1e-5 <= float(loss) <= max(pairs) + 1e-5
    with pytest.raises(ConfigError, match="mixup"):
        TrainConfig(data="x", mixup=-0.1).validate()


def test_mixup_training_run(colour_folder, tmp_path, tiny_config):
    meta = train(tiny_config(colour_folder, tmp_path / "run", epochs=2, mixup=0.2))
    assert meta["config"]["mixup"] == 0.2 and all(h["train_loss"] > 0 for h in meta["history"])


def test_whole_patch_options_are_recorded_for_prediction(colour_folder, tmp_path, tiny_config):
    """crop_scale / eval_crop: the eval crop travels in run.json, so evaluate and predict use it."""
    from benthos.tasks import evaluate_run

    assert TrainConfig().crop_scale == 1.0 and TrainConfig().eval_crop == 1.0  # whole patches by default
    meta = train(tiny_config(colour_folder, tmp_path / "run", epochs=1, crop_scale=0.6, eval_crop=0.8))
    assert meta["preprocessing"]["crop_fraction"] == 0.8
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["preprocessing"]["crop_fraction"] == 0.8 and saved["config"]["crop_scale"] == 0.6
    assert evaluate_run(tmp_path / "run")["n"] > 0
    with pytest.raises(ConfigError, match="eval_crop 1.5"):
        tiny_config(colour_folder, tmp_path / "bad", eval_crop=1.5).validate()


@pytest.mark.parametrize("strategy", ["fine-tune", "linear-probe"])
def test_an_image_that_fails_mid_run_is_counted_once_in_the_run(colour_folder, tmp_path, tiny_config, monkeypatch,
                                                                  strategy):
    """An image that passed the check before training but cannot be read later (deleted, rewritten)
    is replaced by a blank, and named once in run.json and the summary, also when a DataLoader
    worker process (which does not share the parent's memory) is the one that met it."""
    import benthos.data.dataset as dataset
    from benthos.errors import DataError
    from benthos.tasks import finish_run

    bad = sorted((colour_folder / "porifera").glob("*.jpg"))[0]
    real = dataset.load_image

    def gone(path, *args):
        if str(path) == str(bad):
            raise DataError(f"{path}: no such file (deleted during training)")
        return real(path, *args)

    monkeypatch.setattr(dataset, "load_image", gone)  # forked workers inherit the patch
    run = tmp_path / "run"
    meta = train(tiny_config(colour_folder, run, epochs=2, num_workers=1, test_fraction=0, val_fraction=0.4,
                             strategy=strategy))
    assert meta["data"]["n_unreadable_during_training"] == 1
    assert meta["data"]["unreadable_during_training"] == [f"{bad}: no such file (deleted during training)"]
    assert json.loads((run / "run.json").read_text())["data"]["n_unreadable_during_training"] == 1
    assert "1 images could not be read during training" in finish_run(meta, run, report=False)
    from benthos.report.classification import write_report

    assert "images unreadable during training" in write_report(run).read_text()


def test_added_answers_train_only_and_never_touch_held_out_photos(colour_folder, tmp_path, tiny_config, caplog):
    """`train DATA --add ANSWERS`: the answers of `benthos review` join the training split (a taxon
    new to the model included); an answer about a photo in the validation/test split is left out."""
    import numpy as np
    from PIL import Image

    from benthos.data import load_split
    from benthos.train.engine import load_data, make_split

    base = tiny_config(colour_folder, tmp_path / "unused")
    samples = load_data(base).samples
    split = make_split(base, load_data(base))
    held, known = samples[split["test"][0]], samples[split["train"][0]]
    for k in range(2):
        arr = np.clip(np.random.default_rng(k).normal((120, 20, 160), 30, (40, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(tmp_path / f"new{k}.jpg")
    answers = tmp_path / "preds_reviewed.csv"
    answers.write_text("path,label,group,predicted,score,status\n"
                       f"{tmp_path / 'new0.jpg'},crinoidea,,porifera,0.41,corrected\n"
                       f"{tmp_path / 'new1.jpg'},crinoidea,,asteroidea,0.38,corrected\n"
                       f"{held.path},{held.label},,{held.label},0.52,right\n"
                       f"{held.path},feather star,,{held.label},0.33,corrected\n"  # only on a held-out photo
                       f"{known.path},porifera,,{known.label},0.6,right\n"  # a training item, answered twice:
                       f"{known.path},crinoidea,,{known.label},0.6,corrected\n")  # the later answer counts
    caplog.set_level("INFO")
    # the answers name photos elsewhere, as `benthos review` writes them: outside their CSV's folder
    meta = train(tiny_config(colour_folder, tmp_path / "run", add=[str(answers)], epochs=1, allow_outside_paths=True))
    assert meta["classes"] == ["asteroidea", "crinoidea", "holothuroidea", "porifera"]
    saved = load_split(tmp_path / "run" / "split.json")
    assert sorted(s.path.name for s in saved["added"]) == sorted(["new0.jpg", "new1.jpg", known.path.name])
    assert {"new0.jpg", "new1.jpg"} <= {s.path.name for s in saved["train"]}
    assert [s.label for s in saved["train"] if s.path == known.path] == ["crinoidea"]  # replaced, not duplicated
    assert "1 of DATA's training items were answered again in --add" in caplog.text
    assert [s.path for s in saved["test"]] == [samples[i].path for i in split["test"]]  # the same held-out photos
    assert held.path not in [s.path for s in saved["train"]]
    assert "2 of the 6 added items are from photos held out" in caplog.text
    assert "taxon 'feather star' is named only in added items that were left out" in caplog.text
    assert meta["data"]["split"]["added"] == 3
    assert meta["data"]["n_images"] == len(samples) + 2  # the left-out and replaced items are not counted
    assert sum(meta["data"]["counts"].values()) == meta["data"]["n_images"]


def test_resume_refuses_other_settings_and_changed_data(colour_folder, tmp_path, tiny_config, monkeypatch):
    """--resume continues a run as it was started: other options, or data that changed under it
    (which would put other items at the split's indices), are refused before any training."""
    import csv

    from benthos.errors import ConfigError, DataError

    manifest = tmp_path / "data.csv"
    rows = [(str(p), p.parent.name) for p in sorted(colour_folder.rglob("*.jpg"))]
    manifest.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    run = tmp_path / "run"
    train(tiny_config(manifest, run, epochs=1, allow_outside_paths=True))  # absolute paths to another folder
    (run / "run.json").unlink()  # as if stopped before the end
    with pytest.raises(ConfigError, match=r"cannot resume .* with other settings \(lr, add differ"):
        train(TrainConfig(resume=str(run), lr=0.5, add=[str(manifest)]))
    with pytest.raises(ConfigError, match=r"\(data differ"):
        train(TrainConfig(data=str(colour_folder), resume=str(run)))
    # The same data named another way, and options about this machine and this time, are not "other settings"
    import yaml

    from benthos.cli.main import main

    monkeypatch.chdir(tmp_path)
    first_log = (run / "logs" / "metrics.csv").read_text()
    # a run started before paths outside the manifest's folder were checked: trusting them is said again on resume
    saved = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**saved, "allow_outside_paths": False}))
    assert main(["train", "data.csv", "--resume", "run", "--no-report", "--num-workers", "0"]) == 2
    assert main(["train", "data.csv", "--resume", "run", "--no-report", "--num-workers", "0", "--max-minutes", "5",
                 "--devices", "1", "--no-channels-last", "--allow-outside-paths"]) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["max_minutes"] == 5 and saved["devices"] == "1" and saved["channels_last"] is False
    assert saved["lr"] == 1e-2 and saved["data"] == str(manifest)  # what it learns from is unchanged
    assert (run / "run.json").is_file() and not (run / "report.html").exists()
    assert (run / "logs" / "metrics.csv").read_text() == first_log  # the first start's log is kept
    (run / "run.json").unlink()
    with open(manifest, "w", newline="") as fh:  # one photo relabelled, one gone
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows([(rows[0][0], "porifera" if rows[0][1] != "porifera" else "asteroidea"), *rows[2:]])
    with pytest.raises(DataError, match="the data changed since this run started: item"):
        train(TrainConfig(resume=str(run)))
