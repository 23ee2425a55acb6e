"""One counting threshold for detections, stated by every command that counts them."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from benthos.cli.main import main
from benthos.ecology.correction import Evaluation
from benthos.ecology.predictions import read_predictions
from benthos.ecology.taxonomy import Taxonomy
from benthos.ecology.threshold import count_threshold, counted
from benthos.errors import DataError
from benthos.runs.atomic import atomic_write_json

# what `benthos detect predict` writes beside detections.csv (an example record)
RECORD = {"job": "benthos detect predict", "run": "/runs/det", "weights_sha256": "ab" * 32,
          "count_threshold": {"default": 0.6, "per_class": {"Ophiura ophiura": 0.8},
                              "source": "fitted on the run's validation images"}}


def _expected(preds, default=0.6, per=None):
    per = per or {"Ophiura ophiura": 0.8}
    return int(sum(s >= per.get(lb, default) for lb, s in zip(preds.labels, preds.scores)))


def run(capsys, *argv):
    code = main(["ecology", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_recorded_threshold_is_used_and_min_score_overrides_it(files):
    atomic_write_json(files / "dets.csv.json", RECORD)
    preds = read_predictions(files / "dets.csv")
    thr = count_threshold(preds)
    assert thr.origin == "record" and thr.of("Ophiura ophiura") == 0.8 and thr.of("Asterias rubens") == 0.6
    assert counted(preds, thr).sum() == _expected(preds)
    assert "recorded beside dets.csv, fitted on the run's validation images" in thr.describe()
    one = count_threshold(preds, 0.3)  # --min-score: one value for every class
    assert one.origin == "option" and one.of("Ophiura ophiura") == 0.3 and counted(preds, one).sum() == (preds.scores >= 0.3).sum()
    # classifications are all counted unless --min-score is given
    assert count_threshold(read_predictions(files / "preds.csv")) is None


def test_no_record_counts_at_one_half_and_says_so(files, capsys):
    preds = read_predictions(files / "dets.csv")
    thr = count_threshold(preds)
    assert thr.origin == "default" and thr.default == 0.5
    code, out, err = run(capsys, "counts", files / "dets.csv")
    assert code == 0 and out.startswith("sample,taxon,count")  # stdout holds the CSV only
    assert ("no counting threshold recorded beside dets.csv: counting boxes with score >= 0.5; pass --min-score" in err)
    assert sum(int(r["count"]) for r in csv.DictReader(out.splitlines())) == int((preds.scores >= 0.5).sum())


def test_every_counting_command_states_the_threshold(files, capsys):
    atomic_write_json(files / "dets.csv.json", RECORD)
    preds = read_predictions(files / "dets.csv")
    n = _expected(preds)
    line = "counting boxes with score >= 0.6 (Ophiura ophiura >= 0.8; other classes >= 0.6): recorded beside dets.csv"

    code, out, _ = run(capsys, "counts", files / "dets.csv", "--out", files / "c.csv")
    assert code == 0 and line in out and f"{n} of {len(preds)} boxes counted" in out
    assert sum(int(r["count"]) for r in csv.DictReader(open(files / "c.csv"))) == n

    code, out, _ = run(capsys, "report", files / "dets.csv", "--out", files / "r.html", "--bootstrap", "3")
    html = (files / "r.html").read_text()
    assert code == 0 and line in out and "Counting threshold" in html and "Ophiura ophiura &gt;= 0.8" in html
    assert f'<b>{n}</b>individuals counted' in html

    code, out, _ = run(capsys, "report", files / "dets.csv", "--out", files / "r2.html", "--bootstrap", "3", "--min-score", "0.9")
    assert code == 0 and "score >= 0.9: given with --min-score" in out
    assert f"<b>{int((preds.scores >= 0.9).sum())}</b>individuals counted" in (files / "r2.html").read_text()

    t = Taxonomy.example()
    t.write(files / "tax.csv")
    code, out, _ = run(capsys, "darwincore", files / "dets.csv", "--taxonomy", files / "tax.csv", "--out", files / "occ.csv")
    assert code == 0 and line in out
    rows = list(csv.DictReader(open(files / "occ.csv")))
    assert sum(int(r["individualCount"]) for r in rows) == n
    assert "counted at score >= 0.6 (per class where recorded)" in rows[0]["identificationRemarks"]

    ev = Evaluation(["Asterias rubens", "Ophiura ophiura", "Pagurus bernhardus"], np.diag([20, 20, 20]))
    atomic_write_json(files / "ev.json", ev.to_dict())
    code, out, _ = run(capsys, "correct", files / "dets.csv", "--evaluation", files / "ev.json", "--method", "acc",
                       "--bootstrap", "5", "--json")
    res = json.loads(out)
    assert code == 0 and sum(res["corrections"]["all"]["naive"]) == n and res["threshold"]["default"] == 0.6


@pytest.mark.parametrize("bad,match", [
    ({"count_threshold": {"default": 1.5}}, r"count_threshold.default is 1.5"),
    ({"count_threshold": {"default": 0.5, "per_class": {"x": "high"}}}, r"per_class\['x'\] is 'high'"),
    ({"count_threshold": ["0.5"]}, "must be an object with a 'default' score"),
])
def test_a_bad_record_is_one_line_error(files, capsys, bad, match):
    atomic_write_json(files / "dets.csv.json", bad)
    with pytest.raises(DataError, match=match):
        count_threshold(read_predictions(files / "dets.csv"))
    code, _, err = run(capsys, "counts", files / "dets.csv")
    assert code == 2 and err.startswith("benthos: error:") and "dets.csv.json" in err and err.count("\n") == 1


def test_min_score_out_of_range(files, capsys):
    code, _, err = run(capsys, "counts", files / "dets.csv", "--min-score", "5")
    assert code == 2 and "--min-score 5: give a score between 0 and 1" in err
