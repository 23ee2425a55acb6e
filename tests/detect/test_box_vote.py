"""Box voting after NMS (benthos.detect.tiling.nms_vote) and Faster R-CNN's ``box_vote`` option."""
import json

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms

from benthos.detect.tiling import nms_vote
from benthos.errors import ConfigError


def test_without_voting_it_is_class_wise_nms():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 20], 1)
    scores, labels = torch.rand(200, generator=g), torch.randint(1, 3, (200,), generator=g)
    out = nms_vote(boxes, scores, labels, 0.5, limit=30)
    keep = batched_nms(boxes, scores, labels, 0.5)[:30]
    assert torch.equal(out["boxes"], boxes[keep]) and torch.equal(out["scores"], scores[keep])
    assert torch.equal(out["labels"], labels[keep])


def test_voting_moves_the_kept_box_to_the_weighted_mean_of_its_own_class():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0],    # kept (best score)
                          [1.0, 0.0, 11.0, 10.0],    # IoU 0.82 with it: suppressed, votes with weight 0.6
                          [20.0, 0.0, 30.0, 10.0],   # far away: kept, votes only for itself
                          [0.0, 1.0, 10.0, 11.0]])   # same place, other class: kept, not mixed in
    scores = torch.tensor([0.9, 0.6, 0.5, 0.4])
    labels = torch.tensor([1, 1, 1, 2])
    out = nms_vote(boxes, scores, labels, 0.5, vote_iou=0.6)
    assert out["scores"].tolist() == pytest.approx([0.9, 0.5, 0.4])  # NMS's choice and scores are unchanged
    assert out["labels"].tolist() == [1, 1, 2]
    x0 = (0.9 * 0 + 0.6 * 1) / 1.5
    assert out["boxes"].flatten().tolist() == pytest.approx([x0, 0, x0 + 10, 10, 20, 0, 30, 10, 0, 1, 10, 11])
    # a stricter vote IoU leaves the neighbour out: the kept box stays where it was
    strict = nms_vote(boxes, scores, labels, 0.5, vote_iou=0.9)
    assert strict["boxes"][0].tolist() == [0, 0, 10, 10]


def test_faster_rcnn_box_vote_changes_only_the_box_extents():
    from benthos.detect.registry import create_detector

    torch.manual_seed(0)
    plain = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=128,
                            score_thresh=0.0).eval()
    voting = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=128,
                             score_thresh=0.0, box_vote=0.5).eval()
    voting.load_state_dict(plain.state_dict())  # same weights: the option adds no parameters
    x = [torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(1))]
    with torch.no_grad():
        a, b = plain(x)[0], voting(x)[0]
    assert len(a["scores"]) > 10  # an untrained head still proposes plenty of overlapping boxes
    assert torch.equal(a["scores"], b["scores"]) and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(a["boxes"], b["boxes"])
    assert (a["boxes"] - b["boxes"]).abs().max() < 128


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.6", True])
def test_box_vote_must_be_an_iou(bad):
    from benthos.detect.registry import create_detector

    with pytest.raises(ConfigError, match="box_vote"):
        create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=128, box_vote=bad)


def test_config_box_vote_reaches_the_model_and_old_runs_load_without_it():
    from benthos.detect.config import DetectConfig
    from benthos.detect.build import build_model

    cfg = DetectConfig(model="fasterrcnn_lite0_fpn", input_size=128, pretrained_backbone=False, box_vote=0.6)
    assert build_model(cfg.resolved(), 2).roi_heads.box_vote == 0.6
    saved = cfg.resolved().to_dict()
    del saved["box_vote"]  # a run.json written before the key existed
    old = DetectConfig.from_dict(saved)
    assert not hasattr(build_model(old, 2).roi_heads, "box_vote")  # torchvision's own heads: plain NMS
    with pytest.raises(ConfigError, match="Faster R-CNN"):
        DetectConfig(model="yolo_lite0", box_vote=0.6).resolved()


