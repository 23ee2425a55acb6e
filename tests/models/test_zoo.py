"""Sweep the whole registry: every model builds, runs forward and backward, and answers the
ZooModel interface; our own implementations match the papers' shapes and sizes."""
import pytest
import torch

from benthos.errors import BenthosError
from benthos.models import check_input_size, create_model, list_models, model_card

LECTURE = ("lenet5 alexnet vgg16 vgg19 nin googlenet inception_v2 inception_v3 inception_v4 inception_resnet_v1 "
           "inception_resnet_v2 resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x4d "
           "wide_resnet50_2 wrn28_10 densenet121 densenet169 densenet201 densenet264 xception mobilenet_v1 mobilenet_v2 "
           + " ".join(f"efficientnet_b{i}" for i in range(8))
           + " efficientnet_lite0 efficientnet_lite1 efficientnet_lite2 mnasnet1_0 mobilenet_v3_large mobilenet_v3_small shufflenet_v2_x1_0 squeezenet1_0").split()


def test_every_lecture_name_is_registered():
    assert set(LECTURE) <= set(list_models())
    assert list_models("resnet*") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


@pytest.mark.parametrize("name", LECTURE)
def test_forward_backward_and_interface(name):
    torch.manual_seed(0)
    card = model_card(name)
    size = max(card.min_input, 32)
    model = create_model(name, num_classes=5)
    model.train()
    x = torch.randn(2, card.in_chans, size, size)
    logits = model(x)
    assert logits.shape == (2, 5)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads[-2:])  # the head learns
    feats = model.eval().forward_features(x)
    assert torch.allclose(model.forward_head(feats), model(x), atol=1e-5)
    groups = model.param_groups()
    assert groups[-1][0] == "head" and len(groups) >= 3
    n_grouped = sum(p.numel() for _, ps in groups for p in ps)
    assert n_grouped == sum(p.numel() for p in model.parameters())
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)


def test_freeze_bottom_stages():
    model = create_model("resnet18", num_classes=4)
    names = model.stage_names()
    assert names[0].startswith("conv1") and names[-1] == "head"
    model.freeze_stages(2)
    groups = model.param_groups()
    assert not any(p.requires_grad for _, ps in groups[:2] for p in ps)
    assert all(p.requires_grad for _, ps in groups[2:] for p in ps)


def test_lenet_shapes_c1_to_f6():
    model = create_model("lenet5").body
    x = torch.zeros(1, 1, 32, 32)
    shapes = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.AvgPool2d, torch.nn.Linear)):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1), (84,)]


def test_inception_resnet_v1_block_shapes():
    body = create_model("inception_resnet_v1").body.eval()
    with torch.no_grad():
        x = body.stem(torch.zeros(1, 3, 299, 299))
        assert x.shape[1:] == (256, 35, 35)
        x = body.reduction_a(body.repeat_a(x))
        assert x.shape[1:] == (896, 17, 17)
        x = body.reduction_b(body.repeat_b(x))
        assert x.shape[1:] == (1792, 8, 8)


def test_inception_v2_grid():
    body = create_model("inception_v2").body.eval()
    with torch.no_grad():
        x = body.stem(torch.zeros(1, 3, 224, 224))
        assert x.shape[1:] == (192, 28, 28)
        assert body.blocks(x).shape[1:] == (1024, 7, 7)


@pytest.mark.parametrize("design", ["original", "bn_after_add", "relu_before_add", "relu_preact", "full_preact"])
def test_resnet_block_designs(design):
    from benthos.models.resnet_designs import DesignResNet

    model = create_model("resnet18", num_classes=10, block_design=design)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    ours = DesignResNet([3, 4, 6, 3], True, design)
    # the designs only move BN/ReLU: the parameter count stays within one BN of ResNet-50's
    assert abs(sum(p.numel() for p in ours.parameters()) - 25_557_032) < 10_000


def test_resnet_original_design_matches_torchvision_size():
    from benthos.models.resnet_designs import DesignResNet

    ours = DesignResNet([3, 4, 6, 3], True, "original")
    assert sum(p.numel() for p in ours.parameters()) == 25_557_032


@pytest.mark.parametrize("c,d", [(1, 64), (2, 40), (4, 24), (8, 14), (32, 4)])
def test_resnext_cardinality_settings_keep_complexity(c, d):
    from benthos.cost import profile_model

    cost = profile_model("resnext50_32x4d", cardinality=c, base_width=d)
    # Xie et al. Table 2: all settings keep ~25M params and ~4.1 GFLOPs
    assert 22e6 < cost.params < 26e6 and 4.0e9 < cost.macs < 4.4e9


def test_mobilenet_width_and_resolution_scale_cost():
    from benthos.cost import profile_model

    full = profile_model("mobilenet_v1")
    half = profile_model("mobilenet_v1", width_multiplier=0.5)
    three_q = profile_model("mobilenet_v1", width_multiplier=0.75)
    low = profile_model("mobilenet_v1", input_size=160)
    # Howard et al. Table 6: 0.75 and 0.5 MobileNet-224 325M / 149M MACs; Table 7: 1.0 MobileNet-160 290M
    assert abs(three_q.macs / 325e6 - 1) < 0.03
    assert abs(half.macs / 149e6 - 1) < 0.03
    assert abs(low.macs / 290e6 - 1) < 0.03
    assert low.params == full.params


def test_efficientnet_compound_scaling():
    from benthos.models.zoo import compound_scaling

    w, d, r = compound_scaling(1)
    assert (round(w, 2), round(d, 2), r) == (1.1, 1.2, 258)
    m = create_model("efficientnet_b0", num_classes=3, phi=2)
    assert sum(p.numel() for p in m.parameters()) > sum(p.numel() for p in create_model("efficientnet_b0", num_classes=3).parameters())


def test_aux_classifiers_on_and_off():
    on = create_model("googlenet", num_classes=4, aux_logits=True).train()
    logits, aux = on.forward_with_aux(torch.randn(2, 3, 96, 96))
    assert logits.shape == (2, 4) and len(aux) == 2 and all(a.shape == (2, 4) for a in aux)
    off = create_model("googlenet", num_classes=4).train()
    assert off.forward_with_aux(torch.randn(2, 3, 96, 96))[1] == []
    v3 = create_model("inception_v3", num_classes=4, aux_logits=True).train()
    assert len(v3.forward_with_aux(torch.randn(2, 3, 299, 299))[1]) == 1


def test_in_chans_adapts_first_conv():
    m = create_model("resnet18", num_classes=2, in_chans=1)
    assert m(torch.randn(1, 1, 64, 64)).shape == (1, 2)


@pytest.mark.parametrize("call,match", [
    (lambda: create_model("resnet5O"), "Did you mean"),
    (lambda: create_model("resnet18", num_classes=0), "num_classes"),
    (lambda: create_model("resnet18", depth=3), "no option"),
    (lambda: check_input_size("inception_v3", 64), "at least 75"),
    (lambda: create_model("resnet18", weights="nonsense"), "no weights named"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(BenthosError, match=match):
        call()
