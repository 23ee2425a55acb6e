"""build_transforms and ImageDataset (torch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from benthos.data import ImageDataset, Sample, build_transforms
from benthos.errors import ConfigError, DataError


def test_shapes_train_and_eval():
    im = Image.new("RGB", (90, 60), (120, 80, 40))
    for train in (False, True):
        x = build_transforms(32, train=train)(im)
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert build_transforms((24, 40), train=True)(im).shape == (3, 24, 40)
    assert build_transforms((24, 40), train=False)(im).shape == (3, 24, 40)


def test_seafloor_augment_has_vertical_flips_and_rotations():
    kinds = {type(t) for t in build_transforms(32, train=True, augment="seafloor").transforms}
    assert {v2.RandomVerticalFlip, v2.RandomChoice, v2.ColorJitter, v2.RandomResizedCrop} <= kinds
    standard = {type(t) for t in build_transforms(32, train=True, augment="standard").transforms}
    assert v2.RandomVerticalFlip not in standard
    assert v2.CenterCrop in {type(t) for t in build_transforms(32, train=True, augment="none").transforms}
    with pytest.raises(ConfigError, match="augment='upside'"):
        build_transforms(32, train=True, augment="upside")
    strong = build_transforms(32, train=True, augment="seafloor-strong")
    assert kinds | {v2.TrivialAugmentWide, v2.RandomErasing} <= {type(t) for t in strong.transforms}
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    torch.manual_seed(0)
    views = [strong(im) for _ in range(4)]
    assert all(v.shape == (3, 32, 32) and v.dtype == torch.float32 for v in views)
    assert not torch.equal(views[0], views[1])


def test_rotations_are_exact_quarter_turns():
    torch.manual_seed(0)
    im = Image.new("RGB", (8, 8), (0, 0, 0))
    im.putpixel((0, 0), (255, 255, 255))
    rot = build_transforms(8, train=True).transforms[3]
    corners = set()
    for _ in range(40):
        out = rot(im)
        corners.update(xy for xy in [(0, 0), (7, 0), (0, 7), (7, 7)] if out.getpixel(xy) == (255, 255, 255))
        assert sum(out.getpixel((x, y)) != (0, 0, 0) for x in range(8) for y in range(8)) == 1
    assert corners == {(0, 0), (7, 0), (0, 7), (7, 7)}


def test_dataset_and_blank_substitution(tmp_path, mk, caplog):
    a = mk.image(tmp_path / "a.jpg", size=(40, 30))
    b = mk.image(tmp_path / "b.jpg", size=(40, 30))
    samples = [Sample(a, "fish"), Sample(b, "crab", box=(-5, -5, 15, 15))]
    ds = ImageDataset(samples, {"crab": 0, "fish": 1}, build_transforms(16))
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and y == 1
    b.write_bytes(b.read_bytes()[:50])  # corrupted after the check pass: must not crash mid-epoch
    x, y = ds[1]
    assert x.shape == (3, 16, 16) and y == 0 and ds.failures == [str(b)]
    assert "substituting a blank image" in caplog.text
    assert ds.load(1).size == (20, 20)
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    xb, yb = next(iter(loader))
    assert xb.shape == (2, 3, 16, 16) and yb.tolist() == [1, 0]
    with pytest.raises(DataError, match="not in class_to_idx"):
        ImageDataset(samples, {"fish": 0})


def _framed(size=64, border=4):
    """A black square with a red frame: shows whether an output still reaches the image's edges."""
    arr = np.zeros((size, size, 3), np.uint8)
    arr[:border], arr[-border:], arr[:, :border], arr[:, -border:] = (255, 0, 0), (255, 0, 0), (255, 0, 0), (255, 0, 0)
    return Image.fromarray(arr)


def _edges_red(x) -> bool:
    edges = [x[:, 0, :], x[:, -1, :], x[:, :, 0], x[:, :, -1]]
    return all(float((e[0] - e[1:].mean(0)).mean()) > 0.5 for e in edges)


def test_eval_crop_one_keeps_the_whole_patch():
    img = _framed()
    plain = dict(mean=(0, 0, 0), std=(1, 1, 1))
    assert _edges_red(build_transforms(32, train=False, crop_fraction=1.0, **plain)(img))
    assert not _edges_red(build_transforms(32, train=False, crop_fraction=0.875, **plain)(img))


def test_crop_scale_one_trains_on_whole_patches():
    torch.manual_seed(0)
    img = _framed()
    plain = dict(mean=(0, 0, 0), std=(1, 1, 1))
    whole = build_transforms(32, train=True, crop_scale=1.0, **plain)
    assert all(_edges_red(whole(img)) for _ in range(20))  # flips, rotations and colour keep the frame
    zoomed = build_transforms(32, train=True, crop_scale=0.3, **plain)
    assert not all(_edges_red(zoomed(img)) for _ in range(20))
    with pytest.raises(ConfigError, match="crop fractions"):
        build_transforms(32, train=True, crop_scale=0.0)