def test_evaluate_and_predict_choose_box_voting_for_a_saved_run(tiny_coco, tmp_path, capsys):
    """`--box-vote` at evaluate/predict time: an older run (no voting) scored with it, a new one without;
    the same weights, only the boxes' extents differ; what was used is recorded."""
    from benthos.cli.main import main
    from benthos.detect.config import DetectConfig
    from benthos.tasks.detect import train as train_detector
    from benthos.detect.build import box_vote_of, load_detector
    from benthos.tasks.detect import evaluate as evaluate_run, predict as predict_run

    run = tmp_path / "frcnn"
    train_detector(tiny_coco, run, DetectConfig(model="fasterrcnn_lite0_fpn", input_size=96, epochs=1,
                                                batch_size=2, val_fraction=0.5, limit_train_batches=1,
                                                pretrained_backbone=False, box_vote=0, score_thresh=0.0),
                   log=lambda s: None)
    assert box_vote_of(load_detector(run)[0]) == 0.0  # as trained: off
    assert json.loads((run / "evaluation.json").read_text())["box_vote"] == 0.0  # training's own scoring says so
    assert box_vote_of(load_detector(run, box_vote=0.6)[0]) == 0.6
    assert box_vote_of(load_detector(run, tta=True, box_vote=0.6)[0]) == 0.6  # the mirror views vote together
    plain = evaluate_run(run, tiny_coco, split="all", report=False)
    voted = evaluate_run(run, tiny_coco, split="all", report=False, box_vote=0.6)
    assert (plain["box_vote"], voted["box_vote"]) == (0.0, 0.6)
    a = predict_run(run, tiny_coco.parent / "images", tmp_path / "plain", score_thresh=0.0)
    b = predict_run(run, tiny_coco.parent / "images", tmp_path / "voted", score_thresh=0.0, box_vote=0.6)
    for ra, rb in zip(a["results"], b["results"]):  # same detections and scores, boxes moved (or not)
        assert ra["path"] == rb["path"] and np.array_equal(ra["scores"], rb["scores"])
        assert np.array_equal(ra["labels"], rb["labels"]) and ra["boxes"].shape == rb["boxes"].shape
    assert any(not np.allclose(ra["boxes"], rb["boxes"]) for ra, rb in zip(a["results"], b["results"]))
    made = json.loads((tmp_path / "voted" / "detections.coco.json").read_text())["info"]
    assert made["box_vote"] == 0.6

    capsys.readouterr()
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--split", "all", "--json", "--box-vote", "0.6"]) == 0
    assert json.loads(capsys.readouterr().out)["box_vote"] == 0.6
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--box-vote", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "box_vote 1.5" in err and "Traceback" not in err


def test_box_vote_is_refused_for_detectors_without_it(run_yolo, tiny_coco, capsys):
    from benthos.cli.main import main

    assert main(["detect", "evaluate", str(run_yolo), str(tiny_coco), "--box-vote", "0.6"]) == 2
    err = capsys.readouterr().err
    assert "Faster R-CNN" in err and "yolo_lite0" in err and "Traceback" not in err


@pytest.fixture
def run_yolo(tiny_coco, tmp_path):
    from benthos.detect.config import DetectConfig
    from benthos.tasks.detect import train as train_detector

    out = tmp_path / "yolo"
    train_detector(tiny_coco, out, DetectConfig(model="yolo_lite0", input_size=96, epochs=1, batch_size=2,
                                                val_fraction=0.5, limit_train_batches=1, pretrained_backbone=False),
                   log=lambda s: None)
    return out


def test_report_says_how_boxes_were_merged():
    from benthos.detect.report import _postprocess_note

    assert _postprocess_note({"tta": False, "box_vote": 0.0}) == "" == _postprocess_note({})
    assert _postprocess_note({"tta": True, "box_vote": 0.6}) == "; mirror TTA, box voting at IoU 0.6"


def test_tiles_are_merged_as_the_detector_merges_its_own_boxes():
    """--tile: the tiles' boxes go through the detector's NMS IoU and box voting, not a fixed plain NMS."""
    from benthos.detect.tiling import predict_tiled

    class Shifting(torch.nn.Module):  # one animal at (10, 10)-(30, 30), each tile drawing it 2 px further right
        nms_thresh, detections_per_img = 0.5, 300

        def __init__(self, box_vote):
            super().__init__()
            self.box_vote, self.calls = box_vote, 0

        def forward(self, ims):
            out = []
            for im in ims:  # the image holds each pixel's own x and y: a tile knows where it lies
                x0, y0, dx = float(im[0, 0, 0]), float(im[1, 0, 0]), 2.0 * self.calls
                self.calls += 1
                box = torch.tensor([[10.0 + dx - x0, 10 - y0, 30 + dx - x0, 30 - y0]])
                out.append({"boxes": box, "scores": torch.tensor([0.9 - dx / 100]), "labels": torch.tensor([1])})
            return out

    ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    image = torch.stack([xs, ys, xs])  # 4 tiles of 32 px (origins 0 and 8 on each axis)
    plain = predict_tiled(Shifting(0.0), image, tile=32, overlap=0.5, batch_size=8)
    voted = predict_tiled(Shifting(0.6), image, tile=32, overlap=0.5, batch_size=8)
    assert len(plain["boxes"]) == len(voted["boxes"]) == 1 and plain["boxes"][0, 0] == 10  # NMS keeps the best
    assert 10 < voted["boxes"][0, 0] < 16  # voting: the score-weighted mean of the tiles' boxes
