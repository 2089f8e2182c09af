"""Plots of a loss curve with its ground truth (every event, the floor step). Needs matplotlib.

matplotlib is an optional extra (``pip install "pytest-synthloss[plot]"``) and is only
imported when a plot is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.extras import install_hint, require_extra

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = [
    "INSTALL_HINT",
    "KIND_COLORS",
    "image_format",
    "plot_curve",
    "require_matplotlib",
    "save_plot",
]

INSTALL_HINT = install_hint("plot")


def require_matplotlib() -> None:
    """Raise :class:`~pytest_synthloss.core.extras.MissingExtraError` if matplotlib is missing."""
    require_extra("matplotlib", "plot", "plotting")


#: How each event kind is drawn: its colour (spikes are markers, others shaded spans).
KIND_COLORS = {
    "spike": "tab:red",
    "nonfinite": "tab:red",
    "divergence": "tab:orange",
    "plateau": "tab:gray",
    "incident": "tab:purple",
    "warmup": "tab:olive",
    "schedule": "tab:cyan",
    "epoch": "tab:brown",
}
_SHOWN_STEPS = 10


def plot_curve(curve: LossCurve, ax: Any = None) -> Any:
    """Draw ``curve`` on ``ax`` (a matplotlib Axes; the current one if ``None``) and return it.

    Every ground-truth event is marked, one legend entry per kind: spike steps get red
    markers; non-finite steps (which have no point to draw), divergences, plateaus,
    incidents and the benign warm-up, schedule and epoch events shaded spans of their
    colour (:data:`KIND_COLORS`). A profile's floor is a dotted horizontal line and its
    floor step a dashed vertical one (a recorded curve has no known floor).
    """
    require_matplotlib()
    import numpy as np

    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    steps, losses = curve.steps, curve.losses
    ax.plot(steps, losses, color="tab:blue", linewidth=1.5, label="loss")
    events = curve.events
    spikes = [e for e in events if e.kind == "spike"]
    if spikes:
        inside = np.zeros(steps.size, dtype=bool)
        for event in spikes:
            inside |= (steps >= event.first) & (steps <= event.last)
        ax.scatter(
            steps[inside],
            losses[inside],
            color=KIND_COLORS["spike"],
            zorder=3,
            label=_span_label("spikes", spikes),
        )
    kinds = dict.fromkeys(e.kind for e in events if e.kind != "spike")
    for kind in kinds:
        spans = [e for e in events if e.kind == kind]
        for index, event in enumerate(spans):
            ax.axvspan(
                event.first - 0.5,
                event.last + 0.5,
                color=KIND_COLORS.get(kind, "tab:pink"),
                alpha=0.25 if kind in ("nonfinite", "incident") else 0.15,
                linewidth=0,
                label=_span_label(kind, spans) if index == 0 else None,
            )
    floor = _floor(curve)
    if floor is not None:
        ax.axhline(floor, color="tab:gray", linestyle=":", linewidth=1, label="floor")
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


def _floor(curve: LossCurve) -> float | None:
    """The profile's floor; ``None`` for a curve without one (a recorded run)."""
    try:
        return curve.floor
    except SynthLossError:
        return None


def _step_list(steps: Sequence[object]) -> str:
    shown = ", ".join(str(s) for s in steps[:_SHOWN_STEPS])
    return shown + (f", ... ({len(steps)} in all)" if len(steps) > _SHOWN_STEPS else "")


def _span_label(kind: str, spans: list[Any]) -> str:
    if kind == "divergence":
        return f"divergence (from step {spans[0].first})"
    ranges = [f"{e.first}" if e.first == e.last else f"{e.first}-{e.last}" for e in spans]
    noun = "step" if ranges == [str(spans[0].first)] else "steps"  # one event, one step
    return f"{kind} ({noun} {_step_list(ranges)})"


def image_format(path: str | os.PathLike[str]) -> str:
    """The image format matplotlib writes for ``path``'s extension (``png`` without one).

    Raises ``SynthLossError`` naming the extension and the formats matplotlib writes.
    """
    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = os.path.splitext(os.fspath(path))[1]
    if not suffix:
        return "png"
    formats = FigureCanvasBase.get_supported_filetypes()
    fmt = suffix[1:].lower()
    if fmt not in formats:
        raise SynthLossError(
            f"cannot write an image as {suffix!r} ({os.fspath(path)!r}); the extensions "
            f"matplotlib writes: {', '.join(sorted(formats))}"
        )
    return fmt


def save_plot(
    curve: LossCurve,
    path: str | os.PathLike[str] | BinaryIO,
    *,
    size: tuple[float, float] = (8, 4.5),
    format: str | None = None,
) -> None:
    """Write an image of ``curve`` to ``path`` or a binary file (``size`` in inches at 100 dpi).

    ``format`` (``"png"``, ``"svg"``, ``"pdf"``...) defaults to the path's extension (see
    :func:`image_format`), and to PNG for a file object. Uses a bare ``Figure``, so no GUI
    backend is involved.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    if format is None:
        format = image_format(path) if isinstance(path, (str, os.PathLike)) else "png"
    figure = Figure(figsize=size, dpi=100)
    plot_curve(curve, figure.subplots())
    figure.tight_layout()
    figure.savefig(path, format=format)
