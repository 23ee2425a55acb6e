"""The detector benchmark's figure is drawn from the committed table of measured rows."""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "benchmarks" / "results" / "detect_grouped.csv"


def _plot_module():
    spec = importlib.util.spec_from_file_location("plot_detect", ROOT / "benchmarks" / "plot_detect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_rows_are_the_documented_ones_and_plot(tmp_path):
    mod = _plot_module()
    rows = mod.read_rows(TABLE)
    doc = (ROOT / "docs" / "bench_detect.md").read_text()
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| detector |"))  # the main table
    block = lines[start:]
    block = block[:next((i for i, line in enumerate(block) if not line.startswith("|")), len(block))]
    table_lines = [line for line in block if "---" not in line][1:]
    triple = re.compile(r"\| (\d\.\d{3}) \| (\d\.\d{3}) \| (\d\.\d{3}) \|")  # AP50, AP, mAP
    documented = [triple.findall(line.replace("**", ""))[0] for line in table_lines]
    for r in rows:  # every plotted point is a row of the documented table (AP50, AP, mAP of the class)
        assert (f"{r['AP50_cls']:.3f}", f"{r['AP_cls']:.3f}", f"{r['mAP']:.3f}") in documented, r["label"]
    assert len(rows) == len(documented)
    out = tmp_path / "plot.png"
    mod.plot(rows, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_number_names_the_line(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("label,detector,AP50_cls,s_per_frame,GMACs,train_min\nx,yolo_lite0,0.3,fast,1,2\n")
    with pytest.raises(SystemExit, match=r"line 2: s_per_frame is 'fast'"):
        _plot_module().read_rows(bad)
