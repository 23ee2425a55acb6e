import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw


def make_coco(root: Path, n: int = 4, size: int = 96, seed: int = 0) -> Path:
    """n images of noise with bright squares ('star') and dark discs ('urchin'); one image has no boxes."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        im = Image.fromarray(np.random.default_rng(seed + i).integers(60, 120, (size, size, 3), dtype=np.uint8))
        d = ImageDraw.Draw(im)
        for k in range(0 if i == n - 1 else 3):
            w = rng.randint(10, 24)
            x, y = rng.randint(0, size - w - 1), rng.randint(0, size - w - 1)
            cat = 1 + k % 2
            (d.rectangle if cat == 1 else d.ellipse)([x, y, x + w, y + w], fill=(250, 240, 60) if cat == 1 else (10, 10, 10))
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat, "bbox": [x, y, w, w],
                         "area": w * w, "iscrowd": 0})
        im.save(root / "images" / f"f{i}.jpg")
        images.append({"id": i + 1, "file_name": f"f{i}.jpg", "width": size, "height": size})
    p = root / "annotations.json"
    p.write_text(json.dumps({"images": images, "annotations": anns,
                             "categories": [{"id": 1, "name": "star"}, {"id": 2, "name": "urchin"}]}))
    return p


def _train_tiny(coco: Path, run: Path, model: str) -> Path:
    """``model`` trained by the CLI on ``coco`` for two batches at 96 px from random weights, every box kept
    (score threshold 0): a run for the tests of what loads and predicts it."""
    from benthos.cli.main import main

    assert main(["detect", "train", str(coco), "--out", str(run), "--model", model, "--input-size", "96",
                 "--epochs", "1", "--batch-size", "2", "--limit-train-batches", "2", "--no-pretrained-backbone",
                 "--score-thresh", "0.0"]) == 0
    return run


@pytest.fixture(scope="session")
def train_tiny():
    """:func:`_train_tiny`, for module fixtures that train the run their tests share."""
    return _train_tiny


@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory) -> Path:
    return make_coco(tmp_path_factory.mktemp("det"))


@pytest.fixture
def coco_factory():
    """:func:`make_coco` for a test that needs its own (e.g. damaged) copy."""
    return make_coco


@pytest.fixture(autouse=True, scope="session")
def _proposal_cache(tmp_path_factory):
    """Proposal and R-CNN feature caches of the tests go to a temporary folder, not the user's cache."""
    import os

    old = os.environ.get("BENTHOS_CACHE")
    os.environ["BENTHOS_CACHE"] = str(tmp_path_factory.mktemp("benthos_cache"))
    yield
    if old is None:
        os.environ.pop("BENTHOS_CACHE", None)
    else:
        os.environ["BENTHOS_CACHE"] = old
