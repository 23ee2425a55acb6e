"""write_report without a browser: content, self-containment, tolerance of missing pieces."""
import json
import re

import pytest

from benthos.errors import DataError
from benthos.report.classification import write_report
from benthos.report.html import section


def _no_external_urls(text):
    return not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text) and "url(http" not in text


def test_full_report(fake_run):
    run_dir, evaluation, mistakes = fake_run
    path = write_report(run_dir, evaluation, mistakes, extra_sections=[section("Extra", "<p>hello extra</p>")])
    text = path.read_text()
    assert path == run_dir / "report.html"
    assert _no_external_urls(text)
    for heading in ("Summary", "Learning curves", "Confusion matrix", "Per-class scores",
                    "Most confident mistakes", "Calibration", "Extra"):
        assert f"<h2>{heading}</h2>" in text
    assert text.count('src="data:image/png;base64,') == 3  # curves, heatmap, reliability
    assert text.count('src="data:image/jpeg;base64,') == 4  # one thumbnail per mistake
    assert "resnet18" in text and "finetune" in text and "12 min 34 s" in text
    assert "crustose coralline algae" in text and "hello extra" in text
    assert "sponge \u2192 " not in text and "Acropora \u2192 Porites (0.50)" in text
    assert not list(run_dir.glob(".report.html.*"))  # no temp file left from the atomic write


def test_minimal_run_gets_notes_not_crash(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"architecture": "tiny"}))
    text = write_report(tmp_path).read_text()
    assert "No training history" in text and "No evaluation yet" in text


def test_reads_evaluation_json_and_skips_broken_images(fake_run):
    run_dir, evaluation, mistakes = fake_run
    (run_dir / "evaluation.json").write_text(json.dumps(evaluation))
    mistakes[1]["path"] = str(run_dir / "gone.jpg")
    text = write_report(run_dir, mistakes=mistakes).read_text()
    assert "<h2>Confusion matrix</h2>" in text
    assert "1 image(s) could not be read" in text


def test_bad_run_json_is_a_data_error(tmp_path):
    (tmp_path / "run.json").write_text('{"architecture": "x",\n oops}')
    with pytest.raises(DataError, match=r"run.json: not valid JSON at line 2"):
        write_report(tmp_path)
    with pytest.raises(DataError, match="run folder .* not found"):
        write_report(tmp_path / "missing")


@pytest.mark.parametrize("record, says", [
    ({"temperature": 0.7, "calibrated": True}, "logits divided by T = 0.700"),
    ({"temperature": 1.0, "calibrated": True}, "unchanged at T = 1"),  # a fitted T of exactly 1 is still fitted
    ({"temperature": 1.0, "calibrated": False}, "not temperature-scaled"),
    ({"temperature": 1.3}, "logits divided by T = 1.300"),  # evaluation.json of older runs: no "calibrated" key
    ({"temperature": 1.0}, "not temperature-scaled"),
])
def test_calibration_note_says_whether_probabilities_were_scaled(fake_run, record, says):
    run_dir, evaluation, mistakes = fake_run
    text = write_report(run_dir, evaluation | record, mistakes).read_text()
    assert says in text
    assert ("not temperature-scaled" in text) == (says == "not temperature-scaled")


def test_summary_names_the_device_when_recorded(fake_run):
    run_dir, evaluation, mistakes = fake_run
    assert "trained on" not in write_report(run_dir, evaluation, mistakes).read_text()  # older runs: no row
    run = json.loads((run_dir / "run.json").read_text())
    run["timings"] = {"fit_s": 700.0, "device": "cuda:0", "precision": "bf16-mixed"}
    (run_dir / "run.json").write_text(json.dumps(run))
    text = write_report(run_dir, evaluation, mistakes).read_text()
    assert "<th>trained on</th><td>cuda:0 bf16-mixed</td>" in text
