"""What a loaded detector (or its flip-TTA wrapper) predicts with, read back from it: the records of
`detect evaluate` and `detect predict`, and the key of an exported graph, are made from these."""
from __future__ import annotations

import torch


def test_proposals_of(model: torch.nn.Module) -> int | None:
    """The RPN proposals per image a loaded detector (or its TTA wrapper) keeps at test time; None without an RPN."""
    inner = getattr(model, "model", model)
    if hasattr(inner, "test_proposals"):  # an exported graph (detect.export.OnnxDetector): baked in
        return inner.test_proposals
    rpn = getattr(inner, "rpn", None)
    return int(rpn._post_nms_top_n["testing"]) if rpn is not None else None


def box_vote_of(model: torch.nn.Module) -> float:
    """The box-voting IoU a loaded detector (or its TTA wrapper) applies after NMS; 0.0 when none."""
    from benthos.detect.tiling import nms_settings

    return nms_settings(model)[2]


def roi_sampling_of(model: torch.nn.Module) -> int | None:
    """The RoIAlign sampling points per bin side a loaded detector (or its TTA wrapper) uses; None without."""
    inner = getattr(model, "model", model)
    if hasattr(inner, "roi_sampling"):  # an exported graph (detect.export.OnnxDetector): baked in
        return inner.roi_sampling
    pool = getattr(getattr(inner, "roi_heads", None), "box_roi_pool", None)
    return int(pool.sampling_ratio) if pool is not None and hasattr(pool, "sampling_ratio") else None


def backend_of(model: torch.nn.Module) -> str:
    """What runs a loaded detector (or its TTA wrapper): "onnx" (the whole graph in ONNX
    Runtime), "onnx trunk" (its trunk only) or "torch"."""
    return getattr(getattr(model, "model", model), "benthos_backend", "torch")
