"""Temperature scaling (Guo et al., 2017): the one number that makes a model's softmax honest, fitted by
maximum likelihood on held-out logits. A leaf module: the run's calibration (:mod:`benthos.train.calibrate`)
and the adaptive-views rule (:mod:`benthos.train.views`) both fit temperatures with it."""
from __future__ import annotations

import numpy as np
import torch


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T > 0 that minimises the negative log-likelihood of ``labels`` under softmax(logits / T)."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"need (N, C) logits and N labels, got {tuple(z.shape)} and {tuple(y.shape)}")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return float(min(max(t, bounds[0]), bounds[1])) if np.isfinite(t) else 1.0


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64) / temperature
    return float(torch.nn.functional.cross_entropy(z, torch.as_tensor(np.asarray(labels), dtype=torch.long)))
