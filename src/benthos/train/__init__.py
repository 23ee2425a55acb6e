"""Training engine (Lightning) and the lecture's transfer-learning strategies."""
from benthos.train.config import STRATEGIES, TrainConfig

__all__ = ["TrainConfig", "STRATEGIES", "train"]


def train(cfg: TrainConfig):
    """Train a classifier as configured; returns the run metadata."""
    from benthos.train.engine import train as _train

    return _train(cfg)
