"""Build-time page ``_generated/monitors.md``: the scorecard and failure pictures of the
example monitors, computed during the docs build with the same code the plugin uses."""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from pytest_synthloss import LossCurve, available_profiles, make_curve, score_alerts
from pytest_synthloss.checks.scorecard import COLUMNS, scorecard_rows, summarize, table_cells
from pytest_synthloss.exports.failure_plot import SIZE_INCHES, draw_alert_score

ROOT = Path(__file__).resolve().parents[2]
#: Steps of every run the monitors watch.
STEPS = 60

Monitor = Callable[[LossCurve], list[int]]


def _monitors() -> dict[str, Monitor]:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from spike_alert import EMASpikeAlert, RunningMeanSpikeAlert
    finally:
        sys.path.remove(str(ROOT / "examples"))

    def running_mean(curve: LossCurve) -> list[int]:
        return [a.step for a in RunningMeanSpikeAlert().watch(curve)]

    def ema(curve: LossCurve) -> list[int]:
        return [a.step for a in EMASpikeAlert().watch(curve)]

    def threshold(curve: LossCurve) -> list[int]:
        return [step for step, loss in curve if loss > 5.0]

    def drop(curve: LossCurve) -> list[int]:
        losses = curve.losses.tolist()
        return [
            int(step)
            for step, before, now in zip(curve.steps[1:], losses, losses[1:], strict=False)
            if math.isfinite(before) and now < 0.9 * before
        ]

    return {
        "running-mean (examples/spike_alert.py)": running_mean,
        "ema (examples/spike_alert.py)": ema,
        "threshold: loss > 5": threshold,
        "drop: loss falls 10%": drop,
    }


def _png(curve: LossCurve, score: object, title: str) -> bytes:
    figure = Figure(figsize=SIZE_INCHES, dpi=100)
    draw_alert_score(curve, score, figure.subplots(), title)  # type: ignore[arg-type]
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def monitor_gallery(out: Path, write: Callable[[Path, bytes | str], None]) -> str:
    """Score every example monitor on every profile; write the pictures; return the page."""
    records: list[dict[str, object]] = []
    pictures: list[tuple[str, str]] = []
    for monitor, watch in _monitors().items():
        first_failure = True
        for profile in available_profiles():
            curve = make_curve(STEPS, profile)
            score = score_alerts(watch(curve), curve, name=monitor)
            records.append(summarize(score, monitor))
            if not score.ok and first_failure:
                first_failure = False
                slug = "".join(ch if ch.isalnum() else "-" for ch in monitor).strip("-")
                name = f"monitors/{slug}-{profile}.png"
                write(out / name, _png(curve, score, f"{monitor} on {profile}"))
                pictures.append((f"{monitor} on `{profile}`", name))
    rows = scorecard_rows(records)
    lines = [
        "# Monitor gallery",
        "",
        "The example monitors, and two naive ones, scored during the docs build against every",
        f"registered profile at {STEPS} steps with the default oracle (expect spikes and",
        "non-finite losses, tolerate divergence and incidents): the same table `pytest`",
        "prints at the end of a session (the `synthloss scorecard` section), and the picture",
        "a failing `assert_alerts_match` writes, for each monitor's first failing profile.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(table_cells(row)) + " |" for row in rows]
    lines.append("")
    for caption, name in pictures:
        lines += [f"## {caption}", "", f"![{caption}]({name})", ""]
    return "\n".join(lines)
