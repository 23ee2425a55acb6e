"""Pages and printouts a biologist reads without a glossary."""
from __future__ import annotations

import json
import re

from benthos.cli.main import main
from benthos.ecology.predictions import Predictions


def run(capsys, *argv):
    code = main(["ecology", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cover_refuses_image_level_predictions(files, capsys):
    code, _, err = run(capsys, "cover", files / "preds.csv")
    assert code == 2 and "percent cover needs point classifications" in err and "one label per image" in err
    assert err.count("\n") == 1


def test_point_counts_get_only_the_measures_of_cover_shares(files, capsys):
    code, out, _ = run(capsys, "counts", files / "points.csv", "--by", "folder", "--out", files / "pc.csv")
    assert code == 0 and "60 points" in out
    assert (files / "pc.csv").read_text().startswith("sample,taxon,points\n")
    code, out, err = run(capsys, "diversity", files / "pc.csv", "--curves", files / "curves.csv")
    assert code == 0 and "points" in out.splitlines()[0] and "Shannon H'" in out
    table = out.split("\n\n")[0]
    assert not re.search(r"chao1|ACE|coverage|rarefied|taxa in", table, re.I) and "not counted individuals" in out
    assert "left out for points" in err and not (files / "curves.csv").exists()
    code, out, _ = run(capsys, "diversity", files / "pc.csv", "--json")
    res = json.loads(out)
    assert set(res["station_1"]) == {"n", "richness", "shannon", "simpson", "hill_q1", "hill_q2", "pielou", "undefined", "points"}
    # a hand-made file says so with --points
    (files / "hand.csv").write_text((files / "pc.csv").read_text().replace("points\n", "count\n", 1))
    code, out, _ = run(capsys, "diversity", files / "hand.csv", "--points")
    assert code == 0 and "Chao1" not in out.split("\n\n")[0] and "not counted individuals" in out


def test_biodiversity_page_reads_without_a_glossary(tmp_path, capsys):
    """Many samples: long tables folded, every plot titled, samples left out of plots named."""
    p = Predictions.example("detection", n_images=30)
    p.images = [f"site_{i % 15:02d}/img_{i:03d}.jpg" for i in range(len(p))]
    p.write(tmp_path / "dets.csv")
    code, out, _ = run(capsys, "report", tmp_path / "dets.csv", "--out", tmp_path / "r.html", "--bootstrap", "3",
                       "--min-score", "0", "--by", "folder")
    html = (tmp_path / "r.html").read_text()
    assert code == 0
    assert "Composition" in html and 'alt="composition of each sample (stacked bars)"' in html
    assert "<details><summary>Individuals of each taxon in 15 samples (unfold)</summary>" in html
    assert 'title="H&#x27; = -sum p ln p (natural log)' in html and "<b>Shannon index</b>:" in html  # tooltip and footnote
    assert "Curves are drawn for the 8 largest of 15 samples" in html
    drawn_note = re.search(r"not drawn: ([^.]*)\.", html).group(1).split(", ")
    assert len(drawn_note) == 7 and all(s.startswith("site_") for s in drawn_note)
    assert "<th>shannon</th>" not in html and "<th>hill_q1</th>" not in html  # no code names as headers
    assert "score &gt;= 0: given with --min-score" in html
