"""Evaluation: classification metrics and calibration (JSON-ready dicts)."""
from benthos.evaluate.calibration import expected_calibration_error, reliability_bins
from benthos.evaluate.classification import evaluate_by_name
from benthos.evaluate.metrics import classification_metrics

__all__ = ["classification_metrics", "evaluate_by_name", "expected_calibration_error", "reliability_bins"]
