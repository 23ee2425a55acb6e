"""Mirror-image test-time augmentation for detectors (benthos.detect.tta)."""
import pytest
import torch
from torch import nn

from benthos.detect.tta import FlipTTA


class OneBoxDetector(nn.Module):
    """Finds one box over the brightest column band: a stand-in whose answer moves with the image."""

    nms_thresh, detections_per_img = 0.5, 300

    def forward(self, images):
        out = []
        for x in images:
            col = int(x.mean(dim=(0, 1)).argmax())
            out.append({"boxes": torch.tensor([[col - 2.0, 0.0, col + 3.0, 5.0]]), "scores": torch.tensor([0.9]),
                        "labels": torch.tensor([1])})
        return out


def test_mirror_predictions_map_back_and_merge():
    x = torch.zeros(3, 8, 20)
    x[:, :, 6] = 1.0  # the bright column: box [4, 0, 9, 5] in both views once the mirror is undone
    (d,) = FlipTTA(OneBoxDetector())([x])
    assert d["boxes"].tolist() == [[4.0, 0.0, 9.0, 5.0]]  # the two views agree, so NMS keeps one box
    assert d["scores"].tolist() == pytest.approx([0.9]) and d["labels"].tolist() == [1]


def test_disagreeing_views_keep_both_boxes():
    class LeftEdge(OneBoxDetector):  # always answers at the left edge, so the mirrored answer lands on the right
        def forward(self, images):
            return [{"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]), "scores": torch.tensor([0.8]),
                     "labels": torch.tensor([2])} for _ in images]

    (d,) = FlipTTA(LeftEdge())([torch.zeros(3, 8, 20)])
    assert sorted(d["boxes"].tolist()) == [[0.0, 0.0, 4.0, 4.0], [16.0, 0.0, 20.0, 4.0]]


def test_uses_the_detectors_own_nms_settings():
    from benthos.detect.registry import create_detector

    m = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=128, nms_thresh=0.4,
                        detections_per_img=50)
    t = FlipTTA(m)
    assert (t.nms_thresh, t.detections_per_img, t.box_vote) == (0.4, 50, 0.0)
    voting = create_detector("fasterrcnn_lite0_fpn", 2, pretrained_backbone=False, image_size=128, box_vote=0.6)
    assert FlipTTA(voting).box_vote == 0.6  # the merged views are voted like one view's boxes
