"""Detector builders; importing this package fills the registry."""
from benthos.detect.models import faster_rcnn, retinanet_fcos, ssd, yolo  # noqa: F401
