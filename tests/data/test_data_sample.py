"""The bundled aquarium sample: present, attributed, small, and readable by our readers."""
from __future__ import annotations

import json

import pytest

from benthos.data import load_classification, sample_path, split_samples
from benthos.errors import DataError

CLASSES = ["fish", "jellyfish", "penguin", "puffin", "shark", "starfish", "stingray"]


def test_sample_is_attributed_and_small():
    root = sample_path("aquarium")
    notice = (root / "NOTICE.md").read_text()
    assert "CC BY 4.0" in notice and "Roboflow" in notice and "Aquarium Combined" in notice
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total < 5.5e6
    with pytest.raises(DataError, match="unknown sample kind"):
        sample_path("reef")


def test_crops_manifest_trains_with_grouped_split():
    data = load_classification(sample_path("manifest"), check_images=False)
    assert data.classes == CLASSES and not data.issues
    assert all(0 < n <= 45 for n in data.counts().values())
    assert all(s.group for s in data.samples)
    split = split_samples(data.samples, seed=0)
    groups = {k: {data.samples[i].group for i in v} for k, v in split.items()}
    assert not groups["train"] & groups["test"]
    assert load_classification(sample_path("crops"), check_images=False).counts() == data.counts()


def test_detection_sample_covers_every_class():
    coco = json.loads(sample_path("coco").read_text())
    assert {c["name"] for c in coco["categories"]} == set(CLASSES)
    assert {a["category_id"] for a in coco["annotations"]} == {c["id"] for c in coco["categories"]}
    assert 30 <= len(coco["images"]) <= 50
    assert all(max(im["width"], im["height"]) <= 640 for im in coco["images"])
    crops = load_classification(sample_path("coco"), check_images=False)
    assert crops.source == "coco" and crops.classes == CLASSES
