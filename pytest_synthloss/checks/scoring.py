"""Score a monitor's alerts against a curve's ground-truth events of one type.

``events=`` picks the type (:data:`EVENT_TYPES`); each gives ``(first, last)`` events,
disjoint and ascending, restricted to the run (:func:`ground_truth_events`):

==============  ==========================================================================
``events=``     ground-truth events
==============  ==========================================================================
``"spikes"``    (default) maximal runs of consecutive spike steps: spiky's steps 4 and 5
                are one event ``(4, 5)`` (``LossCurve.spike_events``)
``"nonfinite"`` maximal runs of consecutive NaN/inf/-inf steps: ``nan`` gives ``(12, 12)``
``"divergence"`` one event from the onset to the run's last step, ``(onset, last_step)``:
                ``diverging`` over 20 steps gives ``(10, 20)``; latency = first alert - onset
``"plateaus"``  each plateau window cut to the run: ``plateau`` gives ``(6, 12)``
==============  ==========================================================================

So "my NaN guard fired at the first non-finite step" is
``assert_alerts_match([12], make_curve(20, "nan"), events="nonfinite")``.

Definitions (all steps are the run's step numbers; "event steps" are the steps inside
the events):

* **event**: as in the table above.
* **window** of event ``(s, e)``: steps ``s .. e + tolerance``, cut short before the next
  event's first step and at the run's last step, so windows never overlap.
* an alert at step ``a`` **hits** the event whose window holds ``a``.
* **alert group**: a maximal run of consecutive alert steps (a monitor that stays raised for
  three steps raised one alarm).
* **event recall** = events hit / events; **event precision** = alert groups with at least
  one hitting step / alert groups (ADTK-style event metrics).
* **latency** of a detected event = its first hitting alert step - ``s`` (0 = on time).
* **missed events**: events no alert hit. **false alarms**: alert groups that hit no event.
  **late detections**: detected events whose latency exceeds ``max_latency`` (if given).
* **point metrics** count steps, strictly, without tolerance: a true positive is an alert
  step that is an event step; a false positive any other alert step; a false negative an
  event step without an alert (for ``"divergence"`` every step from the onset on is an
  event step, so a guard that alerts once has a low point recall: read event metrics).
* with nothing to find or nothing raised, the ratio has an empty denominator: recall is
  defined as 1.0 when there are no events (no event steps), precision as 1.0 when there
  are no alerts. F1 is ``2PR / (P + R)``, 0.0 when ``P + R == 0``. So a silent monitor on a
  stable run scores 1.0 everywhere; one alert on a stable run gives precision 0.0, F1 0.0.
* **NAB score** (Numenta Anomaly Benchmark, Lavin & Ahmad 2015), on the windows above: the
  first alert in a window of width ``W`` at ``a`` has relative position
  ``y = -(end - a + 1) / W`` and scores ``tp_weight * sigma(y) / sigma(-1)`` with
  ``sigma(y) = 2 / (1 + exp(5y)) - 1``, so the earliest detection scores exactly
  ``tp_weight`` and later ones less; further alerts in the window score nothing. Each
  missed window costs ``fn_weight``. Each alert step outside every window (NAB scores
  points) costs ``fp_weight * sigma(y)`` with ``y = (a - previous window end) /
  max(previous W - 1, 1)``, or ``fp_weight`` in full when no window precedes it or
  ``y >= 3``. ``nab_score`` normalises the raw sum as NAB does: 100 for a perfect
  detector, 0 for one that never fires (``None`` when the run has no event); it can go
  negative. Weights come from NAB's profiles (``NAB_PROFILES``); no probationary period.

Point-adjusted F1 is deliberately not offered: it flatters random detectors.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import MAX_STEP, check_int, step_array

__all__ = [
    "EVENT_TYPES",
    "NAB_PROFILES",
    "AlertScore",
    "ground_truth_events",
    "score_alerts",
]

#: The event types ``events=`` accepts; ``"spikes"`` is the default.
EVENT_TYPES = ("spikes", "nonfinite", "divergence", "plateaus")

#: NAB's scoring profiles: ``(tp_weight, fp_weight, fn_weight)``.
NAB_PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_fp": (1.0, 0.22, 1.0),
    "reward_low_fn": (1.0, 0.11, 2.0),
}

Span = tuple[int, int]


@dataclass(frozen=True)
class AlertScore:
    """How a monitor's alerts compare with a curve's events of one type (see the module docs)."""

    profile: str
    start_step: int
    last_step: int
    tolerance: int
    max_latency: int | None
    #: Ground-truth events, ``(first, last)`` steps.
    events: tuple[Span, ...]
    #: Alert steps, sorted, without duplicates.
    alert_steps: tuple[int, ...]
    #: Runs of consecutive alert steps, ``(first, last)``.
    alert_groups: tuple[Span, ...]
    #: Per event, in ``events`` order: first hitting alert minus event start, or ``None``.
    latencies: tuple[int | None, ...]
    detected_events: tuple[Span, ...]
    missed_events: tuple[Span, ...]
    false_alarms: tuple[Span, ...]
    late_detections: tuple[Span, ...]
    event_precision: float
    event_recall: float
    event_f1: float
    point_true_positives: int
    point_false_positives: int
    point_false_negatives: int
    point_precision: float
    point_recall: float
    point_f1: float
    nab_profile: str
    nab_raw: float
    nab_score: float | None
    #: Which events were scored (one of :data:`EVENT_TYPES`).
    event_type: str = "spikes"

    @property
    def ok(self) -> bool:
        """True when no event was missed, nothing was a false alarm and nothing was late."""
        return not (self.missed_events or self.false_alarms or self.late_detections)

    @property
    def latency_by_event(self) -> dict[Span, int | None]:
        """``{event: latency}``, ``None`` for missed events."""
        return dict(zip(self.events, self.latencies, strict=True))

    @property
    def mean_latency(self) -> float | None:
        """Mean latency over detected events; ``None`` if none was detected."""
        found = [lat for lat in self.latencies if lat is not None]
        return sum(found) / len(found) if found else None


def ground_truth_events(curve: LossCurve, events: str = "spikes") -> tuple[Span, ...]:
    """The curve's ground-truth events of type ``events`` as ``(first, last)`` steps.

    ``"spikes"``: ``curve.spike_events``; ``"nonfinite"``: runs of consecutive non-finite
    steps; ``"divergence"``: ``((divergence_step, last_step),)`` or ``()``;
    ``"plateaus"``: ``curve.plateau_windows``.
    """
    _check_curve(curve)
    kind = _check_events(events)
    if kind == "spikes":
        return curve.spike_events
    if kind == "nonfinite":
        return _runs(curve.nonfinite_steps)
    if kind == "divergence":
        onset = curve.divergence_step
        return () if onset is None else ((onset, curve.last_step),)
    return curve.plateau_windows


def _check_curve(curve: object) -> None:
    if not isinstance(curve, LossCurve):
        raise SynthLossError(
            f"curve must be a LossCurve (see make_curve), got {curve!r} ({type(curve).__name__})"
        )


def _check_events(events: object) -> str:
    if not isinstance(events, str) or events not in EVENT_TYPES:
        raise SynthLossError(
            f"unknown event type {events!r} for events=; known: {', '.join(EVENT_TYPES)}"
        )
    return events


def _runs(steps: Sequence[int]) -> tuple[Span, ...]:
    """Maximal runs of consecutive steps as ``(first, last)`` pairs."""
    spans: list[Span] = []
    for step in steps:
        if spans and spans[-1][1] == step - 1:
            spans[-1] = (spans[-1][0], step)
        else:
            spans.append((step, step))
    return tuple(spans)


def score_alerts(
    alert_steps: Iterable[int],
    curve: LossCurve,
    *,
    events: str = "spikes",
    tolerance: int = 0,
    max_latency: int | None = None,
    nab_profile: str = "standard",
) -> AlertScore:
    """Score ``alert_steps`` (the steps at which a monitor alerted) against ``curve``.

    ``events`` picks the ground truth: ``"spikes"`` (default), ``"nonfinite"``,
    ``"divergence"`` or ``"plateaus"`` (see :func:`ground_truth_events`). ``tolerance``
    (steps, 0 to ``MAX_STEP`` = 2**63 - 1) extends each event's window past its last
    step, for monitors that may only notice an event afterwards. ``max_latency`` (steps,
    >= 0 or ``None``) marks detections that came later than that as late.
    ``nab_profile`` picks the NAB weights. Alert steps must be integers within the run;
    order and duplicates do not matter. Definitions are in the module documentation.
    """
    truth = ground_truth_events(curve, events)
    tol = _check_count(tolerance, "tolerance", limit=MAX_STEP)
    late_after = None if max_latency is None else _check_count(max_latency, "max_latency")
    if nab_profile not in NAB_PROFILES:
        raise SynthLossError(
            f"unknown nab_profile {nab_profile!r}; known: {', '.join(NAB_PROFILES)}"
        )
    alerts = _alert_array(alert_steps, curve)

    starts = np.fromiter((s for s, _ in truth), dtype=np.int64, count=len(truth))
    ends = np.fromiter((e for _, e in truth), dtype=np.int64, count=len(truth))
    limits = np.append(starts[1:] - 1, curve.last_step)
    win_end = ends + np.minimum(limits - ends, tol)  # never past limits, never overflows

    # Which event window (if any) holds each alert.
    owner = np.searchsorted(starts, alerts, side="right") - 1
    has_owner = owner >= 0
    owner_safe = np.where(has_owner, owner, 0)
    hit = has_owner & (alerts <= win_end[owner_safe]) if truth else np.zeros_like(has_owner)

    hit_events, first_index = np.unique(owner[hit], return_index=True)
    first_alert = alerts[hit][first_index]
    latency_arr = np.full(len(truth), -1, dtype=np.int64)
    latency_arr[hit_events] = first_alert - starts[hit_events]
    latencies = tuple(None if v < 0 else v for v in latency_arr.tolist())

    groups, group_hit = _groups(alerts, hit)

    detected = tuple(ev for ev, lat in zip(truth, latencies, strict=True) if lat is not None)
    missed = tuple(ev for ev, lat in zip(truth, latencies, strict=True) if lat is None)
    false_alarms = tuple(g for g, h in zip(groups, group_hit, strict=True) if not h)
    late = (
        ()
        if late_after is None
        else tuple(
            ev
            for ev, lat in zip(truth, latencies, strict=True)
            if lat is not None and lat > late_after
        )
    )
    event_precision = _ratio(sum(group_hit), len(groups))
    event_recall = _ratio(len(detected), len(truth))

    # Events are disjoint: an alert is an event step when it lies inside the event before it.
    in_event = has_owner & (alerts <= ends[owner_safe]) if truth else np.zeros_like(has_owner)
    tp = int(in_event.sum())
    fp = int(alerts.size) - tp
    fn = sum(last - first + 1 for first, last in truth) - tp
    point_precision = _ratio(tp, tp + fp)
    point_recall = _ratio(tp, tp + fn)

    nab_raw, nab_score = _nab(
        alerts, hit, owner, starts, win_end, first_alert, hit_events, NAB_PROFILES[nab_profile]
    )
    return AlertScore(
        profile=curve.profile.name,
        start_step=curve.start_step,
        last_step=curve.last_step,
        tolerance=tol,
        max_latency=late_after,
        events=truth,
        alert_steps=tuple(alerts.tolist()),
        alert_groups=groups,
        latencies=latencies,
        detected_events=detected,
        missed_events=missed,
        false_alarms=false_alarms,
        late_detections=late,
        event_precision=event_precision,
        event_recall=event_recall,
        event_f1=_f1(event_precision, event_recall),
        point_true_positives=tp,
        point_false_positives=fp,
        point_false_negatives=fn,
        point_precision=point_precision,
        point_recall=point_recall,
        point_f1=_f1(point_precision, point_recall),
        nab_profile=nab_profile,
        nab_raw=nab_raw,
        nab_score=nab_score,
        event_type=events,
    )


def _check_count(value: object, what: str, limit: int | None = None) -> int:
    return check_int(what, value, 0, limit, unit="steps")


def _alert_array(alert_steps: Iterable[int], curve: LossCurve) -> np.ndarray:
    """Validate alert steps: integers within the run. Returns them sorted and unique."""
    first, last = curve.start_step, curve.last_step
    run = f"the run's steps {first}..{last}"
    if isinstance(alert_steps, np.ndarray):
        arr = step_array("alert steps", alert_steps).ravel()  # the first bad one, named
        outside = np.flatnonzero((arr < first) | (arr > last))
        if outside.size:
            index = int(outside[0])
            raise SynthLossError(f"alert step {int(arr[index])} (index {index}) is outside {run}")
        return np.unique(arr.astype(np.int64))
    if isinstance(alert_steps, str | bytes) or not isinstance(alert_steps, Iterable):
        raise SynthLossError(
            "alert_steps must be an iterable of integer step numbers, "
            f"got {alert_steps!r} ({type(alert_steps).__name__})"
        )
    values: list[int] = []
    for index, item in enumerate(alert_steps):
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise SynthLossError(
                f"alert steps must be integers within {run}, got {item!r} "
                f"({type(item).__name__}) at index {index}"
            )
        step = int(item)
        if not first <= step <= last:
            raise SynthLossError(f"alert step {step} (index {index}) is outside {run}")
        values.append(step)
    return np.unique(np.array(values, dtype=np.int64))


def _groups(alerts: np.ndarray, hit: np.ndarray) -> tuple[tuple[Span, ...], list[bool]]:
    if alerts.size == 0:
        return (), []
    breaks = np.flatnonzero(np.diff(alerts) != 1) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks - 1, [alerts.size - 1]))
    group_hit = np.logical_or.reduceat(hit, first)
    spans = tuple(zip(alerts[first].tolist(), alerts[last].tolist(), strict=True))
    return spans, group_hit.tolist()


def _ratio(part: int, whole: int) -> float:
    return 1.0 if whole == 0 else part / whole


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total


def _scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's ``2 * sigmoid(-5y) - 1``, and -1 from ``y >= 3`` on."""
    with np.errstate(over="ignore"):
        values = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, values)


