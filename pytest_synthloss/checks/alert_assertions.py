"""``assert_alerts_match``: a monitor's alerts against a curve's ground truth, as an assertion.

It scores the alerts with :func:`~pytest_synthloss.checks.scoring.score_alerts` and fails
with a message listing the missed events, the false alarms (with the loss at their first
step) and the late detections, then the scores and a sparkline with the alert steps marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_synthloss.checks.scoring import AlertScore, Span, score_alerts
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import LossAssertionError
from pytest_synthloss.core.validation import check_int

__all__ = ["assert_alerts_match"]

#: How many items a failure message lists before it summarises the rest.
_LIST_LIMIT = 10


def assert_alerts_match(
    alert_steps: Iterable[int],
    curve: LossCurve,
    *,
    events: str = "spikes",
    tolerance: int = 0,
    max_latency: int | None = None,
    width: int = 60,
) -> AlertScore:
    """Fail unless every event is detected, no alert is a false alarm and none is late.

    ``events`` picks the ground truth as for :func:`score_alerts`. Returns the
    :class:`AlertScore` when the alerts match; otherwise raises
    :class:`~pytest_synthloss.LossAssertionError` (an ``AssertionError``) listing missed
    events, false alarms (with the loss at their first step) and late detections, then
    the scores and a sparkline of the loss (``width`` columns at most, an integer >= 1)
    with ``▲`` under the alert steps.
    """
    __tracebackhide__ = True
    columns = _check_width(width)
    score = score_alerts(
        alert_steps, curve, events=events, tolerance=tolerance, max_latency=max_latency
    )
    if not score.ok:
        raise LossAssertionError(_failure_message(score, curve, columns))
    return score


def _failure_message(score: AlertScore, curve: LossCurve, width: int) -> str:
    header = f"profile {score.profile!r}, "
    if score.event_type != "spikes":
        header += f"events {score.event_type!r}, "
    header += f"steps {score.start_step}..{score.last_step}, "
    header += f"tolerance {score.tolerance}"
    if score.max_latency is not None:
        header += f", max_latency {score.max_latency}"
    missed = f"missed events: {len(score.missed_events)} / {len(score.events)}"
    if score.missed_events:
        missed += " — " + _listing([_span(ev) for ev in score.missed_events])
    false = f"false alarms: {len(score.false_alarms)} / {len(score.alert_groups)} alert groups"
    if score.false_alarms:
        false += " — " + _listing(
            [f"{_span(g)} (loss {curve.loss_at(g[0]):.4g})" for g in score.false_alarms]
        )
    late = f"late detections: {len(score.late_detections)}"
    if score.late_detections:
        by_event = score.latency_by_event
        late += " — " + _listing(
            [
                f"{_span(ev)} first alerted at step {ev[0] + lat} (latency {lat} > "
                f"{score.max_latency})"
                for ev in score.late_detections
                if (lat := by_event[ev]) is not None
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


def _span(span: Span) -> str:
    first, last = span
    return f"step {first}" if first == last else f"steps {first}-{last}"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    if len(items) > _LIST_LIMIT:
        shown += f", … (+{len(items) - _LIST_LIMIT} more)"
    return shown


def _check_width(value: object) -> int:
    return check_int("width", value, 1, unit="columns")
