"""`benthos predict RUN points.csv`: classify CoralNet-style points on new photos, for percent cover."""
import csv

import pytest
from PIL import Image

from benthos.cli.main import main
from benthos.data.images import crop_padded


@pytest.fixture(scope="module")
def run_and_photos(tmp_path_factory, make_tiny_run):
    return make_tiny_run(tmp_path_factory.mktemp("points"), 5, ("CCA", "Sand"), "quadrats", ["q0.png", "q1.png"],
                         (120, 160), "broken.png", "--patch-size", "32")


def _points_csv(path, rows, header=("Name", "Row", "Column")):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_points_are_classified_as_their_patches_and_read_by_cover(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    pts = _points_csv(tmp_path / "points.csv", [
        ("q0.png", 10, 20), ("q0.png", 60, 80), ("q1.png", 119, 0),   # the last one at the corner: padded patch
        ("broken.png", 5, 5), ("broken.png", 6, 6),                    # an unreadable photo, named once
        ("q1.png", 500, 5),                                            # outside the photo
        ("q1.png", "x", 5)])                                           # not a number
    out = tmp_path / "preds.csv"
    assert main(["predict", str(run), str(pts), "--images", str(photos), "--out", str(out), "--tta", "none"]) == 0
    captured = capsys.readouterr()
    assert "predicted 3 points" in captured.out
    assert captured.err.count("broken.png") == 1 and "points.csv:7" in captured.err and "points.csv:8" in captured.err
    rows = list(csv.DictReader(open(out)))
    assert [(r["image"].rsplit("/", 1)[-1], r["row"], r["column"]) for r in rows] == [
        ("q0.png", "10", "20"), ("q0.png", "60", "80"), ("q1.png", "119", "0")]

    # each point's probabilities are those of its 32-px patch cut and predicted as an image
    for r, (name, row, col) in zip(rows, [("q0.png", 10, 20), ("q0.png", 60, 80), ("q1.png", 119, 0)]):
        patch = crop_padded(Image.open(photos / name).convert("RGB"), (col - 16, row - 16, col + 16, row + 16))
        patch.save(tmp_path / "patch.png")
        one = tmp_path / "one.csv"
        assert main(["predict", str(run), str(tmp_path / "patch.png"), "--out", str(one), "--tta", "none"]) == 0
        (single,) = csv.DictReader(open(one))
        assert [float(r[f"prob:{c}"]) for c in ("CCA", "Sand")] == pytest.approx(
            [float(single[f"prob:{c}"]) for c in ("CCA", "Sand")], abs=2e-5)

    # the file is what `benthos ecology cover` reads: per-photo cover from the points
    cover = tmp_path / "cover.csv"
    assert main(["ecology", "cover", str(out), "--out", str(cover)]) == 0
    q0 = [r for r in csv.DictReader(open(cover)) if r["level"] == "image" and r["sample"].endswith("q0.png")]
    assert sum(int(r["points"]) for r in q0) == 2 and all(r["total_points"] == "2" for r in q0)

    # and the run's report with them: cover, and no estimators that count individuals
    assert main(["report", str(run), "--predictions", str(out)]) == 0
    html = (run / "report.html").read_text()
    assert "Points per taxon" in html and "Percent cover" in html and "not individuals" in html
    assert "Rarefaction" not in html and "chao1" not in html


def test_labelled_points_csv_and_bad_usage(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    # a CoralNet export with labels (and extra columns) is accepted; the labels are not used
    pts = _points_csv(tmp_path / "export.csv", [("q0.png", "2024-05-01", 30, 40, "Sand")],
                      header=("Name", "Date", "Row", "Column", "Label"))
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(pts), "--images", str(photos), "--out", str(out)]) == 0
    assert len(list(csv.DictReader(open(out)))) == 1
    # a CSV without Row/Column: one message naming what is missing
    bad = _points_csv(tmp_path / "bad.csv", [("q0.png", 1)], header=("Name", "Row"))
    assert main(["predict", str(run), str(bad), "--images", str(photos)]) == 2
    assert "bad.csv:1: a CoralNet CSV needs the columns Name, Row, Column (Label code is optional)" in capsys.readouterr().err
    # no usable point at all
    none = _points_csv(tmp_path / "none.csv", [("nowhere.png", 1, 1)])
    assert main(["predict", str(run), str(none), "--images", str(photos)]) == 2
    assert "no point could be used" in capsys.readouterr().err
    # --images with image folders is a mistake worth naming
    assert main(["predict", str(run), str(photos), "--images", str(photos), "--out", str(out)]) == 2
    assert "--images names the photo folder of a points CSV" in capsys.readouterr().err


