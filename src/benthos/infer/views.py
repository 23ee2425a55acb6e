"""Test-time views, and scoring the extra views only where the first one is unsure.

Seafloor photographs have no "up": the 8 rotations and mirrors of a patch ("dihedral") are
all views the model was trained on, and averaging their logits is worth 3-4 points of
accuracy, at 8 times the work. Most patches do not need it: where one view already puts a
clear margin between its first and second class, the other seven rarely change the answer.
The *adaptive* rule scores the first view of every image and the other views only for images
whose first-view margin (top-1 minus top-2 softmax probability) is below a threshold fitted
on the validation split when training ends (:mod:`benthos.train.views`), recorded in
``run.json`` beside the calibration temperature. Runs without it keep scoring every view.

Views are computed on NCHW arrays, in the order of :func:`benthos.infer.predict.tta_views`
(4 rotations, then the same mirrored), so every backend sees the same inputs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VIEW_MODES = ("dihedral", "flip", "none")


def n_views(mode: str) -> int:
    return {"dihedral": 8, "flip": 2, "none": 1}[mode]


def view_arrays(x: np.ndarray, mode: str) -> list[np.ndarray]:
    """The views of an NCHW batch: 'dihedral' (4 rotations x mirror), 'flip' (mirror), 'none'."""
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x[..., ::-1]]
    rots = [np.rot90(x, k, axes=(-2, -1)) for k in range(4)]
    return rots + [r[..., ::-1] for r in rots]


@dataclass(frozen=True)
class ViewRule:
    """Which views score an image: all of ``mode``'s, or, with ``margin``, the first view and the
    rest only where the first view's top-1 minus top-2 probability is below ``margin``."""

    mode: str = "none"
    margin: float | None = None

    @property
    def adaptive(self) -> bool:
        return self.margin is not None and self.mode != "none"


def first_margin(logits: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 softmax probability per row (1.0 for a single class)."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    if p.shape[1] < 2:
        return np.ones(len(p))
    top2 = np.partition(p, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def score_batch(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rule: ViewRule) -> tuple[np.ndarray, int]:
    """Logits (N, C) of one batch under ``rule`` (the mean over the views scored), and how many
    views were run in all. ``forward`` maps an NCHW float32 array to logits; all the views a batch
    needs go to it in one call."""
    if rule.mode == "none":
        return forward(x), len(x)
    views = view_arrays(x, rule.mode)
    v = len(views)
    if not rule.adaptive:
        out = forward(np.ascontiguousarray(np.concatenate(views)))
        return out.reshape(v, len(x), -1).mean(0), v * len(x)
    first = forward(np.ascontiguousarray(views[0]))
    unsure = np.flatnonzero(first_margin(first) < rule.margin)
    if not len(unsure):
        return first, len(x)
    extra = forward(np.ascontiguousarray(np.concatenate([view[unsure] for view in views[1:]])))
    out = first.copy()
    out[unsure] = (first[unsure] + extra.reshape(v - 1, len(unsure), -1).sum(0)) / v
    return out, len(x) + (v - 1) * len(unsure)


def adaptive_logits(view_logits: np.ndarray, margin: float) -> np.ndarray:
    """What the adaptive rule gives, from every view's logits (V, N, C) computed beforehand."""
    unsure = first_margin(view_logits[0]) < margin
    return np.where(unsure[:, None], view_logits.mean(0), view_logits[0])
