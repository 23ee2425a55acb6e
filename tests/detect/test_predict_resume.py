"""`benthos detect predict` continues after an interruption instead of starting over."""
import pytest


def test_interrupted_detect_predict_resumes(tmp_path, monkeypatch, coco_factory):
    from benthos.detect import inference
    from benthos.tasks import detect as dp
    from benthos.detect.config import DetectConfig
    from benthos.tasks.detect import train as train_detector

    coco = coco_factory(tmp_path / "data", n=6)
    run = tmp_path / "det"
    train_detector(coco, run, DetectConfig(model="yolo_lite0", input_size=96, epochs=1, batch_size=2,
                                           val_fraction=0.5, limit_train_batches=1, pretrained_backbone=False))
    images = coco.parent / "images"
    dp.predict(run, images, tmp_path / "whole")

    real, seen = inference.predict_each, []

    def dies_after_four(model, paths, *a):
        for k, item in enumerate(real(model, paths, *a)):
            if k == 4:
                raise KeyboardInterrupt
            seen.append(item[0].name)
            yield item

    monkeypatch.setattr(inference, "predict_each", dies_after_four)
    with pytest.raises(KeyboardInterrupt):
        dp.predict(run, images, tmp_path / "out")
    seen.clear()
    monkeypatch.setattr(inference, "predict_each", lambda model, paths, *a: (seen.append(p.name) or (p, r, e)
                                                                       for p, r, e in real(model, paths, *a)))
    res = dp.predict(run, images, tmp_path / "out")
    assert res["resumed"] == 4 and len(seen) == 2
    for name in ("detections.csv", "counts.csv", "detections.coco.json"):
        assert (tmp_path / "out" / name).read_text() == (tmp_path / "whole" / name).read_text()
    assert not (tmp_path / "out" / "predictions.partial.jsonl").exists()


def test_detect_predict_shards_cover_every_image_once(tmp_path, coco_factory, capsys):
    import csv

    from benthos.cli.main import main
    from benthos.tasks import detect as dp
    from benthos.detect.config import DetectConfig
    from benthos.tasks.detect import train as train_detector

    coco = coco_factory(tmp_path / "data", n=5)
    run = tmp_path / "det"
    train_detector(coco, run, DetectConfig(model="yolo_lite0", input_size=96, epochs=1, batch_size=2,
                                           val_fraction=0.5, limit_train_batches=1, pretrained_backbone=False,
                                           score_thresh=0.0))  # an untrained detector: keep every box
    images = coco.parent / "images"
    whole = dp.predict(run, images, tmp_path / "whole", score_thresh=0.0)
    shares = [dp.predict(run, images, tmp_path / f"s{i}", shard=f"{i}/2", score_thresh=0.0) for i in (1, 2)]
    names = [sorted(r["path"].name for r in s["results"]) for s in shares]
    assert not set(names[0]) & set(names[1])
    assert sorted(names[0] + names[1]) == sorted(r["path"].name for r in whole["results"])
    parts = [tmp_path / f"s{i}" / f"shard_{i}of2" / "detections.csv" for i in (1, 2)]  # shares never share files
    merged = tmp_path / "merged.csv"
    assert main(["ecology", "merge", *map(str, parts), "--out", str(merged)]) == 0
    rows = lambda p: sorted(map(tuple, csv.reader(open(p))))  # noqa: E731
    assert rows(merged) == rows(tmp_path / "whole" / "detections.csv")
    per_image = [r[0] for r in rows(merged) if r[0] != "image"]
    assert max(per_image.count(i) for i in set(per_image)) > 1  # many boxes of one image, all kept


