"""Property-based tests: run folders with a damaged run.json or config.yaml (generated) are refused with
one BenthosError, or read as written; never another exception."""
import json
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benthos.errors import BenthosError

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8))
junk = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=6)
META = {"architecture": "lenet5", "classes": ["a", "b"], "preprocessing": {"in_chans": 3, "input_size": 32},
        "model_options": {}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with real lenet5 weights for two classes."""
    from benthos.models import create_model
    from benthos.runs import save_weights, write_meta

    run = tmp_path_factory.mktemp("run")
    model = create_model("lenet5", in_chans=3)
    model.reset_classifier(2)
    save_weights(run, model.state_dict())
    write_meta(run, META)
    return run


@st.composite
def damaged_meta(draw):
    meta = json.loads(json.dumps(META))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*META, "members", "preprocessing.in_chans", "(whole)"]))
        value = draw(junk)
        if key == "(whole)":
            return value
        if key == "preprocessing.in_chans" and isinstance(meta.get("preprocessing"), dict):
            meta["preprocessing"]["in_chans"] = value
        elif draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = value
    return meta


@SETTINGS
@given(meta=damaged_meta(), raw=st.sampled_from([None, None, None, "{", "\xff\xfe"]))
def test_a_damaged_run_json_is_one_error(run_dir, tmp_path, meta, raw):
    from benthos.runs import load_run

    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(run_dir, run)
    if raw is None:
        (run / "run.json").write_text(json.dumps(meta))
    else:
        (run / "run.json").write_bytes(raw.encode("latin-1"))
    try:
        load_run(run)
        event("loaded")
    except BenthosError:
        event("refused")


@SETTINGS
@given(doc=st.one_of(junk, st.dictionaries(st.sampled_from(["data", "model", "epochs", "lr", "out", "resume", "bogus"]),
                                           st.one_of(junk, st.sampled_from(["x", "lenet5", 3, 0.1])), max_size=4)))
def test_a_damaged_config_yaml_is_one_error_when_resuming(tmp_path, doc):
    from benthos.train import TrainConfig
    from benthos.train.engine import resolve

    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump(doc))
    try:
        cfg, _ = resolve(TrainConfig(resume=str(run)))
        event("resumable")
        assert cfg.resume == str(run)
    except BenthosError as exc:
        event("refused")
        assert "\n" not in str(exc)
