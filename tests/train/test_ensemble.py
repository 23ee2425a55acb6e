"""Cross-fitted ensembles (members > 1): folds, averaging, out-of-fold calibration, resume."""
import json
import os

import pytest
import torch

from benthos.errors import ConfigError, DataError
from benthos.train import TrainConfig, train


def _split(path):
    doc = json.loads(path.read_text())["splits"]
    return {k: set(v["indices"]) for k, v in doc.items()}


@pytest.fixture(scope="module")
def ensemble_run(colour_folder, tmp_path_factory):
    run = tmp_path_factory.mktemp("ens") / "run"
    meta = train(TrainConfig(data=str(colour_folder), out=str(run), model="lenet5", weights=None, input_size=32,
                             batch_size=8, num_workers=0, lr=1e-2, report=False,
                             members=2, epochs=2, val_fraction=0.2, test_fraction=0.2))
    return run, meta


def test_members_validate_on_disjoint_folds_and_train_on_the_rest(ensemble_run):
    run, meta = ensemble_run
    top = _split(run / "split.json")
    assert top["val0"] and top["val1"] and not top["val0"] & top["val1"]
    assert top["val"] == top["val0"] | top["val1"]
    for i in range(2):
        m = _split(run / "members" / f"m{i}" / "split.json")
        assert m["val"] == top[f"val{i}"]
        assert m["train"] == top["train"] | top[f"val{1 - i}"]  # the other member's fold trains this one
        assert m["test"] == top["test"] and not (m["train"] | m["val"]) & top["test"]
    assert meta["members"] == ["members/m0", "members/m1"] and len(meta["member_histories"]) == 2
    # members differ (own seed, own data), so the ensemble is not one model twice
    seeds = [json.loads((run / "members" / f"m{i}" / "run.json").read_text())["config"]["seed"] for i in range(2)]
    assert seeds == [0, 1]


def test_the_loaded_run_averages_its_members_logits(ensemble_run):
    from benthos.runs import load_run

    run, _ = ensemble_run
    model, meta = load_run(run)
    members = [load_run(run / sub)[0] for sub in meta["members"]]
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        expected = (members[0](x) + members[1](x)) / 2
        assert torch.allclose(model(x), expected, atol=1e-6)
        assert not torch.allclose(members[0](x), members[1](x))


def test_temperature_is_fitted_out_of_fold_and_used(ensemble_run):
    from benthos.tasks import evaluate_run

    run, meta = ensemble_run
    top = _split(run / "split.json")
    cal = meta["calibration"]
    assert cal["fitted_on"] == "out-of-fold val" and cal["n"] == len(top["val0"]) + len(top["val1"])
    assert cal["val_nll_after"] <= cal["val_nll_before"] + 1e-6
    ev = evaluate_run(run)
    assert ev["n"] == len(top["test"]) and ev["temperature"] == pytest.approx(cal["temperature"])
    html = (run / "report.html").read_text()
    assert "Member 2 of 2" in html and "2 members" in html


def test_resume_skips_finished_members(colour_folder, tmp_path, tiny_config):
    import shutil

    colour_folder = shutil.copytree(colour_folder, tmp_path / "data")  # changed below; the fixture is shared
    run = tmp_path / "run"
    train(tiny_config(colour_folder, run, members=2, epochs=1, val_fraction=0.2, test_fraction=0.2))
    first = run / "members" / "m0" / "model.safetensors"
    stamp = first.stat().st_mtime_ns
    # as if stopped while the second member trained: its sidecar and the ensemble's are not written yet
    os.remove(run / "members" / "m1" / "run.json")
    os.remove(run / "run.json")
    meta = train(TrainConfig(data=str(colour_folder), resume=str(run)))
    assert first.stat().st_mtime_ns == stamp  # member 1 was not retrained
    assert (run / "members" / "m1" / "run.json").is_file() and (run / "run.json").is_file()
    assert meta["members"] == ["members/m0", "members/m1"] and "calibration" in meta

    # the data changed under the run: refused before any member trains again
    from benthos.errors import DataError

    os.remove(run / "run.json")
    victim = sorted(colour_folder.rglob("*.jpg"))[0]
    victim.rename(victim.with_name("renamed.jpg"))
    with pytest.raises(DataError, match="the data changed since this run started"):
        train(TrainConfig(data=str(colour_folder), resume=str(run)))


