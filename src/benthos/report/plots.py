"""Matplotlib figures for reports, drawn on the Agg canvas.

Figures are built as ``matplotlib.figure.Figure`` with an Agg canvas instead of through
pyplot: no global backend switch, no display needed, nothing left open between calls.
Embed them with :func:`benthos.report.html.figure_png`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BLUE, ORANGE, GREEN = "#1f6f9f", "#e07b39", "#2e8b57"


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _series(history: Sequence[dict], key: str) -> tuple[list[float], list[float]]:
    # epochs may lack a value (e.g. no validation on some epochs): plot what exists
    xs, ys = [], []
    for i, row in enumerate(history):
        v = row.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(row.get("epoch", i))
            ys.append(float(v))
    return xs, ys


def learning_curves(history: Sequence[dict]) -> Figure | None:
    """Train/val loss and val accuracy per epoch; None when history has nothing to plot."""
    loss = {k: _series(history, k) for k in ("train_loss", "val_loss")}
    acc = _series(history, "val_acc")
    if not any(xs for xs, _ in loss.values()) and not acc[0]:
        return None
    fig, (ax_loss, ax_acc) = _figure(9, 3.2, ncols=2)
    for (key, (xs, ys)), colour in zip(loss.items(), (BLUE, ORANGE)):
        if xs:
            ax_loss.plot(xs, ys, marker="o", ms=3, color=colour, label=key.replace("_", " "))
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="loss")
    if ax_loss.lines:
        ax_loss.legend(frameon=False)
    title = "Validation accuracy"
    if acc[0]:
        ax_acc.plot(*acc, marker="o", ms=3, color=GREEN)
        best = int(np.argmax(acc[1]))
        ax_acc.plot(acc[0][best], acc[1][best], marker="*", ms=12, color=GREEN)
        title += f" (best {acc[1][best]:.3f}, epoch {acc[0][best]})"
    ax_acc.set(title=title, xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def confusion_heatmap(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> Figure:
    """Confusion matrix normalised per true class (rows), annotated with the share in percent.

    Rows with no samples stay blank: there is nothing to normalise.
    """
    cm = np.asarray(matrix, dtype=np.float64)
    n = len(classes)
    support = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(support > 0, cm / support, np.nan)
    # cap the size near the page width (~1200 px at 110 dpi) rather than let the browser
    # shrink a huge image; fonts follow the cell size so labels stay legible
    side = min(max(4.0, 0.45 * n + 2.2), 12.0)
    cell_pt = 72 * (side - 2.2) / n
    font = int(min(9, max(4, 0.45 * cell_pt)))
    fig, (ax,) = _figure(side + 1.0, side)
    cmap = _cmap()
    im = ax.imshow(norm, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="share of true class")
    labels = [f"{c} ({int(s)})" for c, s in zip(classes, support[:, 0])]
    ax.set_xticks(range(n), list(classes), rotation=45, ha="right", rotation_mode="anchor", fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set(xlabel="predicted class", ylabel="true class (samples)")
    if cell_pt >= 13:  # below that the numbers are unreadable; the colours still tell
        for i in range(n):
            for j in range(n):
                if np.isfinite(norm[i, j]) and cm[i, j] > 0:
                    ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center", fontsize=font - 1,
                            color="white" if norm[i, j] > 0.55 else "#1d2a33")
    return fig


def _cmap():
    from matplotlib import colormaps

    return colormaps["Blues"].with_extremes(bad="#eeeeee")  # grey: rows without samples


def reliability_diagram(bins: Sequence[dict], ece: float | None = None) -> Figure:
    """Accuracy against confidence per bin, with the diagonal of perfect calibration and bin counts."""
    fig = Figure(figsize=(5.2, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax_n = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    filled = [b for b in bins if b.get("count")]
    lo = [b["lo"] for b in filled]
    width = [b["hi"] - b["lo"] for b in filled]
    acc = [b["accuracy"] for b in filled]
    conf = [b["confidence"] for b in filled]
    ax.bar(lo, acc, width=width, align="edge", color=BLUE, edgecolor="white", label="accuracy")
    # hatched, unfilled: the gap to each bin's mean confidence (what ECE sums) must not tint
    # the accuracy bar it overlaps
    ax.bar(lo, [c - a for c, a in zip(conf, acc)], bottom=acc, width=width, align="edge",
           facecolor="none", edgecolor="#c0392b", hatch="///", lw=0.8, label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], ls="--", color="#555555", lw=1, label="perfect calibration")
    title = "Reliability" + (f" (ECE {ece:.3f})" if ece is not None else "")
    ax.set(title=title, ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax_n.bar([b["lo"] for b in bins], [b.get("count", 0) for b in bins],
             width=[b["hi"] - b["lo"] for b in bins], align="edge", color="#9aa9b3", edgecolor="white")
    ax_n.set(xlabel="top-1 confidence", ylabel="samples")
    for a in (ax, ax_n):
        a.grid(alpha=0.3)
    return fig
