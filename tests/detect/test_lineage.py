"""The lecture's detector lineage: OverFeat, R-CNN, Fast R-CNN, R-FCN, YOLO v1 (and Faster R-CNN's roi_op),
selective-search proposals and their cache, at tiny sizes."""
import json
import math
import sys

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from benthos.cli.main import main
from benthos.detect import DetectConfig, create_detector, list_detectors
from benthos.detect.proposals import (
    ProposalSettings,
    SelectiveSearch,
    clean_boxes,
    image_digest,
    to_pixels,
)
from benthos.detect.registry import detector_spec
from benthos.errors import BenthosError, ConfigError
from benthos.tasks.detect import train as train_detector

LINEAGE = ["overfeat_lite0", "rcnn_lite0", "fast_rcnn_lite0_fpn", "rfcn_lite0_fpn", "yolov1_lite0"]
# tiny settings so each trains, scores and predicts in seconds on a CPU
TINY = {"overfeat_lite0": dict(extra={"scales": [1.0, 2.0], "train_crop": 64}),
        "rcnn_lite0": dict(extra={"crop_size": 32}, max_proposals=30),
        "fast_rcnn_lite0_fpn": dict(max_proposals=60), "rfcn_lite0_fpn": {}, "yolov1_lite0": {}}


def test_every_detector_names_its_year_and_paper(capsys):
    names = list_detectors()
    assert set(LINEAGE) <= set(names)
    for n in names:
        s = detector_spec(n)
        assert isinstance(s.year, int) and 2013 <= s.year <= 2025 and s.paper, n
    assert {detector_spec(n).method for n in LINEAGE} == {"overfeat", "rcnn", "fast_rcnn", "rfcn", "yolov1"}
    assert main(["detect", "list"]) == 0
    out = capsys.readouterr().out
    assert "Girshick, Fast R-CNN, ICCV 2015" in out and "single-stage" in out
    lines = [ln for ln in out.splitlines() if ln and not ln.startswith(" ")]
    years = [int(ln.split()[3]) for ln in lines]
    assert years == sorted(years) and lines[0].split()[0] in ("overfeat_lite0", "rcnn_lite0")  # 2014: oldest first


def _tiny_config(name: str) -> DetectConfig:
    return DetectConfig(model=name, input_size=64, epochs=1, batch_size=2, limit_train_batches=1,
                        val_fraction=0.5, pretrained_backbone=False, trainable_stages=1, **TINY[name])


@pytest.fixture(scope="module")
def trained(tiny_coco, tmp_path_factory):
    """name -> (run folder, run.json, log lines), each detector trained once for this module."""
    done = {}

    def get(name):
        if name not in done:
            run, lines = tmp_path_factory.mktemp(name) / "run", []
            done[name] = run, train_detector(tiny_coco, run, _tiny_config(name), log=lines.append), lines
        return done[name]

    return get


@pytest.mark.parametrize("name", LINEAGE)
def test_lineage_detector_trains_scores_and_predicts(name, tiny_coco, trained):
    from benthos.detect.build import load_detector
    from benthos.detect.inference import predict_images
    from benthos.detect.tiling import predict_tiled
    from benthos.detect.tta import FlipTTA

    run, info, _ = trained(name)
    assert info["steps"] >= 1 and {"AP50", "mAP", "per_class"} <= set(info["metrics"])
    assert (run / "model.safetensors").is_file() and (run / "evaluation.json").is_file()
    model, _ = load_detector(run)
    images = sorted((tiny_coco.parent / "images").glob("*.jpg"))
    res = predict_images(model, images[:2])
    assert len(res) == 2 and all(r["boxes"].shape[1:] == (4,) for r in res)
    x = torch.rand(3, 80, 100)
    tiled = predict_tiled(model, x, 48, 0.2)  # tiles merged as the detector merges its own boxes
    both = FlipTTA(model).eval()([x])[0]
    for d in (tiled, both):
        assert len(d["boxes"]) == len(d["scores"]) == len(d["labels"])
        if len(d["boxes"]):
            assert d["labels"].min() >= 1 and d["boxes"][:, 2].max() <= 100 + 1e-3