@pytest.mark.parametrize("kw, words", [
    (dict(members=0), "members 0: use a whole number from 1"),
    (dict(members=2, val_fraction=0.0), "val_fraction must be above 0"),
    (dict(members=4, val_fraction=0.2, test_fraction=0.2), "leaves no data"),
    (dict(members=2, split="split.json"), "cannot reuse a split"),
])
def test_config_errors(kw, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(data="x", **kw).validate()


def test_the_ensemble_names_every_members_unreadable_images_once(colour_folder, tmp_path, tiny_config, monkeypatch):
    import benthos.train.engine as engine

    real, calls = engine.train, []

    def member(cfg):  # as if one image vanished while member 2 trained, and another was unreadable for both
        meta = real(cfg)
        calls.append(cfg.out)
        seen = ["a.jpg: gone"] + (["b.jpg: gone"] if len(calls) == 2 else [])
        meta["data"].update(unreadable_during_training=seen, n_unreadable_during_training=len(seen))
        return meta

    monkeypatch.setattr(engine, "train", member)
    meta = train(tiny_config(colour_folder, tmp_path / "run", members=2, epochs=1, val_fraction=0.2, test_fraction=0.2))
    assert len(calls) == 2
    assert meta["data"]["unreadable_during_training"] == ["a.jpg: gone", "b.jpg: gone"]
    assert meta["data"]["n_unreadable_during_training"] == 2


def test_added_answers_train_every_member_and_stay_out_of_the_folds(colour_folder, tmp_path, tiny_config):
    """`train DATA --add ANSWERS --members 2`: the answers are training items of every member, never
    a validation fold; an answer about a photo in a fold trains only the other members (below), one
    about a test photo is left out; a split
    reused with --add must be one that placed the same added items."""
    import numpy as np
    from PIL import Image

    from benthos.data import load_split

    run = tmp_path / "run"
    Image.fromarray(np.full((40, 40, 3), (120, 20, 160), np.uint8)).save(tmp_path / "new0.jpg")
    first = sorted(p for p in colour_folder.rglob("*.jpg"))[0]  # lands in some part of the split
    answers = tmp_path / "preds_reviewed.csv"
    answers.write_text("path,label,group,predicted,score,status\n"
                       f"{tmp_path / 'new0.jpg'},crinoidea,,porifera,0.41,corrected\n"
                       f"{first},{first.parent.name},,{first.parent.name},0.5,right\n")
    # the answers name photos elsewhere, as `benthos review` writes them: outside their CSV's folder
    meta = train(tiny_config(colour_folder, run, add=[str(answers)], members=2, epochs=1, allow_outside_paths=True))
    top = _split(run / "split.json")
    assert "crinoidea" in meta["classes"]
    folds = top["val0"] | top["val1"] | top["test"]
    assert top["added"] <= top["train"] and not top["added"] & folds
    saved = load_split(run / "split.json")
    named = {s.path.name for s in saved["added"]}
    assert "new0.jpg" in named
    held = {s.path for k in ("val0", "val1", "test") for s in saved[k]}
    assert (first.name in named) == (first not in held)  # kept exactly when its photo is not held out
    for i in range(2):
        m = _split(run / "members" / f"m{i}" / "split.json")
        assert top["added"] <= m["train"] and top["added"] <= m["added"] and not top["added"] & m["val"]
        assert m["added"] - top["added"] == top.get(f"added_val{1 - i}", set())  # answers about the other fold
    # a split made without --add does not say where the answers go: refused before training
    plain = tmp_path / "plain"
    train(tiny_config(colour_folder, plain, epochs=1))
    with pytest.raises(ConfigError, match="that split was made without added items"):
        train(tiny_config(colour_folder, tmp_path / "again", add=[str(answers)], split=str(plain / "split.json"),
                          allow_outside_paths=True))
    # one made with the same --add is reused as it is
    again = train(tiny_config(colour_folder, tmp_path / "again", add=[str(answers)], allow_outside_paths=True,
                              split=str(run / "members" / "m0" / "split.json"), epochs=1))
    assert again["data"]["split"]["added"] == len(top["added"])
    # ... and only with the same added items: another --add file, or none, is refused before training
    more = tmp_path / "more.csv"
    more.write_text("path,label\n" f"{tmp_path / 'new0.jpg'},crinoidea\n")
    reused = str(run / "members" / "m0" / "split.json")
    with pytest.raises(ConfigError, match=r"made with \d added item\(s\) \(--add\), this run reads \d"):
        train(tiny_config(colour_folder, tmp_path / "third", add=[str(answers), str(more)], split=reused,
                          allow_outside_paths=True))
    with pytest.raises(ConfigError, match=r"this run reads 0"):
        train(tiny_config(colour_folder, tmp_path / "fourth", split=reused))
    # a split reused on other data is refused, naming the first item that moved
    import shutil

    fewer = tmp_path / "fewer"
    shutil.copytree(colour_folder, fewer)
    os.remove(sorted(fewer.rglob("*.jpg"))[0])
    with pytest.raises(DataError, match=r"this split was made for other data: item \d+ of its \w+ split was"):
        train(tiny_config(fewer, tmp_path / "fifth", split=str(plain / "split.json")))


def test_answers_about_a_fold_train_the_other_members(colour_folder, tmp_path, tiny_config):
    """An answer (--add) about a photo in member 0's validation fold trains member 1, in place of the
    item it answers, and stays out of member 0's training (its fold stays unseen); one about a test
    photo trains nobody. A taxon named only in such an answer is a class of every member."""
    from benthos.data import load_split
    from benthos.train.engine import load_data
    from benthos.train.ensemble import fold_split

    cfg = tiny_config(colour_folder, tmp_path / "probe", members=2, epochs=1)
    data = load_data(cfg)
    where = fold_split(cfg, data)
    in_fold0, in_test = (data.samples[where[k][0]].path for k in ("val0", "test"))
    answers = tmp_path / "answers.csv"
    answers.write_text("path,label\n" f"{in_fold0},crinoidea\n" f"{in_test},crinoidea\n")
    run = tmp_path / "run"
    meta = train(tiny_config(colour_folder, run, members=2, epochs=1, add=[str(answers)], allow_outside_paths=True))

    top, saved = _split(run / "split.json"), load_split(run / "split.json")
    assert [s.path for s in saved["added_val0"]] == [in_fold0] and saved["added_val0"][0].label == "crinoidea"
    answer = next(iter(top["added_val0"]))
    assert not top["added"] and answer not in top["train"] | top["val"]
    assert in_test not in {s.path for k in ("train", "added_val0") for s in saved[k]}  # the test photo: left out
    original = where["val0"][0]
    m0, m1 = (_split(run / "members" / f"m{i}" / "split.json") for i in range(2))
    assert m0["val"] == top["val0"] and original in m0["val"] and answer not in m0["train"]
    assert answer in m1["train"] and answer in m1["added"] and original not in m1["train"]  # the answer replaces it
    assert m1["train"] == (top["train"] | top["val0"] | {answer}) - {original}
    assert m1["replaced"] == {original} and "replaced" not in m0  # seen by member 1 (its class counts), not trained
    classes = [json.loads((run / "members" / f"m{i}" / "run.json").read_text())["classes"] for i in range(2)]
    assert classes[0] == classes[1] == meta["classes"] and "crinoidea" in meta["classes"]
