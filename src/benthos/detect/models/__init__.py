"""Detector builders; importing this package fills the registry."""
from benthos.detect.models import fast_rcnn, faster_rcnn, overfeat, retinanet_fcos, rfcn, ssd, yolo, yolov1  # noqa: F401
