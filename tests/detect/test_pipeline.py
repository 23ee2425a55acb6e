"""Train -> run folder -> evaluate -> predict, tiling, config and report, on a tiny synthetic COCO set."""
import csv
import json

import numpy as np
import pytest
import torch

from benthos.detect.config import DetectConfig
from benthos.tasks.detect import train as train_detector
from benthos.detect.evaluate import coco_metrics, match_detections
from benthos.data.images import find_images as list_images
from benthos.detect.build import load_detector
from benthos.detect.inference import predict_images
from benthos.detect.outputs import write_predictions
from benthos.tasks.detect import evaluate as evaluate_run
from benthos.detect.tiling import crop_targets, predict_tiled, tile_windows
from benthos.errors import ConfigError


@pytest.fixture(scope="module")
def run(tiny_coco, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = DetectConfig(model="yolo_lite0", input_size=96, epochs=2, batch_size=2, val_fraction=0.5,
                       limit_train_batches=1, pretrained_backbone=False)
    info = train_detector(tiny_coco, out, cfg, log=lambda s: None)
    return out, info


def test_run_folder(run):
    out, info = run
    for f in ("model.safetensors", "run.json", "config.yaml", "split.json", "logs/metrics.csv", "checkpoints/last.ckpt",
              "evaluation.json", "report.html"):
        assert (out / f).is_file(), f
    page = (out / "report.html").read_text()  # the held-out images' report, written by training itself
    assert "the run&#x27;s held-out images" in page and "Per class" in page and "data:image/jpeg;base64" in page
    meta = json.loads((out / "run.json").read_text())
    assert meta["kind"] == "detector" and meta["schema_version"] == 2
    assert meta["architecture"] == "yolo_lite0" and meta["classes"] == ["star", "urchin"]
    assert len(meta["weights"]["sha256"]) == 64 and meta["count_threshold"]["default"] >= 0
    assert {"mAP", "AP50", "per_class"} <= set(meta["metrics"]) and meta["epochs_done"] == 2
    assert meta["data"]["negatives"] == 1 and "torch" in meta["versions"]
    state = torch.load(out / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2


def test_resume_continues_from_checkpoint(run, tiny_coco, tmp_path):
    import shutil

    out, _ = run
    copy = tmp_path / "r"
    shutil.copytree(out, copy)
    logs = []
    info = train_detector(tiny_coco, copy, DetectConfig(model="yolo_lite0", input_size=96, epochs=3, batch_size=2,
                                                         val_fraction=0.5, limit_train_batches=1,
                                                         pretrained_backbone=False), log=logs.append)
    assert any("resuming" in line for line in logs) and info["epochs_done"] == 3


def test_load_predict_and_write(run, tmp_path, tiny_coco):
    out, _ = run
    model, info = load_detector(out)
    assert type(model).__name__ == "YOLO" and type(load_detector(out, tta=True)[0]).__name__ == "FlipTTA"
    paths = list_images(tiny_coco.parent / "images")
    res = predict_images(model, paths, tile=64)
    assert len(res) == 4
    files = write_predictions(res, info["classes"], tmp_path)
    rows = list(csv.reader(open(files["csv"])))
    assert rows[0] == ["image", "label", "score", "x0", "y0", "x1", "y1"]
    counts = list(csv.reader(open(files["counts"])))
    assert counts[0] == ["image", "star", "urchin"] and counts[-1][0] == "TOTAL"
    assert json.loads(files["coco"].read_text())["categories"][0]["name"] == "star"
    record = json.loads(files["record"].read_text())  # what ecology reads: the counting threshold used
    assert record["count_threshold"]["default"] == 0.5 and record["images"] == 4


def test_evaluate_run_writes_report(run, tiny_coco):
    out, _ = run
    own = (out / "evaluation.json").read_text()
    m = evaluate_run(out, tiny_coco, split="all")  # every image: not the run's own held-out evaluation
    assert m["images"] == 4 and set(m["per_class"]) == {"star", "urchin"}
    assert m["tta"] == "none"  # mirror TTA is an option
    assert m["written"] == str(out / f"evaluation_{tiny_coco.parent.name}.json")
    assert (out / "evaluation.json").read_text() == own  # the run's own evaluation is not replaced
    assert evaluate_run(out, tiny_coco, split="all", tta=True, report=False)["tta"] == "flip"
    page = (out / f"report_{tiny_coco.parent.name}.html").read_text()
    assert "Per class" in page and "Detections" in page and "data:image/jpeg;base64" in page
    assert "every image of" in page and "Counts" in page
    again = evaluate_run(out, tiny_coco)  # its own annotations: its held-out images, its own evaluation
    assert again["split"] == "val" and again["written"] == str(out / "evaluation.json")


def test_report_shows_undefined_ap_as_a_dash(tiny_coco, tmp_path):
    """A class with no boxes in the evaluated images has no AP (pycocotools: -1, kept as NaN): a dash, not 'nan'."""
    from benthos.data.detection import read_coco
    from benthos.detect.report import write_detection_report

    gt = read_coco(tiny_coco)
    metrics = {"mAP": 0.5, "AP50": 0.7, "AP75": 0.4, "images": 4, "AP_small": float("nan"), "AP_medium": 0.5,
               "AP_large": float("nan"),
               "per_class": {"star": {"AP": 0.5, "AP50": 0.7, "AP75": 0.4, "gt": 3},
                             "urchin": {"AP": float("nan"), "AP50": float("nan"), "AP75": float("nan"), "gt": 0}}}
    page = write_detection_report(tmp_path / "report.html", {"detector": "x"}, metrics, gt, {}).read_text()
    assert "nan" not in page.lower().replace("nano", "")
    assert page.count("<td>\u2014</td>") == 5 and "<td>0.700</td>" in page


def test_coco_metrics_perfect_and_empty(tiny_coco):
    from benthos.data.detection import read_coco

    gt = read_coco(tiny_coco)
    perfect = {r.image_id: {"boxes": r.boxes, "scores": np.ones(len(r.boxes)), "labels": r.labels} for r in gt.records}
    m = coco_metrics(gt, perfect)
    assert m["mAP"] == pytest.approx(1.0) and m["per_class"]["star"]["AP50"] == pytest.approx(1.0)
    assert coco_metrics(gt, {})["AP50"] == 0.0
    shifted = {k: v | {"boxes": v["boxes"] + 200} for k, v in perfect.items()}
    assert coco_metrics(gt, shifted)["AP50"] == 0.0


def test_match_detections():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    tp, hit = match_detections(gt, np.array([0, 0]), np.array([[0, 0, 10, 10], [0, 0, 9, 10], [50, 50, 60, 60]], float),
                               np.array([0, 0, 0]), np.array([0.9, 0.8, 0.7]))
    assert tp.tolist() == [True, False, False] and hit.tolist() == [True, False]


def test_tiles_cover_and_overlap():
    wins = tile_windows(1000, 600, 512, 0.25)
    assert wins[0] == (0, 0, 512, 512) and wins[-1] == (488, 88, 1000, 600)
    assert tile_windows(300, 200, 512) == [(0, 0, 300, 200)]
    b, lab = crop_targets(np.array([[500, 10, 540, 40], [600, 10, 700, 40]], np.float32), np.array([0, 1]),
                          (0, 0, 512, 512))
    assert lab.tolist() == [] or lab.tolist() == [0]
    b, lab = crop_targets(np.array([[490, 10, 520, 40]], np.float32), np.array([0]), (0, 0, 512, 512))
    np.testing.assert_allclose(b, [[490, 10, 512, 40]])


def test_predict_tiled_merges_seams():
    class Fixed(torch.nn.Module):  # "detects" one box at the same absolute place from every tile
        def forward(self, ims):
            return [{"boxes": torch.tensor([[10.0, 10, 30, 30]]), "scores": torch.tensor([0.9]),
                     "labels": torch.tensor([1])} for _ in ims]

    out = predict_tiled(Fixed(), torch.zeros(3, 100, 100), tile=64, overlap=0.5)
    assert len(out["boxes"]) >= 1 and out["boxes"][:, 0].min() == 10


def test_config_rejects_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("detector: yolo_lite0\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        DetectConfig.from_yaml(p)
    p.write_text("detector: yolo_lite0\nimage_size: 128\ntta: true\n")  # keys of earlier versions still read
    old = DetectConfig.from_yaml(p)
    assert (old.model, old.input_size, old.tta) == ("yolo_lite0", 128, "flip")
    assert DetectConfig().resolved().model


def test_random_crops_keep_scale_and_boxes(tiny_coco):
    from benthos.data.detection import read_coco
    from benthos.detect.dataset import DetectionDataset

    data = read_coco(tiny_coco)
    ds = DetectionDataset(data.records, train=True, crop=64, input_size=192, color_jitter=0)
    for k in range(len(ds)):
        x, t = ds[k]
        assert x.shape == (3, 64, 64)
        b = t["boxes"]
        assert ((b >= 0) & (b <= 64)).all() and (b[:, 2] > b[:, 0]).all()
        # 96 px frames scaled to 192: boxes (10-24 px) doubled, unless cut at the crop edge
        if len(b):
            assert (b[:, 2] - b[:, 0]).max() <= 48.01


def test_grouped_split_keeps_dives_apart():
    from benthos.data.detection import DetectionData, DetectionRecord
    from benthos.detect.splits import image_groups, split_records

    # three "dives" of four frames: diveA_0..3, diveB_4..7, diveC_8..11
    data = DetectionData(["star"], [DetectionRecord.example(f"survey/dive{'ABC'[k // 4]}_{k}.jpg") for k in range(12)])

    groups = image_groups(data, r"dive(\w)_")
    assert groups.count("A") == groups.count("B") == groups.count("C") == 4
    for seed in range(5):
        s = split_records(data, 0.3, seed, r"dive(\w)_")
        assert sorted(s["train"] + s["val"]) == list(range(12))
        val_groups = {groups[i] for i in s["val"]}
        train_groups = {groups[i] for i in s["train"]}
        assert val_groups and not (val_groups & train_groups)  # no dive on both sides
        assert len(s["val"]) == 4  # one whole dive: 30% of 12 rounds to 4 frames
    plain = split_records(data, 0.25, 0)
    assert len(plain["val"]) == 3 and not set(plain["val"]) & set(plain["train"])
    with pytest.raises(ConfigError, match="one group"):
        split_records(data, 0.3, 0, r"(dive)")
    with pytest.raises(ConfigError, match="regular expression"):
        DetectConfig(group_pattern="dive(").resolved()


def test_ema_weights_are_saved_and_resumed(run):
    out, info = run
    state = torch.load(out / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert state["ema_updates"] == state["step"] == 2
    from safetensors.torch import load_file

    saved = load_file(str(out / "model.safetensors"))
    # the run saves the averaged weights, not the last step's
    key = next(k for k, v in state["ema"].items() if v.is_floating_point() and "head" in k and v.ndim == 4)
    assert torch.allclose(saved[key], state["ema"][key].contiguous())
    assert not torch.allclose(state["ema"][key], state["model"][key])
    assert info["config"]["ema_decay"] > 0


def test_scale_jitter_rescales_within_bounds(tiny_coco):
    from benthos.data.detection import read_coco
    from benthos.detect.dataset import DetectionDataset

    data = read_coco(tiny_coco)
    widths = []
    for seed in range(6):
        import random

        random.seed(seed)
        ds = DetectionDataset(data.records, train=True, crop=96, input_size=96, color_jitter=0, scale_jitter=0.5,
                              hflip=False)
        for k in range(len(ds) - 1):  # the last image has no boxes
            x, t = ds[k]
            assert x.shape == (3, 96, 96)
            widths += (t["boxes"][:, 2] - t["boxes"][:, 0]).tolist()
    # boxes are 10-24 px at scale 1; factors 0.5-1.5 give 5-36 px, and both ends occur
    assert min(widths) >= 4.9 and max(widths) <= 36.1
    assert min(widths) < 10 and max(widths) > 24


def test_multiscale_training_sizes_and_prediction_size():
    from benthos.detect import create_detector
    from benthos.detect.sizing import multiscale_sizes, set_input_size, set_train_sizes

    sizes = multiscale_sizes(640, 0.25)
    assert sizes[-1] == 640 and sorted(sizes) == list(range(480, 801, 32))
    assert multiscale_sizes(96, 0.5) == (64, 128, 96)

    torch.manual_seed(0)
    model = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=96)
    set_train_sizes(model, 96, 0.5)
    seen = set()
    model.train()
    for _ in range(30):  # torchvision's transform draws one size per image in training
        images, _ = model.transform([torch.rand(3, 96, 96)])
        seen.add(images.image_sizes[0])
    assert seen == {(64, 64), (96, 96), (128, 128)}
    model.eval()  # prediction stays at the input size (min_size[-1])
    assert model.transform([torch.rand(3, 96, 96)])[0].image_sizes == [(96, 96)]
    set_input_size(model, 96)
    assert model.transform.min_size == (96,)
    yolo = create_detector("yolo_lite0", 2, pretrained_backbone=False, image_size=96)
    with pytest.raises(ConfigError, match="with --crop"):
        set_train_sizes(yolo, 96, 0.25)
    with pytest.raises(ConfigError, match="scale_jitter"):
        DetectConfig(scale_jitter=1.5).resolved()


def test_multiscale_training_run(tiny_coco, tmp_path):
    cfg = DetectConfig(model="fasterrcnn_lite0_fpn", input_size=96, epochs=1, batch_size=2, val_fraction=0.5,
                       limit_train_batches=2, pretrained_backbone=False, scale_jitter=0.3)
    info = train_detector(tiny_coco, tmp_path / "ms", cfg, log=lambda s: None)
    assert info["epochs_done"] == 1 and info["config"]["scale_jitter"] == 0.3
    model = load_detector(tmp_path / "ms", backend="torch")[0]
    assert model.transform.min_size == (96,)  # saved and reloaded at the prediction size
    with pytest.raises(ConfigError, match="with --crop"):
        train_detector(tiny_coco, tmp_path / "yolo", DetectConfig(model="yolo_lite0", input_size=96, epochs=1,
                       scale_jitter=0.3, pretrained_backbone=False), log=lambda s: None)
    assert not (tmp_path / "yolo").exists()  # refused before the run folder is written


def test_split_paths_match_resolved_paths_then_unique_file_names(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from benthos.detect.splits import match_paths
    from benthos.errors import DataError

    (tmp_path / "imgs").mkdir()
    data = SimpleNamespace(records=[SimpleNamespace(image_path=tmp_path / "imgs" / n) for n in ("a.jpg", "b.jpg", "c.jpg")])
    monkeypatch.chdir(tmp_path)
    assert match_paths(data, ["imgs/b.jpg"], "s")[0] == [1]  # trained with a relative path, evaluated with absolute
    assert match_paths(data, ["/elsewhere/imgs/c.jpg", "/elsewhere/imgs/a.jpg"], "s")[0] == [2, 0]  # data moved
    assert match_paths(data, ["/x/z.jpg"], "s") == ([], ["/x/z.jpg"])
    two = SimpleNamespace(records=data.records + [SimpleNamespace(image_path=tmp_path / "other" / "a.jpg")])
    with pytest.raises(DataError, match="2 images of the annotations have its name"):  # ambiguous: no guess
        match_paths(two, ["/x/a.jpg"], "s")


def test_runs_written_before_the_normalize_key_load_with_imagenet_statistics(run, tmp_path):
    """Detector runs trained before 2026-12-04 saw ImageNet-normalised inputs; loading them must keep that."""
    import shutil

    out, _ = run
    assert load_detector(out)[0].mean.flatten()[0].item() == pytest.approx(0.498)  # this run: the trunk's own
    old = tmp_path / "old"
    shutil.copytree(out, old)
    meta = json.loads((old / "run.json").read_text())
    assert meta["config"].pop("normalize") == "backbone"
    (old / "run.json").write_text(json.dumps(meta))
    model, _ = load_detector(old)
    assert model.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])


def test_config_rejects_unknown_normalisation():
    with pytest.raises(ConfigError, match="normalize 'lab'"):
        DetectConfig(normalize="lab").resolved()


def test_resuming_a_run_started_before_the_normalize_key_keeps_imagenet_statistics(run, tiny_coco, tmp_path):
    import shutil

    import yaml

    out, _ = run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    started = yaml.safe_load((old / "config.yaml").read_text())
    del started["normalize"]
    (old / "config.yaml").write_text(yaml.safe_dump(started))
    logs = []
    info = train_detector(tiny_coco, old, DetectConfig(model="yolo_lite0", input_size=96, epochs=3, batch_size=2,
                                                        val_fraction=0.5, limit_train_batches=1,
                                                        pretrained_backbone=False), log=logs.append)
    assert any("ImageNet input normalisation" in line for line in logs)
    assert info["config"]["normalize"] == "imagenet" and info["epochs_done"] == 3


def test_unreadable_frames_are_skipped_and_counted_once_with_loader_workers(tmp_path, coco_factory):
    """A frame that cannot be decoded is skipped, named in the log and counted once in run.json
    (not once per epoch), also when DataLoader worker processes read the images."""
    from torch.utils.data import DataLoader

    from benthos.data.detection import read_detection
    from benthos.detect.dataset import DetectionDataset, collate

    coco = coco_factory(tmp_path / "d", n=6)
    for name in ("f0.jpg", "f1.jpg"):
        (tmp_path / "d" / "images" / name).write_bytes(b"not a jpeg")
    data = read_detection(coco)
    loader = DataLoader(DetectionDataset(data.records, train=True), batch_size=3, num_workers=1, collate_fn=collate)
    got = [(len(ims), [i.path for i in issues]) for ims, _, issues in loader]
    assert sum(n for n, _ in got) == 4
    assert sorted(p.rsplit("/", 1)[-1] for _, ps in got for p in ps) == ["f0.jpg", "f1.jpg"]

    logs = []
    cfg = DetectConfig(model="yolo_lite0", input_size=96, epochs=2, batch_size=2, val_fraction=0.2,
                       pretrained_backbone=False, num_workers=1)
    info = train_detector(coco, tmp_path / "run", cfg, log=logs.append)
    from benthos.data.splits import split_paths

    split = split_paths(tmp_path / "run" / "split.json")
    bad_in_train = [p for p in split["train"] if p.endswith(("f0.jpg", "f1.jpg"))]
    assert bad_in_train  # 1 of 6 frames is held out, so at least one bad frame is trained on
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    unreadable = [i for i in meta["issues"] if i["kind"] == "unreadable_image"]
    assert sorted(i["path"] for i in unreadable) == sorted(bad_in_train)  # once each, over two epochs
    assert sorted(line.split()[1].rsplit("/", 1)[-1].rstrip(":") for line in logs if line.startswith("skipped")) \
        == sorted(p.rsplit("/", 1)[-1] for p in bad_in_train)  # named once in the log
    assert info["epochs_done"] == 2
    m = evaluate_run(tmp_path / "run", coco, split="all")  # unreadable frames: named, not scored
    assert sorted(p.rsplit("/", 1)[-1] for p in m["images_unreadable"]) == ["f0.jpg", "f1.jpg"]
    assert m["images"] == 4
    page = (tmp_path / "run" / "report_d.html").read_text()  # every image of d/annotations.json: beside the run's own
    assert "2 image(s) could not be read and are not scored" in page and "f0.jpg" in page
    with pytest.raises(ConfigError, match="num_workers"):
        DetectConfig(num_workers=-1).resolved()


def test_loader_workers_default_by_device():
    from benthos.infer.device import loader_workers

    assert loader_workers(None, torch.device("cpu")) == 0  # the CPU's cores run the model
    assert 1 <= loader_workers(None, torch.device("cuda")) <= 4
    assert loader_workers(3, torch.device("cpu")) == 3 and loader_workers(0, torch.device("cuda")) == 0
    assert loader_workers(None, "cpu", cpu_default=1) == 1  # the classifier's CPU default


def test_flips_and_transpose_move_boxes_with_the_pixels():
    """Every combination of the geometric augmentations (all 8 right-angle rotations and mirrors
    when transpose is on) leaves each box on the pixels it covered."""
    import random

    from benthos.detect.dataset import DetectionDataset

    x = torch.zeros(3, 40, 60)
    x[:, 5:10, 20:35] = 1  # one bright 15 x 5 px object on a 60 x 40 frame
    b = torch.tensor([[20.0, 5.0, 35.0, 10.0]])
    ds = DetectionDataset([], train=True, hflip=True, vflip=True, transpose=True, color_jitter=0)
    seen = set()
    for seed in range(64):
        random.seed(seed)
        y, bb = ds._augment(x, b)
        ys, xs = y[0].nonzero(as_tuple=True)
        assert bb.tolist() == [[xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]]
        seen.add((tuple(y.shape), tuple(bb[0].tolist())))
    assert len(seen) == 8  # the object's 8 possible placements all occur
    assert {s for s, _ in seen} == {(3, 40, 60), (3, 60, 40)}
    plain = DetectionDataset([], train=True, hflip=True, vflip=True, color_jitter=0)  # transpose off by default
    assert all(plain._augment(x, b)[0].shape == x.shape for _ in range(16))


def test_a_reused_split_trains_and_holds_out_the_same_images(run, tiny_coco, tmp_path):
    out, _ = run
    new = tmp_path / "again"
    cfg = DetectConfig(model="yolo_lite0", input_size=96, epochs=1, batch_size=2, limit_train_batches=1,
                       pretrained_backbone=False, seed=7, val_fraction=0.25, split=str(out / "split.json"))
    info = train_detector(tiny_coco, new, cfg, log=lambda s: None)
    from benthos.data.splits import split_paths

    assert split_paths(new / "split.json") == split_paths(out / "split.json")
    assert info["split"]["reused"] == str(out / "split.json") and info["split"]["val"] == 2  # not 0.25 of 4


def test_reused_split_files_that_do_not_fit_the_data_are_refused(run, tiny_coco, tmp_path):
    from benthos.data.detection import read_detection
    from benthos.detect.splits import reuse_split
    from benthos.errors import DataError

    from benthos.data.splits import split_paths

    out, _ = run
    data = read_detection(tiny_coco)
    doc = split_paths(out / "split.json")
    assert reuse_split(data, out / "split.json") == {
        k: sorted(i for i, r in enumerate(data.records) if str(r.image_path) in doc[k]) for k in ("train", "val")}
    cases = {
        "missing.json": None,
        "text.json": "not json",
        "shape.json": json.dumps({"train": doc["train"]}),
        "both.json": json.dumps({"train": doc["train"] + doc["val"][:1], "val": doc["val"]}),
        "other.json": json.dumps({"train": doc["train"] + ["/elsewhere/zz.jpg"], "val": doc["val"]}),
        "short.json": json.dumps({"train": doc["train"][1:], "val": doc["val"]}),
    }
    said = {}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(DataError) as err:
            reuse_split(data, tmp_path / name)
        said[name] = str(err.value)
        assert str(tmp_path / name) in said[name] and "--split" in said[name]
    assert "no such split file" in said["missing.json"] and "'train' and 'val'" in said["shape.json"]
    assert "under both" in said["both.json"] and "zz.jpg" in said["other.json"]
    assert "in neither" in said["short.json"] and doc["train"][0] in said["short.json"]


def test_a_reused_split_matches_moved_images_by_unique_names_only(tmp_path):
    from types import SimpleNamespace

    from benthos.detect.splits import reuse_split
    from benthos.errors import DataError

    def data(*paths):
        return SimpleNamespace(records=[SimpleNamespace(image_path=tmp_path / p) for p in paths])

    def split_file(name, doc):
        (tmp_path / name).write_text(json.dumps(doc))
        return tmp_path / name

    moved = split_file("moved.json", {"train": ["/old/a.jpg", "/old/b.jpg"], "val": ["/old/c.jpg"]})
    assert reuse_split(data("new/a.jpg", "new/b.jpg", "new/c.jpg"), moved) == {"train": [0, 1], "val": [2]}
    # two dives with frames of one name: a moved path cannot tell them apart, so it is refused, not guessed
    two = data("d1/0001.jpg", "d2/0001.jpg", "d1/0002.jpg")
    with pytest.raises(DataError, match="2 images of the annotations have its name"):
        reuse_split(two, split_file("amb.json", {"train": ["/old/d1/0001.jpg", "/old/d2/0001.jpg"],
                                                 "val": ["/old/d1/0002.jpg"]}))
    exact = split_file("exact.json", {"train": [str(tmp_path / "d1/0001.jpg"), str(tmp_path / "d2/0001.jpg")],
                                      "val": [str(tmp_path / "d1/0002.jpg")]})
    assert reuse_split(two, exact) == {"train": [0, 1], "val": [2]}  # found as files: no ambiguity
    with pytest.raises(DataError, match="listed twice under 'train'"):
        reuse_split(two, split_file("twice.json", {"train": [str(tmp_path / "d1/0001.jpg")] * 2,
                                                   "val": [str(tmp_path / "d1/0002.jpg")]}))


def test_resuming_refuses_another_split_than_the_run_started_with(run, tiny_coco, tmp_path):
    import shutil

    from benthos.errors import DataError

    out, _ = run
    first = tmp_path / "first"
    cfg = dict(model="yolo_lite0", input_size=96, batch_size=2, limit_train_batches=1, pretrained_backbone=False)
    train_detector(tiny_coco, first, DetectConfig(epochs=1, seed=3, split=str(out / "split.json"), **cfg),
                   log=lambda s: None)
    again = tmp_path / "again"
    shutil.copytree(first, again)
    from benthos.data.splits import split_paths

    assert split_paths(first / "split.json") == split_paths(out / "split.json")
    with pytest.raises(DataError, match="started on another split"):  # the seed's own split differs
        train_detector(tiny_coco, again, DetectConfig(epochs=2, seed=3, val_fraction=0.25, **cfg), log=lambda s: None)
    logs = []
    info = train_detector(tiny_coco, again, DetectConfig(epochs=2, seed=3, split=str(out / "split.json"), **cfg),
                          log=logs.append)
    assert any("resuming" in line for line in logs) and info["epochs_done"] == 2