def test_interrupted_point_prediction_resumes(run_and_photos, tmp_path, monkeypatch):
    import benthos.infer
    from benthos import tasks

    run, photos = run_and_photos
    pts = _points_csv(tmp_path / "points.csv", [("q0.png", r, c) for r in (10, 50, 90) for c in (20, 100)])
    whole = tmp_path / "whole.csv"
    tasks.predict(run, [str(pts)], whole, batch_size=2, chunk=2, tta="none", images=photos)
    real, calls = benthos.infer.predict_samples, []

    def dies_on_the_second_chunk(model, samples, *a, **kw):
        calls.append(len(samples))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(model, samples, *a, **kw)

    monkeypatch.setattr(benthos.infer, "predict_samples", dies_on_the_second_chunk)
    out = tmp_path / "preds.csv"
    with pytest.raises(KeyboardInterrupt):
        tasks.predict(run, [str(pts)], out, batch_size=2, chunk=2, tta="none", images=photos)
    monkeypatch.setattr(benthos.infer, "predict_samples", real)
    lines = []
    res = tasks.predict(run, [str(pts)], out, batch_size=2, chunk=2, tta="none", images=photos, progress=lines.append)
    assert res["resumed"] == 2 and any(line.startswith("resuming: 2 of 6 points") for line in lines)
    assert out.read_text() == whole.read_text()


