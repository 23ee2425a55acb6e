"""Box and point patches are cut from their photos once before training, not every epoch."""
import csv
import time

import numpy as np
import pytest
import torch
from PIL import Image

from benthos.data import ImageDataset, eval_transforms
from benthos.data.patchcache import cut_patches
from benthos.data.samples import Sample


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        p = tmp_path / f"survey_{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(p, quality=90)
        paths.append(p)
    return paths


def test_patches_cut_once_are_the_patches_the_dataset_cuts(photos, tmp_path, monkeypatch):
    import benthos.data.patchcache as pc

    boxes = [(10, 10, 42, 42), (-12, -8, 20, 24), (140, 100, 172, 132), (50, 30, 82, 62)]  # two spill over edges
    samples = [Sample(p, f"c{i % 2}", p.stem, b, {"line": i}) for p in photos for i, b in enumerate(boxes)]
    samples.append(Sample(tmp_path / "gone.jpg", "c0", "gone", (0, 0, 32, 32)))  # unreadable: left for the dataset
    samples.append(Sample(photos[0], "c1"))  # a whole image: untouched
    calls = []
    real = pc.load_image
    monkeypatch.setattr(pc, "load_image", lambda path, *a: calls.append(path) or real(path, *a))

    cut = cut_patches(samples, tmp_path / "cache")
    assert len(calls) == 3  # each photo decoded once (and the missing one tried once), not once per patch
    assert [s.label for s in cut] == [s.label for s in samples] and [s.group for s in cut] == [s.group for s in samples]
    assert cut[-2] is samples[-2] and cut[-1] is samples[-1]
    assert all(s.box is None and s.path.parent == tmp_path / "cache" for s in cut[:8])
    assert cut[1].meta == {"line": 1, "photo": str(photos[0]), "box": [-12, -8, 20, 24]}
    tf = eval_transforms({"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "crop_fraction": 1.0})
    idx = {"c0": 0, "c1": 1}
    before, after = ImageDataset(samples[:8], idx, tf), ImageDataset(cut[:8], idx, tf)
    for i in range(8):  # lossless: what training sees is unchanged, padding at the edges included
        assert torch.equal(before[i][0], after[i][0])
    assert not list((tmp_path / "cache").glob(".*"))  # no temporary files left

    small = cut_patches(samples[:1], tmp_path / "small", max_side=16)  # larger than the network needs: scaled down
    assert Image.open(small[0].path).size == (16, 16)


def _points(tmp_path):
    """A CoralNet CSV of 24 points on 3 photos (red left half, blue right half)."""
    rng = np.random.default_rng(1)
    rows = []
    for k in range(3):
        arr = np.zeros((200, 300, 3), np.uint8)
        arr[:, :150] = (200, 60, 40)
        arr[:, 150:] = (40, 70, 200)
        Image.fromarray(np.clip(arr + rng.normal(0, 20, arr.shape), 0, 255).astype(np.uint8)).save(tmp_path / f"p{k}.png")
        for i in range(8):
            col = int(rng.integers(10, 290))
            rows.append([f"p{k}.png", int(rng.integers(10, 190)), col, "red" if col < 150 else "blue"])
    with open(tmp_path / "points.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["Name", "Row", "Column", "Label"], *rows])
    return tmp_path / "points.csv"


def _points_config(tmp_path, run):
    from benthos.train import TrainConfig

    return TrainConfig(data=str(_points(tmp_path)), images=str(tmp_path), out=str(run), model="lenet5",
                       weights=None, input_size=32, patch_size=24, epochs=2, batch_size=8, num_workers=0,
                       lr=1e-2, val_fraction=0.25, test_fraction=0, calibrate=False, report=False)


def test_training_on_points_decodes_each_photo_once(tmp_path, monkeypatch, caplog):
    """Two epochs over 24 points of 3 photos: 3 photo decodes for training, the cut patches are read
    from files, and the temporary folder is gone from the run afterwards."""
    import benthos.data.dataset as dataset
    import benthos.data.patchcache as pc
    from benthos.train import train

    cfg = _points_config(tmp_path, tmp_path / "run")
    photo_reads = []
    for mod in (pc, dataset):
        real = mod.load_image
        monkeypatch.setattr(mod, "load_image", lambda path, *a, real=real: (
            photo_reads.append(path) if str(path).endswith(tuple(f"p{k}.png" for k in range(3))) else None) or real(path, *a))
    run = tmp_path / "run"
    caplog.set_level("INFO")
    meta = train(cfg)
    assert meta["timings"]["epochs"] == 2
    assert len(photo_reads) == 3
    assert "cut 24 patches from 3 photos once" in caplog.text
    assert not (run / "patches").exists()


def test_linear_probe_features_decode_each_photo_once_and_keep_the_order(photos, monkeypatch):
    import benthos.data.dataset as dataset
    from benthos.models import create_model
    from benthos.train.probe import extract_features

    boxes = [(10, 10, 42, 42), (60, 20, 92, 52), (100, 50, 132, 82)]
    samples = [Sample(photos[k % 2], f"c{k % 3}", None, boxes[k % 3]) for k in range(6)]  # photos interleaved
    pre = {"input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "crop_fraction": 1.0, "in_chans": 3}
    model = create_model("lenet5", weights=None, in_chans=3)
    idx = {"c0": 0, "c1": 1, "c2": 2}
    one_by_one = torch.cat([extract_features(model, [s], idx, pre)[0] for s in samples])
    reads = []
    real = dataset.load_image
    monkeypatch.setattr(dataset, "load_image", lambda path, *a: reads.append(path) or real(path, *a))
    feats, labels = extract_features(model, samples, idx, pre)
    assert len(reads) == 2
    assert labels.tolist() == [idx[s.label] for s in samples]
    assert torch.allclose(feats, one_by_one, atol=1e-5)


def test_ranks_of_one_machine_cut_once_and_share(photos, tmp_path, monkeypatch):
    """Under DDP, local rank 0 cuts; another rank waits for its marker and gets the same samples
    without decoding a photo; a rank whose rank 0 never cuts stops with a message, not a hang."""
    import threading

    import benthos.data.patchcache as pc
    from benthos.data.patchcache import cut_patches_once, remove_patches, shared_folder
    from benthos.errors import BenthosError

    samples = [Sample(p, "c0", p.stem, (5 * i, 5 * i, 5 * i + 30, 5 * i + 30)) for p in photos for i in range(3)]
    samples.append(Sample(tmp_path / "gone.jpg", "c1", "gone", (0, 0, 32, 32)))
    samples.append(Sample(photos[1], "c1"))
    root = tmp_path / "run" / "patches"
    got = {}
    other = threading.Thread(target=lambda: got.update(r1=cut_patches_once(samples, root, max_side=64, rank=1, stall_s=60)))
    other.start()  # waits: nothing is cut yet
    calls = []
    real = pc.load_image
    monkeypatch.setattr(pc, "load_image", lambda path, *a: calls.append(path) or real(path, *a))
    first = cut_patches_once(samples, root, max_side=64, rank=0)
    other.join(60)
    assert not other.is_alive() and len(calls) == 3  # decoded by rank 0 only
    assert got["r1"] == first and first[-2] is samples[-2] and first[-1] is samples[-1]
    assert all(s.path.parent == shared_folder(root) and s.path.is_file() for s in first[:6])

    remove_patches(root, rank=1)  # another rank may still read: only rank 0 removes
    assert shared_folder(root).is_dir()
    remove_patches(root, rank=0)
    assert not root.exists()

    with pytest.raises(BenthosError, match="waited 1 s for rank 0 to cut the training patches"):
        cut_patches_once(samples, tmp_path / "never", rank=1, stall_s=1)

    # rank 0 failed and removed its folder: the waiting rank stops at once, not after stall_s
    gone = tmp_path / "failed"
    shared_folder(gone).mkdir(parents=True)
    errors = []

    def wait():
        try:
            cut_patches_once(samples, gone, rank=1, stall_s=600)
        except BenthosError as exc:
            errors.append(str(exc))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.2)
    remove_patches(gone, rank=0)
    waiter.join(10)
    assert not waiter.is_alive() and "rank 0 stopped while cutting the training patches" in errors[0]

    # a marker written now for other patches: the ranks read different data
    other = tmp_path / "other"
    rank0 = threading.Timer(1.0, lambda: cut_patches_once(samples[:2], other, rank=0))
    rank0.start()
    with pytest.raises(BenthosError, match="rank 0 cut patches for other data than local rank 1 reads"):
        cut_patches_once(samples, other, rank=1, stall_s=5)
    rank0.join()


@pytest.mark.parametrize("env, rank", [({}, 0), ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, 1),
                                       ({"LOCAL_RANK": "1", "WORLD_SIZE": "1"}, 0),  # a leftover variable
                                       ({"SLURM_LOCALID": "3", "SLURM_NTASKS": "4"}, 3),
                                       ({"SLURM_LOCALID": "2", "SLURM_NTASKS": "1"}, 0),  # one task per job step
                                       ({"LOCAL_RANK": "", "WORLD_SIZE": "2"}, 0), ({"WORLD_SIZE": "x"}, 0)])
def test_local_rank_reads_the_launchers_variables(env, rank, monkeypatch):
    from benthos.data.patchcache import local_rank

    for name in ("LOCAL_RANK", "WORLD_SIZE", "SLURM_LOCALID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert local_rank() == rank


def test_a_full_disk_while_cutting_is_a_message(photos, tmp_path, monkeypatch):
    from benthos.errors import BenthosError

    def full(self, fp, *a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    samples = [Sample(photos[0], "c0", None, (0, 0, 32, 32))]
    with pytest.raises(BenthosError, match=r"could not store the training patch of .*survey_0.jpg \(No space left on "
                                           r"device\).* need up to about 1 MB of disk"):
        cut_patches(samples, tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())  # no half-written file left


def test_a_failed_cut_leaves_no_patches_and_says_what_to_do(tmp_path, monkeypatch):
    """The disk fills after a few patches: training stops before its first epoch with the message,
    and the patches already written are removed with the folder. Not a full disk (no permission):
    the message asks for another --out, not for space."""
    from benthos.errors import BenthosError
    from benthos.train import train

    run = tmp_path / "run"
    cfg, cfg2 = _points_config(tmp_path, run), _points_config(tmp_path, tmp_path / "run2")  # photos written now
    real, saved = Image.Image.save, []

    def fills_up(self, fp, *a, **kw):
        if len(saved) == 5:
            raise OSError(28, "No space left on device")
        saved.append(fp)
        return real(self, fp, *a, **kw)

    monkeypatch.setattr(Image.Image, "save", fills_up)
    with pytest.raises(BenthosError, match=r"No space left on device\).* need up to about 4 MB of disk"):
        train(cfg)
    assert len(saved) == 5 and not (run / "patches").exists() and not (run / "run.json").exists()

    def denied(self, fp, *a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image.Image, "save", denied)
    with pytest.raises(BenthosError, match=r"Permission denied\)\. Training writes its patches inside the run "
                                           r"folder: choose an --out you can write to"):
        train(cfg2)
