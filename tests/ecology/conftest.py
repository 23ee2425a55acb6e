from __future__ import annotations

import pytest

from benthos.ecology.correction import Evaluation
from benthos.ecology.predictions import Predictions
from benthos.runs.atomic import atomic_write_json


@pytest.fixture
def files(tmp_path):
    """Example prediction files of every kind, a validation file and an evaluation.json."""
    Predictions.example("classification", n_images=8).write(tmp_path / "preds.csv")
    Predictions.example("points", n_images=6).write(tmp_path / "points.csv")
    Predictions.example("detection", n_images=6).write(tmp_path / "dets.csv")
    Predictions.example("classification", seed=1, n_images=20).write(tmp_path / "val.csv")
    atomic_write_json(tmp_path / "evaluation.json", Evaluation.example().to_dict())
    return tmp_path

