"""Training engine (Lightning) and the lecture's transfer-learning strategies."""
from benthos.train.config import STRATEGIES, TrainConfig

__all__ = ["TrainConfig", "STRATEGIES", "train"]


def train(cfg: TrainConfig):
    """Train a classifier as configured (an ensemble when ``members`` > 1); returns the run metadata."""
    from benthos.train.engine import resolve, train_resolved

    cfg, run_dir = resolve(cfg)  # a resumed run's own config decides which
    if cfg.members > 1:
        from benthos.train.ensemble import train_ensemble

        return train_ensemble(cfg, run_dir)
    return train_resolved(cfg, run_dir)