def test_lineage_through_the_cli_with_roi_op_from_a_config(tiny_coco, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("roi_op: align\nmax_proposals: 40\nlimit_train_batches: 1\n")
    run = tmp_path / "run"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--model", "fast_rcnn_lite0_fpn",
                 "--config", str(cfg), "--input-size", "64", "--epochs", "1", "--batch-size", "2",
                 "--no-pretrained-backbone"]) == 0
    saved = json.loads((run / "run.json").read_text())["config"]
    assert saved["roi_op"] == "align" and saved["max_proposals"] == 40
    capsys.readouterr()
    assert main(["detect", "evaluate", str(run), str(tiny_coco), "--split", "all", "--json"]) == 0
    assert "AP50" in json.loads(capsys.readouterr().out)
    assert main(["detect", "predict", str(run), str(tiny_coco.parent / "images"), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "detections.csv").is_file()


# -- proposals and their cache

def _image(seed=0, size=64):
    rng = np.random.default_rng(seed)
    a = rng.integers(60, 120, (size, size, 3), dtype=np.uint8)
    a[10:30, 12:40] = (250, 240, 60)
    return a


def test_proposal_cache_hits_on_the_same_pixels_and_misses_on_other_content(tmp_path):
    ss = SelectiveSearch(cache=tmp_path)
    a = _image()
    first = ss(a)
    assert first.ndim == 2 and first.shape[1] == 4 and len(first) > 0
    assert ss.stats == {"computed": 1, "cached": 0, "seconds": ss.stats["seconds"]}
    # the same frame as a model sees it (a tensor in 0-1) has the same key: a cache hit
    again = ss(torch.from_numpy(a).permute(2, 0, 1).float() / 255)
    assert ss.stats["cached"] == 1 and np.array_equal(first, again)
    b = a.copy()
    b[0, 0, 0] ^= 1  # one pixel differs: another image
    ss(b)
    assert ss.stats["computed"] == 2
    assert image_digest(to_pixels(a)) != image_digest(to_pixels(b))
    assert len(list(tmp_path.rglob("*.safetensors"))) == 2 and not list(tmp_path.rglob("*.tmp"))


def test_an_entry_made_with_other_settings_is_never_reused(tmp_path):
    a = _image(1)
    coarse = SelectiveSearch(ProposalSettings(k=300), cache=tmp_path)
    fine = SelectiveSearch(ProposalSettings(k=40), cache=tmp_path)
    coarse(a)
    fine(a)
    assert fine.stats["computed"] == 1  # another key: searched again
    # an entry found under this key but recorded with other settings (or a torn file) is rebuilt
    from safetensors.numpy import save_file

    digest = image_digest(to_pixels(a))
    path = fine.entry(digest)
    save_file({"boxes": np.zeros((1, 4), np.float32)}, str(path),
              metadata={"settings": coarse.settings.key(), "image": digest})
    got = fine(a)
    assert fine.stats["computed"] == 2 and len(got) != 1
    path.write_bytes(b"torn")
    fine(a)
    assert fine.stats["computed"] == 3
    assert len(fine(a)) == len(got) and fine.stats["cached"] == 1  # the rebuilt entry is read back


def test_max_proposals_takes_the_first_of_the_cached_ranking(tmp_path):
    a = _image(2)
    many = SelectiveSearch(cache=tmp_path, max_proposals=2000)(a)
    few = SelectiveSearch(cache=tmp_path, max_proposals=5)
    assert np.array_equal(few(a), many[:5]) and few.stats["cached"] == 1


def test_images_where_selective_search_finds_nothing(tmp_path):
    flat = np.full((3, 3, 3), 100, np.uint8)  # every region is under min_size
    assert SelectiveSearch(cache=tmp_path)(flat).shape == (0, 4)
    m = create_detector("fast_rcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=64)
    m.proposer = _Fixed(np.zeros((0, 4), np.float32))
    m.eval()
    with torch.no_grad():
        out = m([torch.rand(3, 64, 64)])[0]
    assert out["boxes"].shape == (0, 4)
    m.train()  # a frame with no proposals and no boxes still gives a finite loss (the whole frame as background)
    losses = m([torch.rand(3, 64, 64)], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long),
                                          "proposals": torch.zeros(0, 4)}])
    assert all(torch.isfinite(v) for v in losses.values())
    r = create_detector("rcnn_lite0", 2, pretrained_backbone=False, crop_size=32)
    r.proposer = m.proposer
    r.eval()
    with torch.no_grad():
        assert r([torch.rand(3, 64, 64)])[0]["boxes"].shape == (0, 4)


