"""Published figures are reproduced within 3%, and the lecture's worked examples come out right."""
import pytest

from benthos.cost import conv_macs, profile_model
from benthos.cost.examples import lecture_examples
from benthos.models import list_models, model_card

WITH_FIGURES = [n for n in list_models() if model_card(n).params_m or model_card(n).macs_g]


def test_most_models_have_published_figures():
    assert len(WITH_FIGURES) >= 35


@pytest.mark.parametrize("name", WITH_FIGURES)
def test_published_figures_within_3_percent(name):
    card = model_card(name)
    cost = profile_model(name)
    if card.params_m:
        assert cost.params / (card.params_m * 1e6) == pytest.approx(1, abs=0.03), f"{name} params {cost.params:,}"
    if card.macs_g:
        assert cost.macs / (card.macs_g * 1e9) == pytest.approx(1, abs=0.03), f"{name} MACs {cost.macs:,}"


def test_wrn28_10_has_36_5m_parameters():
    assert profile_model("wrn28_10").params == pytest.approx(36.5e6, rel=0.01)


def test_per_layer_table_adds_up():
    cost = profile_model("resnet18")
    assert sum(l.macs for l in cost.layers) == cost.macs
    conv1 = cost.layers[0]
    assert conv1.output_shape == (64, 112, 112) and conv1.macs == conv_macs(3, 64, 7, (112, 112))


def test_aux_heads_excluded_from_cost():
    with_aux = profile_model("inception_v3", aux_logits=True)
    without = profile_model("inception_v3")
    assert with_aux.params == without.params and with_aux.macs == without.macs


def test_lecture_examples():
    ex = {e.title.split(" (")[0]: e for e in lecture_examples()}
    b = ex["1x1 bottleneck before a 5x5 conv"]
    assert b.baseline_macs == pytest.approx(120.4e6, rel=0.005) and b.alternative_macs == pytest.approx(12.4e6, rel=0.005)
    g = ex["1x1 bottleneck, GoogLeNet inception"]
    assert g.baseline_macs == pytest.approx(112.9e6, rel=0.005) and g.alternative_macs == pytest.approx(5.3e6, rel=0.01)
    assert ex["two 3x3 convolutions instead of one 5x5"].saving == pytest.approx(0.28, abs=0.001)
    assert ex["3x1 then 1x3 instead of 3x3"].saving == pytest.approx(1 / 3, abs=0.001)
    dw = ex["depthwise-separable vs standard 3x3 conv"]
    assert 1 - dw.saving == pytest.approx(1 / 512 + 1 / 9, rel=1e-6)
    fc = ex["fully connected layer vs global average pooling on a 7x7x1024 map"]
    assert fc.baseline_params == 7 * 7 * 1024 * 1024 and fc.alternative_params == 0
