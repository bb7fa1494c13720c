"""Shared figure helpers: a headless backend and one way to save.

``save`` makes any figure safe to draw: infinite values become gaps (NaN) in every line, and an
axis on a log scale with no positive finite value to show goes back to linear, so a report of
runs that diverged (inf or NaN losses) or of values ≤ 0 draws instead of raising.
"""
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)


def _finite_lines(ax) -> None:
    for line in ax.lines:
        x = np.asarray(line.get_xdata(), float)
        y = np.asarray(line.get_ydata(), float)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            line.set_data(np.where(np.isfinite(x), x, np.nan), np.where(np.isfinite(y), y, np.nan))


def _data(ax, axis: int) -> np.ndarray:
    parts = [np.asarray(line.get_xydata(), float)[:, axis] for line in ax.lines if len(line.get_xdata())]
    parts += [np.asarray(c.get_offsets(), float).reshape(-1, 2)[:, axis] for c in ax.collections]
    return np.concatenate(parts) if parts else np.zeros(0)


def _safe_scales(ax) -> None:
    _finite_lines(ax)
    for axis, (get, set_) in enumerate(((ax.get_xscale, ax.set_xscale), (ax.get_yscale, ax.set_yscale))):
        if get() == "log":
            values = _data(ax, axis)
            if not np.any(np.isfinite(values) & (values > 0)):
                set_("linear")


def save(fig, path: Path) -> Path:
    """Make the figure safe to draw (module docstring), lay out, write a 120-dpi PNG, close;
    return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for ax in fig.axes:
        _safe_scales(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