class _Fixed:
    """A proposal provider that always gives the same boxes."""

    def __init__(self, boxes):
        self.boxes = np.asarray(boxes, np.float32)

    def __call__(self, image):
        return self.boxes.copy()

    def tensor(self, image):
        return torch.as_tensor(self.boxes, device=image.device)


def test_proposals_outside_the_image_are_clipped_or_dropped():
    b = clean_boxes(np.array([[-10, -5, 20, 30], [50, 50, 80, 90], [70, 70, 90, 90], [5, 5, 5, 20],
                              [np.nan, 0, 4, 4]]), 64, 64, min_size=2)
    assert b.tolist() == [[0, 0, 20, 30], [50, 50, 64, 64]]
    m = create_detector("fast_rcnn_lite0_fpn", 1, pretrained_backbone=False, image_size=64)
    m.train()
    t = {"boxes": torch.tensor([[10.0, 10, 30, 30]]), "labels": torch.tensor([1]),
         "proposals": torch.tensor([[-100.0, -100, 1000, 1000], [200, 200, 300, 300], [12, 12, 28, 31]])}
    losses = m([torch.rand(3, 64, 64)], [t])
    assert all(torch.isfinite(v) for v in losses.values())


def test_proposals_move_with_the_boxes_through_crops_tiles_and_flips(tiny_coco):
    """A provider that proposes exactly the annotated boxes: after every transform they must still coincide."""
    import random

    from benthos.data.detection import read_detection
    from benthos.detect.dataset import DetectionDataset

    data = read_detection(tiny_coco)
    r = data.records[0]
    random.seed(3)
    for kw in (dict(), dict(tile=48, tile_overlap=0.0), dict(crop=64, input_size=80, scale_jitter=0.2)):
        ds = DetectionDataset([r], train=True, hflip=True, vflip=True, transpose=True, min_visible=0.0,
                              proposals=_Fixed(r.boxes), **kw)
        for k in range(len(ds)):
            for _ in range(3):
                _, t = ds[k]
                p, b = t["proposals"], t["boxes"]
                # boxes keep every visible part (min_visible 0); proposals drop slivers under 2 px
                keep = ((b[:, 2:] - b[:, :2]) >= 2).all(1)
                assert torch.allclose(p, b[keep], atol=1e-3), (kw, p, b)


