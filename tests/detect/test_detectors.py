"""Every registered detector at tiny sizes: a train step, eval output, save/load, predict."""
import pytest
import torch

from benthos.detect import create_detector, list_detectors
from benthos.detect.registry import DEFAULT_DETECTOR, detector_spec
from benthos.errors import ConfigError

# torchvision's own SSD trunks have no offline ImageNet weights; their extra layers need ~300 px
NO_OFFLINE_WEIGHTS = {"ssd300_vgg16", "ssdlite320_mobilenet_v3"}
SIZE = {"ssd300_vgg16": 300, "ssdlite320_mobilenet_v3": 160}


def _batch(size):
    ims = [torch.rand(3, size, size), torch.rand(3, size * 3 // 4, size)]
    t = [{"boxes": torch.tensor([[10.0, 10, 40, 50], [5, 5, 17, 15]]), "labels": torch.tensor([1, 2])},
         {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]  # a negative image
    return ims, t


def test_registry_lists_all_methods():
    methods = {detector_spec(n).method for n in list_detectors()}
    assert {"faster_rcnn", "ssd", "yolo", "retinanet", "fcos"} <= methods
    assert DEFAULT_DETECTOR in list_detectors()
    assert list_detectors("faster*") == ["fasterrcnn_lite0", "fasterrcnn_lite0_fpn", "fasterrcnn_lite0_p2fpn"]


def test_unknown_detector_suggests():
    with pytest.raises(ConfigError, match="Did you mean"):
        create_detector("yolo_lite", 2)


@pytest.mark.parametrize("name", list_detectors())
def test_train_step_and_eval(name):
    torch.manual_seed(0)
    size = SIZE.get(name, 96)
    model = create_detector(name, 2, pretrained_backbone=False, image_size=size)  # weights: tested below
    ims, targets = _batch(size)
    model.train()
    losses = model(ims, targets)
    loss = sum(losses.values())
    assert torch.isfinite(loss) and loss > 0
    params = [p for p in model.parameters() if p.requires_grad]
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    model.eval()
    with torch.no_grad():
        out = model(ims)
    assert len(out) == 2
    for o, im in zip(out, ims):
        assert o["boxes"].shape[1] == 4 and len(o["boxes"]) == len(o["scores"]) == len(o["labels"])
        if len(o["labels"]):
            assert o["labels"].min() >= 1 and o["labels"].max() <= 2  # 1-based, background excluded
            assert o["boxes"][:, 2].max() <= im.shape[-1] + 1e-3


def test_p2_level_adds_stride_4_map_and_small_anchors():
    m = create_detector("fasterrcnn_lite0_p2fpn", 1, pretrained_backbone=False, image_size=128)
    assert m.backbone.strides == [4, 8, 16, 32, 64]
    assert m.rpn.anchor_generator.sizes[0] == (8, 12)
    feats = m.backbone(torch.rand(1, 3, 128, 128))
    assert [f.shape[-1] for f in feats.values()] == [32, 16, 8, 4, 2]
    assert m.roi_heads.box_roi_pool.featmap_names == ["0", "1", "2", "3"]


def test_anchor_levels_must_match_feature_maps():
    with pytest.raises(ConfigError, match="one list of sizes per map"):
        create_detector("fasterrcnn_lite0_fpn", 1, pretrained_backbone=False, anchor_sizes=[[16, 32]])
    with pytest.raises(ConfigError, match="one list of sizes per map"):
        create_detector("retinanet_lite0_fpn", 1, pretrained_backbone=False, anchor_sizes=[[16, 32]])
    with pytest.raises(ConfigError, match="min_stride 2"):
        create_detector("fasterrcnn_lite0_fpn", 1, pretrained_backbone=False, min_stride=2)


def test_trainable_stages_freezes_the_trunk():
    m = create_detector("fasterrcnn_lite0_fpn", 1, pretrained_backbone=False, trainable_stages=0)
    assert not any(p.requires_grad for p in m.backbone.body.parameters())
    assert any(p.requires_grad for p in m.backbone.fpn.parameters())
    m2 = create_detector("yolo_lite0", 1, pretrained_backbone=False, trainable_stages=2)
    body = m2.trunk.body
    assert not body.conv_stem.weight.requires_grad and body.blocks[-1][0].conv_pwl.weight.requires_grad


def test_lite0_imagenet_weights_load_offline():
    from benthos.detect.backbones import backbone

    a, b = backbone("efficientnet_lite0", True), backbone("efficientnet_lite0", False)
    assert not torch.equal(a.conv_stem.weight, b.conv_stem.weight)


def test_faster_rcnn_roi_sampling_is_configurable():
    m = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False)
    assert m.roi_heads.fg_bg_sampler.batch_size_per_image == 256  # the CPU default (torchvision: 512)
    m = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, rois_per_image=64, rpn_train_proposals=500)
    assert m.roi_heads.fg_bg_sampler.batch_size_per_image == 64
    assert m.rpn._pre_nms_top_n["training"] == m.rpn._post_nms_top_n["training"] == 500


def test_faster_rcnn_fpn_width_is_configurable():
    m = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=128, fpn_channels=32)
    assert m.backbone.out_channels == 32
    assert m.roi_heads.box_head.fc6.in_features == 32 * 7 * 7  # the box head is sized from it
    assert all(f.shape[1] == 32 for f in m.backbone(torch.rand(1, 3, 128, 128)).values())
    with pytest.raises(ConfigError, match="fpn_channels 'wide'"):
        create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, fpn_channels="wide")


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lite_trunks_load_offline(name):
    """The zoo's offline Lite1/Lite2 weights fill timm's features-only trunk (--backbone NAME)."""
    from benthos.detect.backbones import backbone

    a, b = backbone(name, True), backbone(name, False)
    assert not torch.equal(a.conv_stem.weight, b.conv_stem.weight)


