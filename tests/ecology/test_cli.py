from __future__ import annotations

import json

import pytest

from benthos.cli.main import main
from benthos.ecology.taxonomy import Taxonomy


def run(capsys, *argv):
    code = main(["ecology", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_counts_diversity_pipeline(files, capsys):
    code, out, _ = run(capsys, "counts", files / "preds.csv", "--by", "folder", "--out", files / "c.csv", "--wide", files / "w.csv")
    assert code == 0 and "2 samples" in out
    code, out, _ = run(capsys, "diversity", files / "c.csv", "--json", "--bootstrap", "5",
                       "--curves", files / "curves.csv", "--accumulation", files / "acc.csv")
    res = json.loads(out)
    assert code == 0 and set(res) == {"station_1", "station_2"}
    assert {"richness", "shannon", "simpson", "hill_q1", "hill_q2", "chao1", "chao1_ci", "ace", "rarefied", "pielou"} <= set(res["station_1"])
    assert (files / "curves.csv").read_text().startswith("sample,order,m,method,value,lower,upper")
    code, out, _ = run(capsys, "diversity", files / "c.csv", "--no-curves")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["sample", "individuals", "taxa", "Shannon"]
    assert lines[1].startswith("station_1 ") and "Chao1 (95% CI)" in lines[0] and "Gini-Simpson = 1 - sum p^2" in out
    assert "taxa found as samples are added" in out and "=" not in lines[1]  # a table, not key=value


def test_every_command_runs(files, capsys):
    Taxonomy.example().write(files / "tax_all.csv")
    t = Taxonomy.example()
    t.lineage.pop("Crossaster papposus")
    t.lines.pop("Crossaster papposus")
    t.write(files / "tax.csv")
    assert run(capsys, "counts", files / "dets.csv")[1].startswith("sample,taxon,count")
    assert "percent cover over all 60 points" in run(capsys, "cover", files / "points.csv", "--out", files / "cover.csv")[1]
    code, out, _ = run(capsys, "correct", files / "preds.csv", "--evaluation", files / "evaluation.json", "--bootstrap", "10")
    assert code == 0 and "naive" in out and "acc" in out
    code, out, _ = run(capsys, "unknown", files / "preds.csv", "--calibrate", files / "val.csv", "--score", "confidence",
                       "--out-dir", files / "review", "--json")
    assert code == 0 and json.loads(out)["n_predictions"] == 24 and (files / "review" / "review_gallery.html").exists()
    code, out, _ = run(capsys, "taxonomy", files / "tax.csv", "--predictions", files / "preds.csv", "--evaluation",
                       files / "evaluation.json", "--out", files / "rolled.csv")
    assert code == 0 and "accuracy [phylum]" in out
    code, out, _ = run(capsys, "darwincore", files / "dets.csv", "--taxonomy", files / "tax.csv", "--out", files / "dwca.zip",
                       "--title", "t", "--creator", "A. Person", "--licence", "CC-BY-4.0")
    assert code == 0 and "occurrences" in out
    code, out, _ = run(capsys, "report", files / "preds.csv", "--by", "folder", "--evaluation", files / "evaluation.json",
                       "--calibrate", files / "val.csv", "--score", "confidence", "--bootstrap", "5", "--out", files / "r.html")
    html = (files / "r.html").read_text()
    assert code == 0 and all(s in html for s in ("Counts per taxon", "Rarefaction and extrapolation",
                                                 "Naive vs misclassification-corrected", "Unknown taxa"))


@pytest.mark.parametrize("argv,match", [
    (["diversity", "{d}/nope.csv"], "file not found"),
    (["counts", "{d}/evaluation.json"], "neither a classification"),
    (["counts", "{d}/preds.csv", "--by", "group", "station"], "cannot group by 'station'"),
    (["taxonomy", "{d}/tax_all.csv", "--predictions", "{d}/preds.csv"], "Crossaster papposus' is not one of"),
    (["correct", "{d}/dets.csv", "--evaluation", "{d}/evaluation.json", "--method", "em"], "EM correction cannot run"),
])
def test_bad_input_is_one_line_error(files, capsys, argv, match):
    Taxonomy.example().write(files / "tax_all.csv")
    code, out, err = run(capsys, *[a.format(d=files) for a in argv])
    assert code == 2 and err.startswith("benthos: error:") and match in err and "Traceback" not in err


def test_json_output_writes_undefined_values_as_null():
    import json as _json

    from benthos.cli.ecology import _dumps

    text = _dumps({"chao1": float("nan"), "se": [1.5, float("inf")]})
    assert _json.loads(text) == {"chao1": None, "se": [1.5, None]} and "NaN" not in text
