"""Plots of a loss curve with its ground truth (spikes, floor step). Needs matplotlib.

matplotlib is an optional extra (``pip install 'pytest-synthloss[plot]'``) and is only
imported when a plot is drawn.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_synthloss.core.extras import install_hint, require_extra

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["INSTALL_HINT", "plot_curve", "require_matplotlib", "save_plot"]

INSTALL_HINT = install_hint("plot")


def require_matplotlib() -> None:
    """Raise :class:`~pytest_synthloss.core.extras.MissingExtraError` if matplotlib is missing."""
    require_extra("matplotlib", "plot", "plotting")


def plot_curve(curve: LossCurve, ax: Any = None) -> Any:
    """Draw ``curve`` on ``ax`` (a matplotlib Axes; the current one if ``None``) and return it.

    Spike steps get red markers, the floor step a dashed vertical line and the floor a
    dotted horizontal one.
    """
    require_matplotlib()
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    ax.plot(curve.steps, curve.losses, color="tab:blue", linewidth=1.5, label="loss")
    spikes = curve.spike_steps
    if spikes:
        ax.scatter(
            spikes,
            [curve.loss_at(s) for s in spikes],
            color="tab:red",
            zorder=3,
            label=f"spikes (steps {', '.join(str(s) for s in spikes)})",
        )
    ax.axhline(curve.floor, color="tab:gray", linestyle=":", linewidth=1, label="floor")
    if curve.floor_step is not None:
        ax.axvline(
            curve.floor_step,
            color="tab:green",
            linestyle="--",
            linewidth=1,
            label=f"floor step {curve.floor_step}",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"synthloss: {curve.profile.name}, steps {curve.start_step}..{curve.last_step}")
    ax.legend(loc="upper right")
    return ax


def save_plot(
    curve: LossCurve,
    path: str | os.PathLike[str] | BinaryIO,
    *,
    size: tuple[float, float] = (8, 4.5),
) -> None:
    """Write a PNG of ``curve`` to ``path`` or a binary file (``size`` in inches at 100 dpi).

    Uses a bare ``Figure``, so no GUI backend is involved.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    plot_curve(curve, figure.subplots())
    figure.tight_layout()
    figure.savefig(path, format="png")