LITE = [0.498] * 3, [0.502] * 3  # what the offline EfficientNet-Lite weights were trained with (the zoo's WeightSpec)


def _input_stats(model):
    if hasattr(model, "transform"):  # torchvision detectors normalise in their GeneralizedRCNNTransform
        return [round(v, 3) for v in model.transform.image_mean], [round(v, 3) for v in model.transform.image_std]
    return [round(v, 3) for v in model.mean.flatten().tolist()], [round(v, 3) for v in model.std.flatten().tolist()]


@pytest.mark.parametrize("name", sorted(set(list_detectors()) - NO_OFFLINE_WEIGHTS))
def test_inputs_are_normalised_as_the_trunk_was_pretrained(name):
    from benthos.detect.backbones import IMAGENET_MEAN, IMAGENET_STD

    model = create_detector(name, 2, pretrained_backbone=False, image_size=96)
    assert _input_stats(model) == (LITE[0], LITE[1])
    old = create_detector(name, 2, pretrained_backbone=False, image_size=96, normalize="imagenet")
    assert _input_stats(old) == ([round(v, 3) for v in IMAGENET_MEAN], [round(v, 3) for v in IMAGENET_STD])


def test_trunk_normalisation_choices():
    from benthos.detect.backbones import IMAGENET_MEAN, IMAGENET_STD, trunk_normalisation

    assert trunk_normalisation("efficientnet_lite2") == (tuple(LITE[0]), tuple(LITE[1]))
    assert trunk_normalisation("efficientnet_lite0", "imagenet") == (IMAGENET_MEAN, IMAGENET_STD)
    assert trunk_normalisation("not_in_the_zoo_net") == (IMAGENET_MEAN, IMAGENET_STD)  # timm-only trunk: ImageNet's
    with pytest.raises(ConfigError, match="normalize 'lab'"):
        trunk_normalisation("efficientnet_lite0", "lab")