def test_detect_merge_rebuilds_the_unsharded_outputs(tmp_path, coco_factory, capsys):
    import json
    import shutil

    from benthos.cli.main import main
    from benthos.detect.config import DetectConfig
    from benthos.tasks.detect import train as train_detector

    coco = coco_factory(tmp_path / "data", n=6)
    run = tmp_path / "det"
    train_detector(coco, run, DetectConfig(model="yolo_lite0", input_size=96, epochs=1, batch_size=2,
                                           val_fraction=0.5, limit_train_batches=1, pretrained_backbone=False,
                                           score_thresh=0.0))
    images = str(coco.parent / "images")
    common = ["--score-thresh", "0", "--min-score", "0.3"]  # an untrained detector: keep every box
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "whole"), *common]) == 0
    for i in (1, 2, 3):  # every share into the same --out: each writes its own shard_Iof3/
        assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "sh"), "--shard", f"{i}/3", *common]) == 0
    (tmp_path / "sh" / "shard_1of3_old").mkdir()  # a leftover beside the shares is not one of them
    capsys.readouterr()
    assert main(["detect", "merge", str(tmp_path / "sh")]) == 0
    assert "merged 3 shares: 6 images" in capsys.readouterr().out
    for name in ("detections.csv", "counts.csv", "detections.coco.json"):  # the counting threshold travelled too
        assert (tmp_path / "sh" / name).read_text() == (tmp_path / "whole" / name).read_text()
    assert len((tmp_path / "whole" / "detections.csv").read_text().splitlines()) > 7  # boxes, not only a header

    # what a user gets wrong is refused with the share named, and nothing is written
    shutil.move(tmp_path / "sh" / "shard_3of3", tmp_path / "later")
    assert main(["detect", "merge", str(tmp_path / "sh"), "--out", str(tmp_path / "m")]) == 2
    assert "share(s) 3 of 3 are missing" in capsys.readouterr().err
    shutil.move(tmp_path / "later", tmp_path / "sh" / "shard_3of3")
    (tmp_path / "sh" / "shard_2of3" / "predictions.partial.jsonl").write_text("{}\n")
    assert main(["detect", "merge", str(tmp_path / "sh"), "--out", str(tmp_path / "m")]) == 2
    assert "shard_2of3: this share is unfinished" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["detect", "merge", str(tmp_path / "whole")]) == 2
    assert "no shares" in capsys.readouterr().err
    (tmp_path / "sh" / "shard_2of3" / "predictions.partial.jsonl").unlink()

    # each share's JSON records which share it is and how it was predicted: a renamed copy is
    # caught, and so is a share predicted with other options
    sh = lambda i: str(tmp_path / "sh" / f"shard_{i}of3")  # noqa: E731
    shutil.copytree(sh(2), tmp_path / "mixed_up" / "shard_3of3")  # share 2 copied under share 3's name
    assert main(["detect", "merge", sh(1), sh(2), str(tmp_path / "mixed_up" / "shard_3of3"), "--out", str(tmp_path / "m")]) == 2
    assert "share(s) 2 of 3 given more than once" in capsys.readouterr().err
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "other"), "--shard", "3/3",
                 "--score-thresh", "0.5", "--min-score", "0.3"]) == 0
    capsys.readouterr()
    assert main(["detect", "merge", sh(1), sh(2), str(tmp_path / "other" / "shard_3of3"), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "shard_3of3: predicted with other settings" in err and "score_thresh 0.5 vs 0.0" in err
    assert main(["detect", "predict", str(run), images, "--out", str(tmp_path / "overlap"), "--shard", "3/3",
                 "--tile-overlap", "0.5", *common]) == 0  # the overlap of no tiles: the same predictions
    assert main(["detect", "merge", sh(1), sh(2), str(tmp_path / "overlap" / "shard_3of3"), "--out", str(tmp_path / "ok")]) == 0
    assert (tmp_path / "ok" / "detections.csv").read_text() == (tmp_path / "whole" / "detections.csv").read_text()
    # a share written before box_vote was recorded predicted as the run was configured (no voting
    # for this run): it merges with today's shares, and is caught beside one that voted
    old = tmp_path / "sh" / "shard_1of3" / "detections.coco.json"
    doc = json.loads(old.read_text())
    del doc["info"]["box_vote"]
    old.write_text(json.dumps(doc))
    assert main(["detect", "merge", sh(1), sh(2), sh(3), "--out", str(tmp_path / "ok2")]) == 0
    voted = tmp_path / "sh" / "shard_2of3" / "detections.coco.json"
    doc = json.loads(voted.read_text())
    doc["info"]["box_vote"] = 0.6
    voted.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["detect", "merge", sh(1), sh(2), sh(3), "--out", str(tmp_path / "m")]) == 2
    assert "box_vote 0.6 vs 0.0" in capsys.readouterr().err
    from benthos.tasks.detect import _with_implied_box_vote

    info = json.loads(old.read_text())["info"]
    assert _with_implied_box_vote(info)["box_vote"] == 0.0
    assert "box_vote" not in _with_implied_box_vote({**info, "weights_sha256": "0" * 64})  # another model's share
    assert "box_vote" not in _with_implied_box_vote({**info, "run": str(tmp_path / "gone")})  # run not readable here
    broken = tmp_path / "other" / "shard_3of3" / "detections.coco.json"
    doc = json.loads(broken.read_text())
    del doc["images"][0]["width"]
    broken.write_text(json.dumps(doc))
    assert main(["detect", "merge", sh(1), sh(2), str(broken.parent), "--out", str(tmp_path / "m")]) == 2
    assert "not a detections file written by `benthos detect predict`" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
