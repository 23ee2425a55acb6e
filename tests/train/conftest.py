import numpy as np
import pytest
from PIL import Image

COLOURS = {"asteroidea": (200, 60, 40), "holothuroidea": (40, 160, 60), "porifera": (50, 70, 200)}


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """Three 'taxa' that differ by colour and texture: learnable in a couple of epochs."""
    root = tmp_path_factory.mktemp("taxa")
    rng = np.random.default_rng(0)
    for name, rgb in COLOURS.items():
        (root / name).mkdir()
        for i in range(14):
            arr = np.clip(rng.normal(rgb, 40, size=(40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{name}_{i:02d}.jpg")
    return root


@pytest.fixture
def tiny_config():
    return _tiny_config


def _tiny_config(data, out, **kw):
    from benthos.train import TrainConfig

    base = dict(data=str(data), out=str(out), model="lenet5", weights=None, input_size=32,
                epochs=3, batch_size=8, num_workers=0, lr=1e-2, patience=5, val_fraction=0.2, test_fraction=0.2, report=False)
    base.update(kw)
    return TrainConfig(**base)
