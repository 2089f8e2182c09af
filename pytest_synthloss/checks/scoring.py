"""Score a monitor's alerts against a curve's ground-truth events: the one oracle contract.

``score_alerts(alerts, curve, expect=..., tolerate=...)`` and
:func:`~pytest_synthloss.checks.alert_assertions.assert_alerts_match` read the run's
events (``curve.events``, see :class:`~pytest_synthloss.Event`) and sort every event kind
into one of three roles:

* ``expect`` (default ``("spike", "nonfinite")``): the kinds the monitor must catch. Each
  such event must be hit by an alert within its window (and within ``max_latency``).
* ``tolerate`` (default ``("divergence", "incident")``): the kinds inside which alerts are
  neither required nor false (a spike rule keeps firing on a diverging run: that is fine;
  a labelled incident is worth an alert). The default gives way to ``expect``:
  ``expect=("spike", "nonfinite", "incident")`` requires the incidents.
* every other kind (``"plateau"`` by default) is treated like normal steps: an alert
  inside it is a false alarm.

A kind may not be in both (an explicit ``tolerate`` sharing a kind with ``expect`` is an
error); an unknown kind is an error listing the known ones
(:data:`~pytest_synthloss.core.events.EVENT_KINDS`). Alert steps are plain step numbers, as
many kinds of alert as the monitor raises, in any order, duplicates ignored.

Definitions (steps are the run's step numbers):

* **window** of an expected event ``first..last``: steps ``first .. last + tolerance``,
  cut before the next expected event that starts later and at the run's last step (never
  shorter than the event itself).
* an alert step **hits** every expected event whose window holds it; it is **tolerated**
  when it lies in a tolerated event or up to ``tolerance`` steps after one; otherwise it
  is **false**.
* **alert group**: a maximal run of consecutive alert steps (a monitor that stays raised
  for three steps raised one alarm). **False alarms**: maximal runs of consecutive false
  alert steps.
* **event recall** = expected events hit / expected events; **event precision** = alert
  groups with a hitting step / alert groups with a hitting or a false step (groups wholly
  inside tolerated events do not count).
* **latency** of a detected event = its first hitting alert step - ``first`` (0 = on
  time). **Missed events**: expected events no alert hit. **Late detections**: detected
  events whose latency exceeds ``max_latency`` (if given).
* **point metrics** count steps, strictly, without tolerance: a true positive is an alert
  step inside an expected event; a false positive an alert step that is neither that nor
  tolerated; a false negative an expected event step without an alert (every step of a
  divergence counts when it is expected: read the event metrics for a guard that alerts
  once).
* with nothing to find or nothing raised, a ratio has an empty denominator: recall is
  1.0 when there are no expected events, precision 1.0 when there are no (counted)
  alerts. F1 is ``2PR / (P + R)``, 0.0 when ``P + R == 0``.
* **NAB score** (Numenta Anomaly Benchmark, Lavin & Ahmad 2015), on the windows above: the
  first alert in a window of width ``W`` at ``a`` has relative position
  ``y = -(end - a + 1) / W`` and scores ``tp_weight * sigma(y) / sigma(-1)`` with
  ``sigma(y) = 2 / (1 + exp(5y)) - 1``, so the earliest detection scores exactly
  ``tp_weight``. Each missed window costs ``fn_weight``. Each false alert step costs
  ``fp_weight * sigma(y)`` with ``y = (a - previous window end) / max(previous W - 1, 1)``,
  or ``fp_weight`` in full when no window ends before it or ``y >= 3``. ``nab_score``
  normalises the raw sum as NAB does: 100 for a perfect detector, 0 for one that never
  fires (``None`` when the run has no expected event); it can go negative. Weights come
  from NAB's profiles (``NAB_PROFILES``); no probationary period.

Point-adjusted F1 is deliberately not offered: it flatters random detectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.checks.nab import NAB_PROFILES, nab
from pytest_synthloss.checks.scorecard import record
from pytest_synthloss.checks.scoring_inputs import ScoredRun, alert_array, scored_curve
from pytest_synthloss.checks.step_fields import held, install, raw_steps
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import EVENT_KINDS, Event
from pytest_synthloss.core.text import did_you_mean
from pytest_synthloss.core.validation import MAX_STEP, check_int

__all__ = [
    "DEFAULT_EXPECT",
    "DEFAULT_TOLERATE",
    "NAB_PROFILES",
    "AlertScore",
    "check_kinds",
    "check_roles",
    "score_alerts",
]

#: The kinds a monitor must catch unless told otherwise.
DEFAULT_EXPECT: tuple[str, ...] = ("spike", "nonfinite")
#: The kinds inside which alerts are neither required nor false unless told otherwise: a
#: spike rule keeps firing on a diverging run, and an alert during a labelled incident is
#: no false alarm (put ``"incident"`` in ``expect`` to require one).
DEFAULT_TOLERATE: tuple[str, ...] = ("divergence", "incident")

Span = tuple[int, int]


@dataclass(frozen=True)
class AlertScore:
    """How a monitor's alerts compare with a curve's events (see the module docs)."""

    profile: str
    start_step: int
    last_step: int
    tolerance: int
    max_latency: int | None
    #: The kinds that had to be caught, and the kinds that were tolerated.
    expect: tuple[str, ...]
    tolerate: tuple[str, ...]
    #: The expected events (kinds in ``expect``), sorted by first step.
    events: tuple[Event, ...]
    #: The tolerated events (kinds in ``tolerate``).
    tolerated_events: tuple[Event, ...]
    #: Alert steps, sorted, without duplicates.
    alert_steps: tuple[int, ...]
    #: Runs of consecutive alert steps, ``(first, last)``.
    alert_groups: tuple[Span, ...]
    #: Alert steps that hit no expected event but lie in a tolerated one.
    tolerated_alerts: tuple[int, ...]
    #: Per expected event, in ``events`` order: first hitting alert minus its first step.
    latencies: tuple[int | None, ...]
    detected_events: tuple[Event, ...]
    missed_events: tuple[Event, ...]
    #: Runs of consecutive false alert steps, ``(first, last)``.
    false_alarms: tuple[Span, ...]
    late_detections: tuple[Event, ...]
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

    @property
    def ok(self) -> bool:
        """True when no event was missed, nothing was a false alarm and nothing was late."""
        false_alarms = raw_steps(self, "false_alarms", spans=True).shape[1]
        return not (self.missed_events or false_alarms or self.late_detections)

    @property
    def latency_by_event(self) -> dict[Event, int | None]:
        """``{event: latency}``, ``None`` for missed events."""
        return dict(zip(self.events, self.latencies, strict=True))

    @property
    def mean_latency(self) -> float | None:
        """Mean latency over detected events; ``None`` if none was detected."""
        found = [lat for lat in self.latencies if lat is not None]
        return sum(found) / len(found) if found else None


# Up to one item per alert: held as arrays, built as tuples when read (see step_fields).
install(AlertScore, ("alert_steps", "alert_groups", "tolerated_alerts", "false_alarms"))


def check_kinds(value: object, what: str, kinds: tuple[str, ...] = EVENT_KINDS) -> tuple[str, ...]:
    """``value`` (a kind or a sequence of ``kinds``) as a tuple of known kinds, or an error."""
    known = ", ".join(kinds)
    if isinstance(value, str):
        items: tuple[object, ...] = (value,)
    elif isinstance(value, bytes) or not isinstance(value, Iterable):
        raise SynthLossError(
            f"{what}= must be an event kind or a sequence of kinds ({known}), "
            f"got {value!r} ({type(value).__name__})"
        )
    else:
        items = tuple(value)
    checked: list[str] = []
    for index, kind in enumerate(items):
        if not isinstance(kind, str) or kind not in kinds:
            hint = did_you_mean(kind, kinds)
            raise SynthLossError(
                f"unknown event kind {kind!r} in {what}= (index {index}); "
                f"known kinds: {known}{hint}"
            )
        if kind in checked:
            raise SynthLossError(f"event kind {kind!r} is listed twice in {what}=")
        checked.append(kind)
    return tuple(checked)


def check_roles(
    expect: object, tolerate: object, kinds: tuple[str, ...] = EVENT_KINDS
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``expect`` and ``tolerate`` as tuples of known ``kinds``, no kind in both.

    The default ``tolerate`` (:data:`DEFAULT_TOLERATE`, passed as is) gives way to
    ``expect``: ``expect=("spike", "incident")`` requires the incidents the default
    tolerates. A ``tolerate`` given explicitly must not share a kind with ``expect``.
    """
    expected = check_kinds(expect, "expect", kinds)
    if tolerate is DEFAULT_TOLERATE:
        return expected, tuple(kind for kind in DEFAULT_TOLERATE if kind not in expected)
    tolerated = check_kinds(tolerate, "tolerate", kinds)
    both = [kind for kind in expected if kind in tolerated]
    if both:
        raise SynthLossError(
            f"event kind {both[0]!r} is in both expect= and tolerate=; a kind is either "
            "required (expect) or allowed (tolerate), not both"
        )
    return expected, tolerated


