"""`benthos predict` continues after an interruption instead of starting over."""
import csv
import json

import pytest

from benthos.cli.main import main


@pytest.fixture(scope="module")
def run_and_survey(tmp_path_factory, make_tiny_run):
    return make_tiny_run(tmp_path_factory.mktemp("resume"), 3, ("asteroidea", "porifera"), "survey",
                         [f"frame_{i:02d}.png" for i in range(20)], (32, 32), "frame_broken.png")


def test_interrupted_predict_resumes_and_matches_an_uninterrupted_run(run_and_survey, tmp_path, monkeypatch, capsys):
    import benthos.infer
    from benthos import tasks

    run, survey = run_and_survey
    whole = tmp_path / "whole.csv"
    tasks.predict(run, [str(survey)], whole, batch_size=4, chunk=8)

    real, calls = benthos.infer.predict_samples, []

    def dies_on_the_second_chunk(model, samples, *a, **kw):
        calls.append(len(samples))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(model, samples, *a, **kw)

    monkeypatch.setattr(benthos.infer, "predict_samples", dies_on_the_second_chunk)
    out = tmp_path / "preds.csv"
    with pytest.raises(KeyboardInterrupt):
        tasks.predict(run, [str(survey)], out, batch_size=4, chunk=8)
    assert not out.exists() and (tmp_path / "preds.csv.partial.jsonl").is_file()

    calls.clear()
    monkeypatch.setattr(benthos.infer, "predict_samples", lambda m, s, *a, **kw: calls.append(len(s)) or real(m, s, *a, **kw))
    lines = []
    res = tasks.predict(run, [str(survey)], out, batch_size=4, chunk=8, progress=lines.append)
    assert res["resumed"] == 8 and sum(calls) == 21 - 8 - 1  # the first chunk is not predicted again
    assert any(line.startswith("resuming: 8 of 21") for line in lines)
    assert out.read_text() == whole.read_text()
    assert len(res["skipped"]) == 1 and "frame_broken.png" in res["skipped"][0]
    assert not (tmp_path / "preds.csv.partial.jsonl").exists()


def test_predict_tta_flag_is_recorded_and_other_settings_start_over(run_and_survey, tmp_path, capsys):
    run, survey = run_and_survey
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(survey), "--out", str(out), "--tta", "none"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 20
    # a stale journal made with other settings is set aside, not mixed into the results
    (tmp_path / "p.csv.partial.jsonl").write_text(json.dumps({"run": "elsewhere"}) + "\n"
                                                  + json.dumps({"image": rows[0]["image"], "probs": [1.0, 0.0],
                                                                "energy": 0.0}) + "\n")
    assert main(["predict", str(run), str(survey), "--out", str(out), "--tta", "none"]) == 0
    assert list(csv.DictReader(open(out))) == rows
    assert not (tmp_path / "p.csv.partial.jsonl.old").exists()  # removed once the CSV is written
    with pytest.raises(SystemExit):
        main(["predict", str(run), str(survey), "--out", str(out), "--tta", "sideways"])
    assert "invalid choice" in capsys.readouterr().err


def test_out_may_be_a_folder_and_an_impossible_out_is_one_line(run_and_survey, tmp_path, capsys):
    run, survey = run_and_survey
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["predict", str(run), str(survey), "--out", str(folder), "--tta", "none"]) == 0
    assert len(list(csv.DictReader(open(folder / "predictions.csv")))) == 20
    new = tmp_path / "new_folder"
    assert main(["predict", str(run), str(survey), "--out", f"{new}/", "--tta", "none"]) == 0
    # the CSV and its record (model, settings, share); the journal is gone
    assert sorted(p.name for p in new.iterdir()) == ["predictions.csv", "predictions.csv.json"]
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main(["predict", str(run), str(survey), "--out", str(a_file / "p.csv"), "--tta", "none"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") <= 30 and "benthos: error:" in err and "a_file" in err and "Traceback" not in err


def test_evaluate_tta_flag_scores_the_views_asked_for(run_and_survey, capsys):
    run, survey = run_and_survey
    results = {}
    for mode in ("none", "dihedral"):
        assert main(["evaluate", str(run), str(survey.parent / "taxa"), "--json", "--tta", mode]) == 0
        results[mode] = json.loads(capsys.readouterr().out)
    assert results["none"]["tta"] == "none" and results["dihedral"]["tta"] == "dihedral"
    assert results["none"]["n"] == results["dihedral"]["n"] == 16
    assert results["none"]["ece"] != results["dihedral"]["ece"]  # different views, different probabilities