def test_missing_opencv_contrib_is_one_line(monkeypatch, tiny_coco, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(BenthosError, match=r"benthos\[lineage\]"):
        create_detector("fast_rcnn_lite0_fpn", 2, pretrained_backbone=False)
    run = tmp_path / "r"
    assert main(["detect", "train", str(tiny_coco), "--out", str(run), "--model", "rcnn_lite0",
                 "--no-pretrained-backbone"]) == 2
    err = capsys.readouterr().err
    assert "opencv-contrib-python-headless" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- roi_op and the options of each detector

def test_roi_op_pool_and_align_both_run_and_differ():
    torch.manual_seed(0)
    align = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=96)
    pool = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=96, roi_op="pool")
    pool.load_state_dict(align.state_dict())  # same weights: only the RoI operation differs
    assert type(pool.roi_heads.box_roi_pool).__name__ == "MultiScaleRoIPool"
    feats = {k: torch.rand(1, 96, s, s) for k, s in (("0", 12), ("1", 6), ("2", 3))}
    rois = [torch.tensor([[3.3, 4.1, 40.7, 50.2], [10.0, 10, 90, 90], [1.5, 2.5, 12.2, 9.7]])]
    a = align.roi_heads.box_roi_pool(feats, rois, [(96, 96)])
    p = pool.roi_heads.box_roi_pool(feats, rois, [(96, 96)])
    assert a.shape == p.shape == (3, 96, 7, 7) and not torch.allclose(a, p)
    x = torch.rand(3, 96, 96)
    for m in (align, pool):
        m.train()
        t = [{"boxes": torch.tensor([[10.0, 10, 40, 50]]), "labels": torch.tensor([1])}]
        assert torch.isfinite(sum(m([x], t).values()))
    with pytest.raises(ConfigError, match="roi_op 'max'"):
        create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, roi_op="max")
    with pytest.raises(ConfigError, match="roi_op"):
        DetectConfig(model="yolo_lite0", roi_op="pool").resolved()
    with pytest.raises(ConfigError, match="max_proposals"):
        DetectConfig(model="fasterrcnn_lite0_fpn", max_proposals=100).resolved()
    assert DetectConfig(model="fast_rcnn_lite0_fpn").resolved().roi_op == "pool"  # the paper's
    assert DetectConfig().resolved().roi_op == "align"


def test_overfeat_is_one_convolution_pass_per_scale_and_merges():
    from benthos.detect.models.overfeat import fc_as_conv, overfeat_merge

    lin = torch.nn.Linear(8, 3)
    x = torch.rand(2, 8, 5, 4)
    assert torch.allclose(fc_as_conv(lin)(x), lin(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), atol=1e-6)
    m = create_detector("overfeat_lite0", 2, pretrained_backbone=False, image_size=64, scales=[0.5, 1.0, 2.0])
    assert isinstance(m.classifier[0], torch.nn.Conv2d) and m.classifier[0].kernel_size == (1, 1)
    calls = []
    inner = m.body.forward_features
    m.body.forward_features = lambda t: calls.append(t.shape[-1]) or inner(t)
    m.eval()
    with torch.no_grad():
        m([torch.rand(3, 64, 64), torch.rand(3, 48, 64)])
    assert calls == [32, 64, 128]  # one pass per scale, both images batched, no loop over windows
    boxes = torch.tensor([[10.0, 10, 30, 30], [11, 10, 31, 31], [60, 60, 80, 80]])
    b, s = overfeat_merge(boxes, torch.tensor([0.9, 0.5, 0.7]))
    assert len(b) == 2 and torch.allclose(b[0], torch.tensor([10 + 0.5 / 1.4, 10, 30 + 0.5 / 1.4, 30 + 0.5 / 1.4]),
                                          atol=1e-4)
    assert create_detector("overfeat_lite0", 1, pretrained_backbone=False, merge="overfeat").merge == "overfeat"
    with pytest.raises(ConfigError, match="merge 'mean'"):
        create_detector("overfeat_lite0", 1, pretrained_backbone=False, merge="mean")


