"""Detector builders; importing this package fills the registry."""
from benthos.detect.models import fast_rcnn, faster_rcnn, retinanet_fcos, rfcn, ssd, yolo  # noqa: F401