def _members(alerts: np.ndarray, firsts: np.ndarray, lasts: np.ndarray) -> np.ndarray:
    """For each (sorted) alert step, whether it lies in any span ``firsts[i]..lasts[i]``."""
    if not firsts.size or not alerts.size:
        return np.zeros(alerts.size, dtype=bool)
    lo = np.searchsorted(alerts, firsts, side="left")
    hi = np.searchsorted(alerts, lasts, side="right")
    delta = np.zeros(alerts.size + 1, dtype=np.int64)
    np.add.at(delta, lo, 1)
    np.add.at(delta, hi, -1)
    return np.cumsum(delta[:-1]) > 0


def _run_starts(steps: np.ndarray) -> np.ndarray:
    """Indices where maximal runs of consecutive (sorted, unique) steps begin."""
    if not steps.size:
        return np.empty(0, dtype=np.intp)
    breaks = np.flatnonzero(steps[1:] - steps[:-1] != 1) + 1
    return np.concatenate(([0], breaks))


def _runs(steps: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Maximal runs of consecutive (sorted, unique) steps: a ``(2, k)`` array of firsts, lasts."""
    begin = _run_starts(steps) if starts is None else starts
    spans = np.empty((2, begin.size), dtype=np.int64)
    if begin.size:
        np.take(steps, begin, out=spans[0])
        np.take(steps, begin[1:] - 1, out=spans[1, :-1])
        spans[1, -1] = steps[-1]
    return spans


def _union_size(events: Sequence[Event]) -> tuple[int, np.ndarray, np.ndarray]:
    """Steps covered by the events (Python int, no overflow) and the merged spans."""
    merged: list[list[int]] = []
    for event in sorted(events, key=lambda e: e.first):
        if merged and event.first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], event.last)
        else:
            merged.append([event.first, event.last])
    size = sum(last - first + 1 for first, last in merged)
    firsts = np.array([m[0] for m in merged], dtype=np.int64)
    lasts = np.array([m[1] for m in merged], dtype=np.int64)
    return size, firsts, lasts


def score_alerts(
    alert_steps: Iterable[int],
    curve: ScoredRun,
    *,
    events: Iterable[object] | None = None,
    expect: Iterable[str] | str = DEFAULT_EXPECT,
    tolerate: Iterable[str] | str = DEFAULT_TOLERATE,
    tolerance: int = 0,
    max_latency: int | None = None,
    nab_profile: str = "standard",
    name: str | None = None,
) -> AlertScore:
    """Score ``alert_steps`` (the steps at which a monitor alerted) against ``curve``.

    ``curve`` is a :class:`LossCurve` (from a profile or recorded, see
    :func:`~pytest_synthloss.core.recorded.recorded_curve`), or plain losses (steps
    ``1..n``) or a ``(steps, losses)`` pair with ``events=``, their labelled events (``()``
    for none; NaN/inf losses are labelled ``"nonfinite"`` automatically). ``expect`` are the
    event kinds the monitor must catch, ``tolerate`` the kinds inside which alerts are
    neither required nor false (see the module documentation).
    ``tolerance`` (steps, 0 to ``MAX_STEP`` = 2**63 - 1) extends each expected event's
    window, and each tolerated event, past its last step, for monitors that notice an
    event afterwards. ``max_latency`` (steps, >= 0 or ``None``) marks detections that came
    later than that as late. ``nab_profile`` picks the NAB weights. Alert steps must be
    integers within the run (logged steps of a recorded run); order and duplicates do not
    matter. ``name`` names the
    monitor in the scorecard (:mod:`pytest_synthloss.checks.scorecard`; under pytest, the
    test's name by default).
    """
    run = scored_curve(curve, events)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise SynthLossError(f"name must be a non-empty string or None, got {name!r}")
    expected_kinds, tolerated_kinds = check_roles(expect, tolerate)
    tol = check_int("tolerance", tolerance, 0, MAX_STEP, unit="steps")
    late_after = (
        None if max_latency is None else check_int("max_latency", max_latency, 0, unit="steps")
    )
    if not isinstance(nab_profile, str) or nab_profile not in NAB_PROFILES:
        raise SynthLossError(
            f"unknown nab_profile {nab_profile!r}; known: {', '.join(NAB_PROFILES)}"
        )
    alerts = alert_array(alert_steps, run)
    truth = tuple(e for e in run.events if e.kind in expected_kinds)
    allowed = tuple(e for e in run.events if e.kind in tolerated_kinds)
    last_step = run.last_step

    starts = np.array([e.first for e in truth], dtype=np.int64)
    ends = np.array([e.last for e in truth], dtype=np.int64)
    later = np.searchsorted(starts, starts, side="right")
    limits = np.append(starts, last_step + 1)[later] - 1 if truth else starts
    win_end = ends + np.minimum(np.maximum(limits - ends, 0), tol)

    lo = np.searchsorted(alerts, starts, side="left")
    hi = np.searchsorted(alerts, win_end, side="right")
    detected_mask = hi > lo
    first_alert = alerts[np.minimum(lo, max(alerts.size - 1, 0))] if alerts.size else starts
    latencies = tuple(
        int(first_alert[i] - starts[i]) if detected_mask[i] else None for i in range(len(truth))
    )
    hit = _members(alerts, starts, win_end)
    ok_starts = np.array([e.first for e in allowed], dtype=np.int64)
    ok_lasts = np.array([e.last for e in allowed], dtype=np.int64)
    ok_ends = ok_lasts + np.minimum(last_step - ok_lasts, tol)
    tolerated = _members(alerts, ok_starts, ok_ends) & ~hit
    false = ~hit & ~tolerated

    group_starts = _run_starts(alerts)
    groups = _runs(alerts, group_starts)
    group_hit = np.logical_or.reduceat(hit, group_starts) if alerts.size else hit
    group_false = np.logical_or.reduceat(false, group_starts) if alerts.size else false
    counted = int(np.count_nonzero(group_hit | group_false))

    detected = tuple(e for e, lat in zip(truth, latencies, strict=True) if lat is not None)
    missed = tuple(e for e, lat in zip(truth, latencies, strict=True) if lat is None)
    late = tuple(
        e
        for e, lat in zip(truth, latencies, strict=True)
        if late_after is not None and lat is not None and lat > late_after
    )
    event_precision = _ratio(int(np.count_nonzero(group_hit)), counted)
    event_recall = _ratio(len(detected), len(truth))

    size, union_firsts, union_lasts = _union_size(truth)
    tp = int(np.count_nonzero(_members(alerts, union_firsts, union_lasts)))
    fp = int(np.count_nonzero(false)) + int(np.count_nonzero(hit)) - tp
    fn = size - tp
    point_precision = _ratio(tp, tp + fp)
    point_recall = _ratio(tp, tp + fn)

    nab_raw, nab_score = nab(
        alerts[false],
        starts,
        win_end,
        first_alert[detected_mask] if truth else starts,
        np.flatnonzero(detected_mask),
        NAB_PROFILES[nab_profile],
    )
    score = AlertScore(
        profile=run.profile.name,
        start_step=run.start_step,
        last_step=last_step,
        tolerance=tol,
        max_latency=late_after,
        expect=expected_kinds,
        tolerate=tolerated_kinds,
        events=truth,
        tolerated_events=allowed,
        alert_steps=held(alerts),
        alert_groups=held(groups),
        tolerated_alerts=held(alerts[tolerated]),
        latencies=latencies,
        detected_events=detected,
        missed_events=missed,
        false_alarms=held(_runs(alerts[false])),
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
    )
    return record(score, run, name)


def _ratio(part: int, whole: int) -> float:
    return 1.0 if whole == 0 else part / whole


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2 * precision * recall / total
