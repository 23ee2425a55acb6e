"""build_transforms and ImageDataset (torch)."""
from __future__ import annotations

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
