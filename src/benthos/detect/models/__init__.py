"""Detector builders; importing this package fills the registry."""
from benthos.detect.models import (  # noqa: F401
    fast_rcnn, faster_rcnn, overfeat, rcnn, retinanet_fcos, rfcn, ssd, yolo, yolov1)
