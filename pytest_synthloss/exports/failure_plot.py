"""A picture of an oracle's verdict: the curve, its true events shaded, the alerts marked.

Drawn when :func:`~pytest_synthloss.assert_alerts_match` fails under pytest (see
:mod:`pytest_synthloss.plugin.scorecard`), or by hand with :func:`save_alert_plot`. Expected
events are shaded red (caught) or hatched (missed), tolerated ones grey; alerts are green
triangles (a hit), orange triangles (a late hit) or red crosses (a false alarm). Needs
matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.files import write_atomically
from pytest_synthloss.exports.plotting import require_matplotlib

if TYPE_CHECKING:
    from pytest_synthloss.checks.scoring import AlertScore
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["SIZE_INCHES", "draw_alert_score", "save_alert_plot"]

#: The picture's size in inches at 100 dpi: 900 x 450 pixels.
SIZE_INCHES = (9.0, 4.5)


def draw_alert_score(curve: LossCurve, score: AlertScore, ax: Any, title: str = "") -> Any:
    """Draw ``curve`` with ``score``'s events and alerts on ``ax``; return ``ax``."""
    import numpy as np

    ax.plot(
        curve.steps,
        np.where(np.isfinite(curve.losses), curve.losses, np.nan),
        color="tab:blue",
        linewidth=1.3,
        label="loss",
    )
    missed = set(score.missed_events)
    late = set(score.late_detections)
    for event in score.events:
        label = f"expected {event.kind}"
        if event in missed:
            ax.axvspan(
                event.first - 0.5,
                event.last + 0.5,
                facecolor="none",
                edgecolor="tab:red",
                hatch="///",
                alpha=0.7,
                label=f"{label} (missed)",
            )
        else:
            ax.axvspan(
                event.first - 0.5, event.last + 0.5, color="tab:red", alpha=0.18, label=label
            )
    for event in score.tolerated_events:
        ax.axvspan(
            event.first - 0.5,
            event.last + 0.5,
            color="tab:gray",
            alpha=0.15,
            label=f"tolerated {event.kind}",
        )
    false_steps = {s for first, last in score.false_alarms for s in range(first, last + 1)}
    late_steps = {s for e in late for s in range(e.first, e.last + 1)}
    groups: dict[str, list[int]] = {"hit": [], "late": [], "false alarm": []}
    for step in score.alert_steps:
        if step in false_steps:
            groups["false alarm"].append(step)
        elif step in late_steps:
            groups["late"].append(step)
        else:
            groups["hit"].append(step)
    finite = np.isfinite(curve.losses)
    top = float(curve.losses[finite].max()) if finite.any() else 1.0
    # An alert sits on the curve at its step; at a non-finite step (no point) or a step the
    # curve does not have, at the top of the finite values.
    where = {int(s): i for i, s in enumerate(curve.steps.tolist())}

    def height(step: int) -> float:
        index = where.get(step)
        return float(curve.losses[index]) if index is not None and finite[index] else top

    styles = {
        "hit": ("^", "tab:green"),
        "late": ("^", "tab:orange"),
        "false alarm": ("x", "tab:red"),
    }
    for label, steps in groups.items():
        if steps:
            marker, color = styles[label]
            ax.scatter(
                steps,
                [height(step) for step in steps],
                marker=marker,
                color=color,
                s=60,
                zorder=4,
                label=f"alert: {label} ({len(steps)})",
            )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    verdict = (
        f"{len(score.missed_events)} missed, {len(score.false_alarms)} false, "
        f"{len(score.late_detections)} late"
    )
    ax.set_title(f"{title or curve.profile.name}: {verdict}")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize="small")
    return ax


def save_alert_plot(
    curve: LossCurve, score: AlertScore, path: str | os.PathLike[str], title: str = ""
) -> None:
    """Write the picture of ``score`` on ``curve`` as a PNG (900 x 450 pixels) to ``path``.

    The file is written whole (:func:`~pytest_synthloss.core.files.write_atomically`): a
    failed write leaves the previous file intact and no partial file.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=100)
    draw_alert_score(curve, score, figure.subplots(), title)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png")
    write_atomically(path, iter([image.getvalue()]), "alert plot")
