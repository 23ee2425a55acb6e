"""Every TrainConfig key is checked for type and range before anything runs: a one-line ConfigError
naming the key (and the YAML file), never a traceback and never quietly another value."""
import pytest

from benthos.cli.main import main
from benthos.errors import BenthosError, ConfigError
from benthos.train import TrainConfig, train


@pytest.mark.parametrize("line, why", [
    ('epochs: "many"', r"epochs: 'many' is not a whole number"),
    ("epochs: 2.5", r"epochs: 2.5 is not a whole number"),
    ("lr: fast", r"lr: 'fast' is not a number"),
    ("calibrate: maybe", r"calibrate: 'maybe' is not true or false"),
    ("weights: no", r"weights: False is not text or null"),
    ("add: [1, 2]", r"add: \[1, 2\] is not a list of text"),
    ("input_size: [224]", r"input_size: \[224\] is not a whole number or null"),
    ("extra: 5", r"extra: 5 is not a mapping"),
])
def test_a_yaml_value_of_the_wrong_type_names_the_file_and_key(tmp_path, line, why):
    (tmp_path / "cfg.yaml").write_text(f"data: x\n{line}\n")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: " + why):
        TrainConfig.from_yaml(tmp_path / "cfg.yaml")


@pytest.mark.parametrize("key, value, why", [
    ("lr", -5, "lr -5: use a number above 0"),
    ("lr", float("nan"), "lr nan"),
    ("lr_decay", 1.5, "lr_decay 1.5: use a number in"),
    ("weight_decay", float("inf"), "weight_decay inf"),
    ("label_smoothing", 1.0, "label_smoothing 1.0"),
    ("ema_decay", -0.1, "ema_decay -0.1"),
    ("input_size", 0, "input_size 0: use a whole number from 1"),
    ("input_size", 16, "lenet5 needs inputs of at least 32x32 px; got 16"),
    ("epochs", 99999999999999999999999, "epochs 99999999999999999999999: use a whole number from 1"),
    ("batch_size", 0, "batch_size 0"),
    ("num_workers", 10**30, "num_workers"),
    ("seed", -1, "seed -1"),
    ("seed", 2**32, "seed 4294967296"),
    ("members", 0, "members 0"),
    ("patch_size", 0, "patch_size 0"),
    ("max_minutes", 0, "max_minutes 0"),
    ("margin", -0.1, "margin -0.1"),
    ("val_fraction", float("nan"), "val_fraction and test_fraction"),
    ("crop_scale", float("nan"), "crop_scale nan"),
    ("format", "cocoo", "format 'cocoo' is not known. Did you mean: coco"),
    ("augment", "seafloorr", "augment 'seafloorr' is not known"),
    ("model", "resnet_999", "unknown model 'resnet_999'"),
    ("out", " ", "out is empty"),
])
def test_a_value_out_of_range_is_refused_before_anything_runs(tmp_path, key, value, why):
    kw = dict(data=str(tmp_path / "nothing_here"), out=str(tmp_path / "run"), model="lenet5", weights=None)
    cfg = TrainConfig(**{**kw, key: value})
    with pytest.raises(BenthosError, match=why):  # ConfigError, or the model zoo's own BenthosError
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_devices_may_be_a_number_and_add_a_single_path():
    cfg = TrainConfig(data="x", model="lenet5", devices=2, add="answers.csv").validate()
    assert cfg.devices == "2" and cfg.add == ["answers.csv"]


@pytest.mark.parametrize("flags, why", [
    (["--lr", "-5"], "lr -5.0: use a number above 0"),
    (["--input-size", "0"], "input_size 0"),
    (["--epochs", "99999999999999999999999"], "epochs 99999999999999999999999"),
])
def test_the_cli_says_it_on_one_line_with_exit_2(tmp_path, capsys, flags, why):
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--model", "lenet5", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("benthos: error: ") and why in err and err.count("\n") == 1


def test_a_yaml_config_given_with_config_is_named(tmp_path, capsys):
    (tmp_path / "cfg.yaml").write_text('epochs: "many"\n')
    assert main(["train", str(tmp_path), "--config", str(tmp_path / "cfg.yaml")]) == 2
    assert "cfg.yaml: epochs: 'many' is not a whole number" in capsys.readouterr().err


def test_allow_outside_paths_is_a_key_and_a_flag(tmp_path, capsys):
    from benthos.cli.main import build_parser

    args = build_parser().parse_args(["train", "data", "--allow-outside-paths"])
    assert args.allow_outside_paths is True
    assert TrainConfig().allow_outside_paths is False
