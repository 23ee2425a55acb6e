"""Batch prediction with a trained run: probabilities per image, test-time augmentation, CSV export."""
from benthos.infer.predict import predict_samples, tta_views

__all__ = ["predict_samples", "tta_views"]