def _nab(
    alerts: np.ndarray,
    hit: np.ndarray,
    owner: np.ndarray,
    starts: np.ndarray,
    win_end: np.ndarray,
    first_alert: np.ndarray,
    hit_events: np.ndarray,
    weights: tuple[float, float, float],
) -> tuple[float, float | None]:
    tp_weight, fp_weight, fn_weight = weights
    widths = win_end - starts + 1
    max_tp = 2.0 / (1.0 + math.exp(-5.0)) - 1.0
    position = -(win_end[hit_events] - first_alert + 1) / widths[hit_events]
    tp_score = float(np.sum(_scaled_sigmoid(position))) * tp_weight / max_tp
    fn_score = -fn_weight * (len(starts) - hit_events.size)
    fp_alerts = alerts[~hit]
    prev = owner[~hit]
    after_window = prev >= 0
    prev_safe = np.where(after_window, prev, 0)
    fp_position = np.full(fp_alerts.size, 3.0)
    if starts.size:
        past = (fp_alerts - win_end[prev_safe]) / np.maximum(widths[prev_safe] - 1, 1)
        fp_position = np.where(after_window, past, 3.0)
    fp_score = float(np.sum(_scaled_sigmoid(fp_position))) * fp_weight
    raw = tp_score + fn_score + fp_score
    if starts.size == 0:
        return raw, None
    perfect = tp_weight * starts.size
    null = -fn_weight * starts.size
    return raw, 100.0 * (raw - null) / (perfect - null)
