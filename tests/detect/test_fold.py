"""Folding the trunk's frozen BatchNorms into its convolutions changes no prediction."""
import torch

from benthos.detect.build import build_model, fold_for_inference
from benthos.detect.config import DetectConfig


def test_folded_detector_predicts_the_same_boxes():
    torch.manual_seed(0)
    cfg = DetectConfig(model="fasterrcnn_lite0_fpn", input_size=128, pretrained_backbone=False).resolved()
    model = build_model(cfg, 2).eval()
    for m in model.modules():  # BN statistics that are not the identity, as after pretraining
        if hasattr(m, "running_var") and m.running_var is not None:
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.2, 0.2)
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        before = model.backbone(x)
        assert fold_for_inference(model, 128) > 20
        after = model.backbone(x)
    assert before.keys() == after.keys()
    for k in before:
        assert torch.allclose(before[k], after[k], atol=1e-4, rtol=1e-4)
    assert not any(type(m).__name__.startswith("FrozenBatchNorm") for m in model.backbone.body.modules())
