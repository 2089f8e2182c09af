"""``assert_alerts_match``: a monitor's alerts against a curve's events, as an assertion.

It scores the alerts with :func:`~pytest_synthloss.checks.scoring.score_alerts` (the same
``expect``/``tolerate`` contract) and fails with a message naming each missed event, each
false alarm (with its loss, and the event it falls in) and each late detection, then the
scores and a sparkline with the alert steps marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from pytest_synthloss.checks.scoring import (
    DEFAULT_EXPECT,
    DEFAULT_TOLERATE,
    AlertScore,
    score_alerts,
)
from pytest_synthloss.checks.scoring_inputs import ScoredRun, scored_curve
from pytest_synthloss.checks.step_fields import raw_steps
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import LossAssertionError
from pytest_synthloss.core.validation import check_int

__all__ = ["assert_alerts_match"]

#: How many items a failure message lists before it summarises the rest.
LIST_LIMIT = 10


def assert_alerts_match(
    alert_steps: Iterable[int],
    curve: ScoredRun,
    *,
    events: Iterable[object] | None = None,
    expect: Iterable[str] | str = DEFAULT_EXPECT,
    tolerate: Iterable[str] | str = DEFAULT_TOLERATE,
    tolerance: int = 0,
    max_latency: int | None = None,
    width: int = 60,
    name: str | None = None,
) -> AlertScore:
    """Fail unless every expected event is caught, nothing is a false alarm and none is late.

    The one oracle for testing a monitor: by default every spike and non-finite event must
    be alerted on, alerts inside a divergence are allowed, and an alert anywhere else is a
    false alarm (see :func:`score_alerts` for ``expect``, ``tolerate``, ``tolerance`` and
    ``max_latency``). Returns the :class:`AlertScore` when the alerts match; otherwise
    raises :class:`~pytest_synthloss.LossAssertionError` (an ``AssertionError``) naming each
    missed event, false alarm (with its loss) and late detection, then the scores and a
    sparkline of the loss (``width`` columns at most, an integer >= 1) with ``▲`` under the
    alert steps. ``name`` names the monitor in the scorecard (the test's name by default).
    ``curve`` may also be plain losses or ``(steps, losses)`` with ``events=``, as for
    :func:`score_alerts`.
    """
    __tracebackhide__ = True
    columns = _check_width(width)
    run = scored_curve(curve, events)
    score = score_alerts(
        alert_steps,
        run,
        expect=expect,
        tolerate=tolerate,
        tolerance=tolerance,
        max_latency=max_latency,
        name=name,
    )
    if not score.ok:
        raise LossAssertionError(_failure_message(score, run, columns))
    return score


def _failure_message(score: AlertScore, curve: LossCurve, width: int) -> str:
    """The text of ``assert_alerts_match``'s failure: what was missed, false or late."""
    header = (
        f"profile {score.profile!r}, steps {score.start_step}..{score.last_step}; "
        f"expect {', '.join(score.expect) or 'nothing'}; "
        f"tolerate {', '.join(score.tolerate) or 'nothing'}; tolerance {score.tolerance}"
    )
    if score.max_latency is not None:
        header += f"; max_latency {score.max_latency}"
    missed = f"missed events: {len(score.missed_events)} / {len(score.events)}"
    if score.missed_events:
        missed += " — " + _listing([event.describe() for event in score.missed_events])
    counted = _counted_groups(score)
    false = f"false alarms: {len(score.false_alarms)} / {counted} alert groups"
    if score.false_alarms:
        false += " — " + _listing([_false_alarm(span, score, curve) for span in score.false_alarms])
    late = f"late detections: {len(score.late_detections)}"
    if score.late_detections:
        by_event = score.latency_by_event
        late += " — " + _listing(
            [
                f"{event.describe()} first alerted at step {event.first + lat} (latency {lat} > "
                f"{score.max_latency})"
                for event in score.late_detections
                if (lat := by_event[event]) is not None
            ]
        )
    scores = (
        f"event precision {score.event_precision:.2f} recall {score.event_recall:.2f} "
        f"F1 {score.event_f1:.2f}; point precision {score.point_precision:.2f} "
        f"recall {score.point_recall:.2f} F1 {score.point_f1:.2f}"
    )
    chart = curve.preview(width=width, marks=score.alert_steps)
    return "\n".join(
        [
            f"Alerts do not match ground truth ({header}):",
            missed,
            false,
            late,
            scores,
            "loss (▲ = alert step):",
            chart,
        ]
    )


def _counted_groups(score: AlertScore) -> int:
    """Alert groups with at least one alert step that is not merely tolerated."""
    alerts = raw_steps(score, "alert_steps")
    if not alerts.size:
        return 0
    group = np.cumsum(np.concatenate(([0], np.diff(alerts) != 1)))
    counted = ~np.isin(alerts, raw_steps(score, "tolerated_alerts"))
    return int(np.count_nonzero(np.bincount(group, weights=counted) > 0))


def _false_alarm(span: tuple[int, int], score: AlertScore, curve: LossCurve) -> str:
    first = span[0]
    text = f"{_span(span)} (loss {curve.loss_at(first):.4g}"
    inside = next(
        (e for e in curve.events if e.first <= first <= e.last and e.kind not in score.expect),
        None,
    )
    if inside is not None:
        text += f", inside {inside.describe()}"
    return text + ")"


def _span(span: tuple[int, int]) -> str:
    first, last = span
    return f"step {first}" if first == last else f"steps {first}-{last}"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:LIST_LIMIT])
    if len(items) > LIST_LIMIT:
        shown += f", … (+{len(items) - LIST_LIMIT} more)"
    return shown


def _check_width(value: object) -> int:
    return check_int("width", value, 1, unit="columns")
