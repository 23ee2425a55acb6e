from __future__ import annotations

import numpy as np
import pytest

from benthos.ecology.tables import write_csv
from benthos.ecology.counts import CountTable, count_predictions, percent_cover, read_counts
from benthos.ecology.predictions import Predictions, detect_kind, group_keys, read_metadata, read_predictions
from benthos.errors import DataError


def test_kind_from_header(files):
    assert read_predictions(files / "preds.csv").kind == "classification"
    assert read_predictions(files / "points.csv").kind == "points"
    assert read_predictions(files / "dets.csv").kind == "detection"
    assert detect_kind(["image", "label", "score"]) is None
    (files / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="neither a classification.*nor a detection"):
        read_predictions(files / "other.csv")


def test_bad_prediction_rows_name_the_line(files):
    text = (files / "preds.csv").read_text().splitlines()
    bad = text[:3] + [text[3].replace(text[3].split(",")[2], "1.7", 1)] + text[4:]
    (files / "bad.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match="line 4: score 1.7"):
        read_predictions(files / "bad.csv")
    cols = text[1].split(",")
    cols[1] = "Nonexistus"
    (files / "bad2.csv").write_text("\n".join([text[0], ",".join(cols)]) + "\n")
    with pytest.raises(DataError, match="line 2: label 'Nonexistus'"):
        read_predictions(files / "bad2.csv")


def test_counts_by_image_folder_and_metadata(files):
    preds = read_predictions(files / "preds.csv")
    by_image = count_predictions(preds, group_keys(preds, "image"))
    assert by_image.counts.sum() == len(preds) and len(by_image.samples) == 8
    by_folder = count_predictions(preds, group_keys(preds, "folder"))
    assert by_folder.samples == ["station_1", "station_2"]
    assert np.array_equal(by_folder.counts.sum(0), by_image.counts.sum(0))
    write_csv(files / "meta.csv", [dict(image=im, transect=f"T{i % 3}") for i, im in enumerate(dict.fromkeys(preds.images))],
              ["image", "transect"])
    meta = read_metadata(files / "meta.csv")
    by_t = count_predictions(preds, group_keys(preds, "transect", meta))
    assert sorted(by_t.samples) == ["T0", "T1", "T2"] and by_t.counts.sum() == len(preds)
    with pytest.raises(DataError, match="no column 'site'"):
        group_keys(preds, "site", meta)
    # long and wide round trip
    by_t.write_long(files / "long.csv")
    by_t.write_wide(files / "wide.csv")
    back = read_counts(files / "long.csv")
    for s in back.samples:
        for t in back.taxa:
            assert back.vector(s)[back.taxa.index(t)] == by_t.vector(s)[by_t.taxa.index(t)]
    assert (files / "wide.csv").read_text().splitlines()[0] == "sample," + ",".join(by_t.taxa) + ",total"


def test_detections_min_score(files):
    preds = read_predictions(files / "dets.csv")
    all_ = count_predictions(preds, group_keys(preds, "image"))
    some = count_predictions(preds, group_keys(preds, "image"), min_score=0.6)
    assert some.counts.sum() == int((preds.scores >= 0.6).sum()) < all_.counts.sum()


def test_percent_cover(files):
    preds = read_predictions(files / "points.csv")
    rows = percent_cover(preds, group_keys(preds, "folder"))
    img = [r for r in rows if r["level"] == "image" and r["sample"] == preds.images[0]]
    n0 = preds.images.count(preds.images[0])
    for r in img:
        assert r["cover"] == pytest.approx(100 * preds.labels[:n0].count(r["taxon"]) / n0)
    assert sum(r["cover"] for r in img) == pytest.approx(100)
    overall = {r["taxon"]: r for r in rows if r["level"] == "all"}
    assert sum(r["cover"] for r in overall.values()) == pytest.approx(100)
    assert {r["sample"] for r in rows if r["level"] == "group"} == {"station_1", "station_2"}
    with pytest.raises(DataError, match="point classifications"):
        percent_cover(read_predictions(files / "dets.csv"))


@pytest.mark.parametrize("body,match", [
    ("a,x,3\na,y,-1\n", "line 3: count -1 is negative"),
    ("a,x,2.5\n", "line 2: count 2.5 is not a whole number"),
    ("a,x,two\n", "line 2: count 'two' is not a number"),
    ("a,x,0\na,y,0\nb,x,1\n", "line 2: sample 'a' has no individuals"),
    ("a,x,1\na,x,2\n", "line 3: .* already given on line 2"),
])
def test_bad_counts(tmp_path, body, match):
    (tmp_path / "c.csv").write_text("sample,taxon,count\n" + body)
    with pytest.raises(DataError, match=match):
        read_counts(tmp_path / "c.csv")


def test_counts_missing_column(tmp_path):
    (tmp_path / "c.csv").write_text("site,taxon,n\na,x,1\n")
    with pytest.raises(DataError, match="missing column"):
        read_counts(tmp_path / "c.csv")


def test_example_roundtrip():
    t = CountTable.example()
    assert CountTable.from_dict(t.to_dict()).counts.tolist() == t.counts.tolist()
    p = Predictions.example("points")
    assert p.kind == "points" and p.points.shape == (len(p), 2)


def test_image_samples_are_named_relative_to_their_shared_folder():
    from benthos.ecology.predictions import short_names

    full = ["/data/survey/dive3/a.jpg", "/data/survey/dive3/b.jpg", "/data/survey/dive4/a.jpg"]
    assert short_names(full) == ["dive3/a.jpg", "dive3/b.jpg", "dive4/a.jpg"]  # still unique
    assert short_names(["/data/survey/a.jpg", "/data/survey/b.jpg"]) == ["a.jpg", "b.jpg"]
    assert short_names(["a.jpg", "b.jpg"]) == ["a.jpg", "b.jpg"]
    assert short_names(["/x/a.jpg", "y/b.jpg"]) == ["/x/a.jpg", "y/b.jpg"]  # nothing shared: as given
    assert short_names([]) == []
