"""The failure picture of assert_alerts_match: alerts drawn on the curve, whole-step ticks,
and a file written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import SynthLossError, make_curve, score_alerts

pytest.importorskip("matplotlib", reason="the failure picture needs the [plot] extra (matplotlib)")

from matplotlib.figure import Figure

from pytest_synthloss.exports.failure_plot import draw_alert_score, save_alert_plot


def _scatter_points(ax: object) -> dict[str, list[tuple[float, float]]]:
    points: dict[str, list[tuple[float, float]]] = {}
    for collection in ax.collections:  # type: ignore[attr-defined]
        label = collection.get_label()
        if label.startswith("alert:"):
            points[label] = [(float(x), float(y)) for x, y in collection.get_offsets()]
    return points


def test_alerts_sit_on_the_curve_and_non_finite_steps_at_the_top() -> None:
    spiky = make_curve(20, "spiky")
    score = score_alerts([4, 9], spiky)  # a hit at the spike, a false alarm at step 9
    ax = draw_alert_score(spiky, score, Figure().subplots())
    assert _scatter_points(ax) == {
        "alert: hit (1)": [(4.0, spiky.loss_at(4))],
        "alert: false alarm (1)": [(9.0, spiky.loss_at(9))],
    }
    nan = make_curve(20, "nan")
    ax = draw_alert_score(nan, score_alerts([12], nan), Figure().subplots())
    top = float(np.nanmax(nan.losses))
    assert _scatter_points(ax) == {"alert: hit (1)": [(12.0, top)]}


def test_step_ticks_are_whole_numbers() -> None:
    curve = make_curve(6, "spiky")
    figure = Figure()
    ax = draw_alert_score(curve, score_alerts([4], curve), figure.subplots())
    figure.canvas.draw()
    ticks = ax.get_xticks()
    assert ticks.size > 1
    assert np.array_equal(ticks, np.round(ticks))


def test_a_failed_write_keeps_the_previous_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    curve = make_curve(20, "spiky")
    target = tmp_path / "alerts.png"
    save_alert_plot(curve, score_alerts([4], curve), target)
    before = target.read_bytes()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"

    def full_disk(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)  # the last step of the write fails
    with pytest.raises(SynthLossError) as info:
        save_alert_plot(curve, score_alerts([9], curve), target)
    assert str(info.value) == f"cannot write alert plot {str(target)!r}: No space left on device"
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.png"]
