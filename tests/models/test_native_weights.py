"""A classifier run's weights load into timm's or torchvision's own builder with strict=True, no renaming."""
import pytest
import torch

from benthos.models import create_model, list_models, upstream


def _upstream_net(name: str, num_classes: int, **options):
    import timm
    import torchvision

    up = upstream(name, **options)
    if up["library"] == "timm":
        return timm.create_model(up["name"], num_classes=num_classes, pretrained=False, **up["kwargs"])
    return getattr(torchvision.models, up["name"])(weights=None, num_classes=num_classes, **up["kwargs"])


@pytest.mark.parametrize("name, options", [("efficientnet_lite0", {}), ("resnet18", {}),
                                           ("googlenet", {"aux_logits": True})])
def test_native_weights_load_strictly_upstream_and_back(name, options, tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    model = create_model(name, num_classes=5, **options).eval()
    save_file({k: v.contiguous() for k, v in model.native_state_dict().items()}, str(tmp_path / "w.safetensors"))
    net = _upstream_net(name, 5, **options).eval()
    net.load_state_dict(load_file(str(tmp_path / "w.safetensors")), strict=True)  # no renaming
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-5)
    again = create_model(name, num_classes=5, weights=tmp_path / "w.safetensors", **options).eval()
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_options_that_replace_the_network_have_no_upstream():
    assert upstream("resnet18", block_design="full_preact") is None and upstream("lenet5") is None
    assert upstream("mobilenet_v2", width_mult=0.5) == {"library": "torchvision", "name": "mobilenet_v2",
                                                         "kwargs": {"width_mult": 0.5}}


@pytest.mark.slow
def test_every_upstream_network_has_the_same_keys_and_shapes():
    for name in list_models():
        if upstream(name) is None:
            continue
        native = create_model(name, num_classes=5).native_state_dict()
        ref = _upstream_net(name, 5).state_dict()
        assert set(native) == set(ref), name
        assert all(native[k].shape == ref[k].shape for k in ref), name
