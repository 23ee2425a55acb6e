"""A tiny classifier run (LeNet-5, one epoch on two colour classes) and a folder of photos to predict on,
shared by the prediction tests."""
import numpy as np
import pytest
from PIL import Image

from benthos.cli.main import main

TINY = ["--model", "lenet5", "--weights", "none", "--input-size", "32", "--epochs", "1", "--batch-size", "8",
        "--num-workers", "0", "--lr", "0.01"]


def tiny_run_and_photos(root, seed: int, classes: tuple[str, str], photos: str, names: list[str],
                        size: tuple[int, int], broken: str, *train_args: str):
    """Train a tiny run on 8 noisy patches of two colours per class under ``root/taxa``, and write
    ``names`` (random photos of ``size`` = (height, width)) plus an unreadable ``broken`` file
    under ``root/photos``: (run folder, photo folder)."""
    rng = np.random.default_rng(seed)
    for name, rgb in zip(classes, [(200, 60, 40), (50, 70, 200)]):
        (root / "taxa" / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(np.clip(rng.normal(rgb, 30, (32, 32, 3)), 0, 255).astype(np.uint8)).save(
                root / "taxa" / name / f"{i}.jpg")
    folder = root / photos
    folder.mkdir()
    for name in names:
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
    (folder / broken).write_bytes(b"\x89PNG not really")
    run = root / "run"
    assert main(["train", str(root / "taxa"), "--out", str(run), "--no-report", *TINY, *train_args]) == 0
    return run, folder


@pytest.fixture(scope="session")
def make_tiny_run():
    return tiny_run_and_photos