def test_points_laid_out_on_photos_without_annotations(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos  # two 160 x 120 photos and one unreadable file
    grid = tmp_path / "grid.csv"
    assert main(["predict", str(run), str(photos), "--grid", "2x4", "--out", str(grid), "--tta", "none"]) == 0
    rows = list(csv.DictReader(open(grid)))
    q0 = [(int(r["row"]), int(r["column"])) for r in rows if r["image"].endswith("q0.png")]
    assert q0 == [(30, 20), (30, 60), (30, 100), (30, 140), (90, 20), (90, 60), (90, 100), (90, 140)]  # cell centres
    assert len(rows) == 16 and "broken.png" in capsys.readouterr().err

    rand, again = tmp_path / "rand.csv", tmp_path / "again.csv"
    for out in (rand, again):
        assert main(["predict", str(run), str(photos), "--points", "25", "--out", str(out), "--tta", "none"]) == 0
    rows = list(csv.DictReader(open(rand)))
    assert len(rows) == 50 and rand.read_text() == again.read_text()  # the same points for the same photos
    pts = {(int(r["row"]), int(r["column"])) for r in rows if r["image"].endswith("q1.png")}
    assert len(pts) > 20 and all(0 <= r < 120 and 0 <= c < 160 for r, c in pts)
    q1 = {(int(r["row"]), int(r["column"])) for r in rows if r["image"].endswith("q0.png")}
    assert pts != q1  # each photo its own points

    for bad, why in ((["--points", "5", "--grid", "2x2"], "not both"), (["--grid", "2y"], "ROWSxCOLUMNS"),
                     (["--points", "0"], "whole number >= 1")):
        assert main(["predict", str(run), str(photos), *bad]) == 2
        assert why in capsys.readouterr().err


def test_evaluate_cuts_points_as_the_run_was_trained(run_and_photos, tmp_path, monkeypatch, capsys):
    import benthos.infer

    run, photos = run_and_photos  # trained with --patch-size 32
    pts = _points_csv(tmp_path / "labelled.csv", [("q0.png", 30, 40, "Sand"), ("q1.png", 60, 60, "CCA")],
                      header=("Name", "Row", "Column", "Label"))
    real, boxes = benthos.infer.predict_samples, []
    monkeypatch.setattr(benthos.infer, "predict_samples",
                        lambda m, s, *a, **kw: boxes.extend(x.box for x in s) or real(m, s, *a, **kw))
    assert main(["evaluate", str(run), str(pts), "--images", str(photos), "--json"]) == 0
    assert boxes and all(b[2] - b[0] == 32 and b[3] - b[1] == 32 for b in boxes)


def test_shards_split_the_photos_and_merge_back(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    for extra in ([], ["--grid", "2x2"]):
        whole = tmp_path / "whole.csv"
        assert main(["predict", str(run), str(photos), "--out", str(whole), "--tta", "none", *extra]) == 0
        out = tmp_path / f"shards{len(extra)}"
        for i in (1, 2):
            assert main(["predict", str(run), str(photos), "--out", f"{out}/", "--tta", "none", "--shard", f"{i}/2",
                         *extra]) == 0
        shares = [list(csv.DictReader(open(out / f"predictions_{i}of2.csv"))) for i in (1, 2)]
        images = [{r["image"] for r in rows} for rows in shares]
        assert not images[0] & images[1]  # each photo, with all its points, in one share
        assert images[0] | images[1] == {r["image"] for r in csv.DictReader(open(whole))}
        merged = tmp_path / f"merged{len(extra)}.csv"
        assert main(["ecology", "merge", str(out / "predictions_1of2.csv"), str(out / "predictions_2of2.csv"),
                     "--out", str(merged)]) == 0
        assert sorted(open(merged).read().splitlines()) == sorted(whole.read_text().splitlines())
    capsys.readouterr()
    # merging a share twice, or files of different kinds, is refused with the file named
    one = str(tmp_path / "shards0" / "predictions_1of2.csv")
    assert main(["ecology", "merge", one, one, "--out", str(tmp_path / "x.csv")]) == 2
    assert "share(s) 1 of 2 given more than once" in capsys.readouterr().err
    (tmp_path / "copy.csv").write_text(open(one).read())  # not named as a share: the rows tell
    assert main(["ecology", "merge", one, str(tmp_path / "copy.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "also in" in capsys.readouterr().err
    assert main(["ecology", "merge", one, str(tmp_path / "shards2" / "predictions_2of2.csv"),
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "columns differ" in capsys.readouterr().err
    # shares named as --shard names them: a missing one, or shares of different splits, are named
    header = open(one).readline()
    for name in ("a_1of3.csv", "a_3of3.csv", "b_2of3.csv"):
        (tmp_path / name).write_text(header)
    assert main(["ecology", "merge", str(tmp_path / "a_1of3.csv"), str(tmp_path / "a_3of3.csv"),
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "share(s) 2 of 3 are missing" in capsys.readouterr().err
    assert main(["ecology", "merge", one, str(tmp_path / "b_2of3.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "shares of different splits (of 2, of 3)" in capsys.readouterr().err
    # a share with no rows (say, no detections on its photos) merges as nothing
    empty = tmp_path / "empty.csv"
    empty.write_text(open(one).readline())
    assert main(["ecology", "merge", one, str(empty), "--out", str(tmp_path / "y.csv")]) == 0
    assert (tmp_path / "y.csv").read_text() == open(one).read()
    # a share that holds no photo writes just the header and succeeds (array jobs keep going)
    from benthos.runs.shards import in_share

    n = next(n for n in range(3, 50) if not any(in_share(p, (1, n)) for p in photos.iterdir()))
    assert main(["predict", str(run), str(photos), "--shard", f"1/{n}", "--out", str(tmp_path / "e.csv")]) == 0
    assert (tmp_path / f"e_1of{n}.csv").read_text().startswith("image,label,score") and \
        len((tmp_path / f"e_1of{n}.csv").read_text().splitlines()) == 1
    for bad in ("3/2", "0/2", "a/b"):
        assert main(["predict", str(run), str(photos), "--shard", bad]) == 2
        assert "give I/N" in capsys.readouterr().err


def test_points_csv_edge_cases(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    # a spreadsheet's non-UTF-8 export: one line saying what to do, no traceback
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Name,Row,Column,Label\nq0.png,1,1,Algue brune \xe0 2 m\n".encode("cp1252"))
    assert main(["predict", str(run), str(latin), "--images", str(photos)]) == 2
    assert "CSV UTF-8" in capsys.readouterr().err
    # a point listed twice, points of two photos interleaved (A, B, A), and fractional coordinates
    pts = _points_csv(tmp_path / "p.csv", [("q0.png", 10, 20), ("q1.png", 30, 40), ("q0.png", 10, 20),
                                            ("q0.png", 10.25, 20.5), ("q0.png", 10.5, 20.5)])
    out = tmp_path / "o.csv"
    assert main(["predict", str(run), str(pts), "--images", str(photos), "--out", str(out), "--tta", "none"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [(r["image"].rsplit("/", 1)[-1], r["row"], r["column"]) for r in rows] == [
        ("q0.png", "10", "20"), ("q1.png", "30", "40"), ("q0.png", "10", "20"), ("q0.png", "10.25", "20.5"),
        ("q0.png", "10.5", "20.5")]  # input order, every row, coordinates as given
    assert rows[0]["prob:CCA"] == rows[2]["prob:CCA"]


def test_a_share_of_a_points_csv_opens_only_its_own_photos(run_and_photos, tmp_path, capsys):
    run, photos = run_and_photos
    pts = _points_csv(tmp_path / "p.csv", [("q0.png", 10, 20), ("q1.png", 30, 40), ("missing.png", 5, 5)])
    errs, rows = [], []
    for i in (1, 2):
        assert main(["predict", str(run), str(pts), "--images", str(photos), "--shard", f"{i}/2",
                     "--out", str(tmp_path / "s.csv"), "--tta", "none"]) == 0
        errs.append(capsys.readouterr().err)
        rows += list(csv.DictReader(open(tmp_path / f"s_{i}of2.csv")))
    assert sum("missing.png" in e for e in errs) == 1  # named by the share it belongs to, not by both
    assert sorted(r["image"].rsplit("/", 1)[-1] for r in rows) == ["q0.png", "q1.png"]


def test_merge_reads_what_each_share_records(run_and_photos, tmp_path, capsys):
    """Each predictions CSV has a record beside it (model, settings, share): merge checks the shares by
    what they say they are, whatever the files are called now, and refuses mixed models or settings."""
    import json
    import shutil

    from benthos.runs.run import weights_digest

    run, photos = run_and_photos
    out = tmp_path / "shares"
    for i in (1, 2):
        assert main(["predict", str(run), str(photos), "--out", f"{out}/", "--tta", "none", "--shard", f"{i}/2"]) == 0
    rec = json.loads((out / "predictions_1of2.csv.json").read_text())
    assert rec["shard"] == "1/2" and rec["tta"] == "none" and rec["weights_sha256"] == weights_digest(run)
    assert rec["rows"] == len((out / "predictions_1of2.csv").read_text().splitlines()) - 1
    # renamed on the way back from the machines: the records still say which share each is
    for i, name in ((1, "leg_a"), (2, "leg_b")):
        for ext in (".csv", ".csv.json"):
            shutil.copy(out / f"predictions_{i}of2{ext}", tmp_path / f"{name}{ext}")
    merged = tmp_path / "merged.csv"
    capsys.readouterr()
    assert main(["ecology", "merge", str(tmp_path / "leg_a.csv"), str(tmp_path / "leg_b.csv"), "--out", str(merged)]) == 0
    mrec = json.loads((tmp_path / "merged.csv.json").read_text())
    assert "shard" not in mrec and [m["shard"] for m in mrec["merged_from"]] == ["1/2", "2/2"]
    assert mrec["weights_sha256"] == rec["weights_sha256"] and mrec["rows"] == len(merged.read_text().splitlines()) - 1
    # a renamed share 1 with a file named like share 2 of 2 that records itself as share 1: refused
    shutil.copy(tmp_path / "leg_a.csv", tmp_path / "x_2of2.csv")
    shutil.copy(tmp_path / "leg_a.csv.json", tmp_path / "x_2of2.csv.json")
    assert main(["ecology", "merge", str(tmp_path / "leg_a.csv"), str(tmp_path / "x_2of2.csv"),
                 "--out", str(tmp_path / "y.csv")]) == 2
    assert "share(s) 1 of 2 given more than once" in capsys.readouterr().err

    def tampered(key, value):
        doc = json.loads((tmp_path / "leg_b.csv.json").read_text())
        (tmp_path / "leg_b.csv.json").write_text(json.dumps({**doc, key: value}))
        code = main(["ecology", "merge", str(tmp_path / "leg_a.csv"), str(tmp_path / "leg_b.csv"),
                     "--out", str(tmp_path / "y.csv")])
        (tmp_path / "leg_b.csv.json").write_text(json.dumps(doc))
        return code, capsys.readouterr().err

    code, err = tampered("weights_sha256", "0" * 64)
    assert code == 2 and "leg_b.csv: predicted with another model than" in err and "000000000000 vs" in err
    code, err = tampered("tta", "dihedral")
    assert code == 2 and "other settings" in err and "tta dihedral vs none" in err
    # an unreadable record, and an unfinished share (its journal beside it), are named
    (tmp_path / "leg_b.csv.json").write_text("{oops")
    assert main(["ecology", "merge", str(tmp_path / "leg_a.csv"), str(tmp_path / "leg_b.csv"),
                 "--out", str(tmp_path / "y.csv")]) == 2
    assert "leg_b.csv.json: cannot read the record" in capsys.readouterr().err
    (tmp_path / "leg_b.csv.json").unlink()  # without its record, leg_b is judged by its name (not a share name)
    (tmp_path / "leg_a.csv.partial.jsonl").write_text("{}\n")
    assert main(["ecology", "merge", str(tmp_path / "leg_a.csv"), str(tmp_path / "leg_b.csv"),
                 "--out", str(tmp_path / "y.csv")]) == 2
    assert "leg_a.csv: this share is unfinished" in capsys.readouterr().err
    (tmp_path / "leg_a.csv.partial.jsonl").unlink()
    assert main(["ecology", "merge", str(tmp_path / "leg_a.csv"), str(tmp_path / "leg_b.csv"),
                 "--out", str(merged)]) == 0
    assert sorted(m["shard"] or "-" for m in json.loads((tmp_path / "merged.csv.json").read_text())["merged_from"]) \
        == ["-", "1/2"]


def test_coralnet_export_columns_and_labels_are_carried_through(run_and_photos, tmp_path, capsys):
    """Photos in a folder per site, CoralNet's own columns and `Label code`: predictions keep Date and
    Aux1 (for grouping) and the points' labels (annotated cover beside the predicted one)."""
    import json
    import shutil

    run, photos = run_and_photos
    for site, name in (("siteA", "q0.png"), ("siteB", "q1.png")):
        (tmp_path / "survey" / site).mkdir(parents=True)
        shutil.copy(photos / name, tmp_path / "survey" / site / name)
    export = _points_csv(tmp_path / "export.csv", [
        ("q0.png", "2024-05-01", "siteA", 10, 20, "CCA"), ("q0.png", "2024-05-01", "siteA", 60, 80, "Sand"),
        ("q1.png", "2024-05-02", "siteB", 30, 40, "Sand"), ("q1.png", "2024-05-02", "siteB", 90, 150, "Turf")],
        header=("Name", "Date", "Aux1", "Row", "Column", "Label code"))
    out = tmp_path / "preds.csv"
    assert main(["predict", str(run), str(export), "--images", str(tmp_path / "survey"), "--out", str(out),
                 "--tta", "none"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [(r["Date"], r["Aux1"], r["annotated_label"]) for r in rows] == [
        ("2024-05-01", "siteA", "CCA"), ("2024-05-01", "siteA", "Sand"), ("2024-05-02", "siteB", "Sand"),
        ("2024-05-02", "siteB", "Turf")]
    assert rows[0]["image"].endswith("siteA/q0.png")
    capsys.readouterr()

    # cover by a CoralNet column, with the annotated cover of the same points beside the predicted one
    cover = tmp_path / "cover.csv"
    assert main(["ecology", "cover", str(out), "--by", "group", "Aux1", "--out", str(cover)]) == 0
    printed = capsys.readouterr().out
    assert "annotated cover %" in printed
    got = {(r["level"], r["sample"], r["taxon"]): r for r in csv.DictReader(open(cover))}
    assert got[("group", "siteB", "Turf")]["annotated_cover"] == "50" and got[("group", "siteB", "Turf")]["points"] == "0"
    assert got[("all", "all", "Sand")]["annotated_cover"] == "50"
    # the CoralNet export itself as --metadata (one row per point; Name -> photo)
    counts = tmp_path / "counts.csv"
    assert main(["ecology", "counts", str(out), "--metadata", str(export), "--by", "group", "Date", "--out", str(counts)]) == 0
    assert {r["sample"] for r in csv.DictReader(open(counts))} == {"2024-05-01", "2024-05-02"}
    assert open(counts).readline().strip() == "sample,taxon,points"  # points, not individuals
    capsys.readouterr()
    # corrections of point data are cover, with the annotated cover beside
    (tmp_path / "evaluation.json").write_text(json.dumps({"classes": ["CCA", "Sand"],
                                                           "confusion_matrix": [[8, 2], [1, 9]]}))
    assert main(["ecology", "correct", str(out), "--evaluation", str(tmp_path / "evaluation.json"), "--json",
                 "--bootstrap", "20"]) == 0
    res = json.loads(capsys.readouterr().out)["corrections"]["all"]
    assert res["unit"] == "% cover" and res["annotated"] == [1, 2] and res["annotated_total"] == 4
