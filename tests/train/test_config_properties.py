"""Property-based tests: YAML configs (``--config``, a run folder's config.yaml) with generated bad values
give a ConfigError (or the model zoo's BenthosError) naming the key, or a config holding exactly the
values written; never another exception, never another value."""
import dataclasses
import math

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benthos.errors import BenthosError
from benthos.train import TrainConfig

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
GOOD = {"epochs": st.integers(1, 5), "lr": st.floats(1e-4, 1.0), "model": st.sampled_from(["lenet5", "resnet18"]),
        "input_size": st.sampled_from([None, 32, 64]), "strategy": st.sampled_from(["fine-tune", "gradual", "scratch"]),
        "weights": st.sampled_from([None, "imagenet"]), "tta": st.booleans(), "devices": st.sampled_from(["auto", 1, "1"]),
        "add": st.sampled_from([[], ["a.csv"], "a.csv"]), "augment": st.sampled_from(["seafloor", "none"]),
        "val_fraction": st.floats(0, 0.4), "num_workers": st.sampled_from([None, 0, 2]), "seed": st.integers(0, 99)}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(), st.text(max_size=8))
junk = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=2),
                    max_leaves=4)


@st.composite
def configs(draw):
    keys = draw(st.lists(st.sampled_from(KEYS + ["unknown_key", "input-size"]), max_size=5, unique=True))
    return {"data": "x", **{k: draw(st.sampled_from([True, True, False]).flatmap(
        lambda ok: GOOD[k] if ok and k in GOOD else junk)) for k in keys}}


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@SETTINGS
@given(doc=configs())
def test_yaml_configs_are_refused_by_key_or_kept_as_written(tmp_path, doc):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        cfg = TrainConfig.from_yaml(path).validate()
    except BenthosError as exc:
        event("refused")
        assert "\n" not in str(exc)
        return
    event("accepted")
    for key, value in doc.items():
        got = getattr(cfg, key.replace("-", "_"))
        if key == "devices":
            value = str(value)
        elif key == "add" and isinstance(value, str):
            value = [value]
        elif key == "weights" and cfg.strategy == "scratch":
            value = None  # training from scratch is training without weights, as documented
        assert _same(got, value), (key, value, got)


@SETTINGS
@given(text=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))),
       latin=st.booleans())
def test_any_yaml_text_is_a_config_or_one_config_error(tmp_path, text, latin):
    path = tmp_path / "cfg.yaml"
    path.write_bytes(("data: x\n" + text).encode("latin-1" if latin else "utf-8", errors="replace"))
    try:
        TrainConfig.from_yaml(path).validate()
    except BenthosError as exc:
        assert "\n" not in str(exc)