def test_rfcn_has_no_per_roi_layers_and_votes_over_position_sensitive_maps():
    m = create_detector("rfcn_lite0_fpn", 2, pretrained_backbone=False, image_size=96)
    head = m.roi_heads.box_roi_pool
    assert isinstance(m.roi_heads.box_head, torch.nn.Identity)
    assert head.cls.out_channels == 3 * 3 * 3 and head.box.out_channels == 3 * 3 * 4
    assert not any(isinstance(x, torch.nn.Linear) for x in m.roi_heads.modules())
    assert DetectConfig(model="rfcn_lite0_fpn").resolved().box_vote == 0.6  # the default Faster R-CNN's voting
    assert create_detector("rfcn_lite0_fpn", 2, pretrained_backbone=False, box_vote=0.6).roi_heads.box_vote == 0.6
    feats = {k: torch.rand(1, 96, s, s) for k, s in (("0", 12), ("1", 6), ("2", 3))}
    out = head(feats, [torch.tensor([[5.0, 5, 20, 20], [0, 0, 90, 90]])], [(96, 96)])
    assert out.shape == (2, 3 + 4)


def test_yolov1_grid_and_loss_terms():
    m = create_detector("yolov1_lite0", 2, pretrained_backbone=False, image_size=128)
    raw = m._predict([torch.rand(3, 128, 128)])
    assert raw.shape == (1, 4, 4, 2 * 5 + 2)  # S = 128 / 32, B = 2 boxes of 5 numbers, one 2-class distribution
    m.train()
    t = [{"boxes": torch.tensor([[10.0, 10, 40, 50]]), "labels": torch.tensor([2])}]
    losses = m([torch.rand(3, 128, 128)], t)
    assert set(losses) == {"loss_coord", "loss_obj", "loss_noobj", "loss_class"}
    assert m.lambda_coord == 5.0 and m.lambda_noobj == 0.5
    empty = m([torch.rand(3, 128, 128)], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}])
    assert float(empty["loss_coord"].detach()) == 0 and float(empty["loss_noobj"].detach()) > 0  # only "no object" errors


def test_rcnn_keeps_its_svms_and_regressors_in_the_weights_and_caches_features(tiny_coco, trained):
    from safetensors.torch import load_file

    from benthos.data.detection import read_detection
    from benthos.detect.build import load_detector

    run, _, lines = trained("rcnn_lite0")
    cfg = _tiny_config("rcnn_lite0")
    assert any(s.startswith("svm:") for s in lines) and any(s.startswith("proposals:") for s in lines)
    assert any("recall" in s for s in lines)  # proposal recall is shown
    w = load_file(str(run / "model.safetensors"))
    assert float(w["fitted"]) == 1 and w["svm_weight"].abs().sum() > 0 and "reg_weight" in w and "platt" in w
    model, _ = load_detector(run)
    assert float(model.fitted) == 1 and torch.equal(model.svm_weight, w["svm_weight"])
    # refitting the SVMs with the same CNN reads every feature from the disk cache
    data = read_detection(tiny_coco)
    pool = model._feature_pool(data, cfg.resolved(), lambda s: None, None)
    again = model._feature_pool(data, cfg.resolved(), lambda s: None, None)
    assert again["cached"] == again["images"] == pool["images"] > 0
    assert torch.equal(pool["features"], again["features"])


