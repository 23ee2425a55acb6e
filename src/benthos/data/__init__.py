"""Classification data: readers, the torch dataset, splits, transforms, the bundled sample.

Importing this package does not import torch; ``ImageDataset`` and the transforms
load it when first used. Detection boxes (COCO/YOLO/VOC) live in ``benthos.data.detection``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benthos.data.images import check_image, crop_padded, image_size, load_image
from benthos.data.inspect import format_report, inspect_dataset
from benthos.data.issues import DataIssue, summarise_issues
from benthos.data.readers import FORMATS, detect_format, load_classification
from benthos.data.sample import sample_path
from benthos.data.samples import ClassificationData, Sample
from benthos.data.splits import check_split, load_split, load_split_indices, save_split, split_samples

if TYPE_CHECKING:
    from benthos.data.dataset import ImageDataset
    from benthos.data.transforms import build_transforms, eval_transforms

_LAZY = {"ImageDataset": "benthos.data.dataset", "build_transforms": "benthos.data.transforms",
         "eval_transforms": "benthos.data.transforms"}

__all__ = [
    "Sample", "ClassificationData", "DataIssue", "load_classification", "detect_format", "FORMATS",
    "ImageDataset", "build_transforms", "eval_transforms", "load_image", "check_image", "image_size", "crop_padded",
    "split_samples", "save_split", "load_split", "load_split_indices", "check_split", "inspect_dataset",
    "format_report", "sample_path", "summarise_issues",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'benthos.data' has no attribute {name!r}")
