import numpy as np
import pytest
from PIL import Image

from benthos.data import eval_transforms
from benthos.data.transforms import eval_array_transforms


@pytest.mark.parametrize("crop,shape", [(1.0, (40, 50)), (0.875, (64, 37)), (0.875, (32, 32)), (1.0, (20, 90))])
def test_array_transform_is_the_eval_transform(crop, shape):
    """Prediction's numpy pipeline gives what the torchvision one gives (resize, crop, scale, normalise)."""
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8))
    pre = {"input_size": 32, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3], "crop_fraction": crop}
    ref = eval_transforms(pre)(im).numpy()
    ours = eval_array_transforms(pre)(im)
    assert ours.shape == ref.shape == (3, 32, 32) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5)