@pytest.mark.parametrize("head", ["conv", "fc"])
def test_yolov1_learns_a_box_without_stalling(head):
    """The paper's linear outputs under squared errors: a few dozen steps on one frame find its one object
    (bounded by sigmoids, the first large errors saturated them and nothing was found)."""
    torch.manual_seed(0)
    m = create_detector("yolov1_lite0", 1, pretrained_backbone=False, image_size=128, head=head)
    assert m.outputs == "linear"
    image = torch.full((3, 128, 128), 0.2)
    image[:, 40:90, 20:60] = 0.9  # one bright animal
    target = [{"boxes": torch.tensor([[20.0, 40, 60, 90]]), "labels": torch.tensor([1])}]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
    m.train()
    for _ in range(60):
        loss = sum(m([image], target).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        out = m([image])[0]
    assert float(out["scores"][0]) > 0.1
    assert float(box_iou(out["boxes"][:3], target[0]["boxes"]).max()) > 0.5


def test_yolov1_runs_record_their_outputs_and_older_runs_load_as_trained(trained, tmp_path):
    import shutil

    from benthos.detect.build import load_detector

    run, info, _ = trained("yolov1_lite0")
    assert info["config"]["extra"]["outputs"] == "linear"  # recorded: a later default cannot change the run
    assert load_detector(run)[0].outputs == "linear"
    old = tmp_path / "old"  # a run saved before the option existed was trained with sigmoid outputs
    shutil.copytree(run, old)
    meta = json.loads((old / "run.json").read_text())
    del meta["config"]["extra"]["outputs"]
    (old / "run.json").write_text(json.dumps(meta))
    assert load_detector(old)[0].outputs == "sigmoid"
    m = create_detector("yolov1_lite0", 2, pretrained_backbone=False, image_size=64, outputs="sigmoid")
    _, sqrt_wh, conf, probs, _ = m._decode(m._predict([torch.rand(3, 64, 64)]))
    assert 0 <= float(conf.min()) and float(conf.max()) <= 1 and torch.allclose(probs.sum(-1), torch.ones(1))


def test_overfeat_learns_each_animal_at_the_one_scale_whose_window_fits_it():
    """Windows are 64 px at every pass, i.e. 128, 64 and 32 px of the frame at scales 0.5, 1 and 2: an animal
    36 px across belongs to the 2x pass, is positive there and ignored (inside an object of another scale) in
    the others; one 120 px across belongs to the 0.5x pass."""
    m = create_detector("overfeat_lite0", 1, pretrained_backbone=False, image_size=256, scales=[0.5, 1.0, 2.0])
    for side, home in ((36.0, 2), (120.0, 0)):
        for si, s in enumerate(m.scales):
            size = 256 * s
            centres = m._centres(math.ceil(size / 32), math.ceil(size / 32), "cpu")
            box = torch.tensor([[100.0, 100.0, 100.0 + side, 100.0 + side]]) * s
            tgt, matched = m._assign(box, torch.tensor([1]), centres, si)
            if si == home:
                assert (tgt == 1).any() and torch.equal(matched[tgt == 1][0], box[0])
            else:
                assert not (tgt == 1).any() and (tgt == -1).any(), (side, s)


@pytest.mark.parametrize("name", ["rcnn_lite0", "fast_rcnn_lite0_fpn", "yolov1_lite0"])
def test_the_lineage_benchmark_measures_a_trained_run(name, trained, tiny_coco):
    """benchmarks/bench_lineage.py's per-run row (it once failed on R-CNN's history after a 6-minute run)."""
    import argparse
    import importlib.util
    from pathlib import Path

    from benthos.data.detection import read_detection

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_lineage.py"
    spec = importlib.util.spec_from_file_location("bench_lineage", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run, info, _ = trained(name)
    row = bench.measure(name, run, read_detection(tiny_coco), argparse.Namespace(time_frames=1))
    assert row["AP50"] == info["metrics"]["AP50"] and row["s_per_frame"] > 0 and row["train_s_per_frame"] > 0
    if name == "rcnn_lite0":  # its feature stage's frames count as training frames read
        history = (run / "logs" / "metrics.csv").read_text().splitlines()
        images = [line.split(",") for line in history if ",features," in line]
        assert images and bench._rcnn_feature_images(run) > 0
    if name != "yolov1_lite0":
        assert row["proposals"] == "selective search" and 0 <= row["proposal_recall50"] <= 1


def test_detect_predict_writes_down_to_a_runs_own_lower_floor():
    from benthos.tasks.detect import written_floor

    assert written_floor({"score_thresh": 0.005}) == 0.005  # YOLO v1
    assert written_floor({"score_thresh": 0.0}) == 0.0  # a run that keeps every box (once read as 0.05)
    assert written_floor({"score_thresh": 0.2}) == 0.05
    assert written_floor({}) == 0.05
