"""``score_alerts`` against a per-alert reference written from the module's definitions.

The scorer is vectorised (sorted int64 arrays, searchsorted, run starts); the reference
below walks every alert and every event in plain Python, the way the definitions in
:mod:`pytest_synthloss.checks.scoring` read, and both must agree on every field.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss import score_alerts
from pytest_synthloss.core.events import Event

STEPS = 120
KINDS = ("spike", "divergence", "plateau", "incident")


def runs(steps: list[int]) -> tuple[tuple[int, int], ...]:
    """Maximal runs of consecutive steps of a sorted list."""
    out: list[list[int]] = []
    for step in steps:
        if out and step == out[-1][1] + 1:
            out[-1][1] = step
        else:
            out.append([step, step])
    return tuple((first, last) for first, last in out)


def reference(
    alerts: list[int],
    events: list[Event],
    last_step: int,
    expect: tuple[str, ...],
    tolerate: tuple[str, ...],
    tol: int,
) -> dict[str, object]:
    """Every definition of the module docs, one alert and one event at a time."""
    steps = sorted(set(alerts))
    truth = sorted((e for e in events if e.kind in expect), key=lambda e: e.first)
    allowed = [e for e in events if e.kind in tolerate]
    windows = []
    for event in truth:
        later = [e.first for e in truth if e.first > event.first]
        limit = (min(later) - 1) if later else last_step
        windows.append((event.first, event.last + min(max(limit - event.last, 0), tol)))
    hit = [s for s in steps if any(a <= s <= b for a, b in windows)]
    tolerated = [
        s
        for s in steps
        if s not in hit and any(e.first <= s <= min(e.last + tol, last_step) for e in allowed)
    ]
    false = [s for s in steps if s not in hit and s not in tolerated]
    latencies: list[int | None] = []
    for a, b in windows:
        inside = [s for s in steps if a <= s <= b]
        latencies.append(inside[0] - a if inside else None)
    covered = {s for e in truth for s in range(e.first, e.last + 1)}
    tp = sum(1 for s in steps if s in covered)
    groups = runs(steps)
    counted = [g for g in groups if any(s in hit or s in false for s in range(g[0], g[1] + 1))]
    with_hit = [g for g in counted if any(s in hit for s in range(g[0], g[1] + 1))]
    return {
        "events": tuple(truth),
        "alert_steps": tuple(steps),
        "alert_groups": groups,
        "tolerated_alerts": tuple(tolerated),
        "false_alarms": runs(false),
        "latencies": tuple(latencies),
        "missed_events": tuple(e for e, lat in zip(truth, latencies, strict=True) if lat is None),
        "point_true_positives": tp,
        "point_false_positives": len(false) + len(hit) - tp,
        "point_false_negatives": len(covered) - tp,
        "event_precision": len(with_hit) / len(counted) if counted else 1.0,
    }


@st.composite
def labelled_runs(draw: st.DrawFn) -> list[Event]:
    """Events of several kinds: disjoint within a kind, overlapping across kinds.

    A plateau never shares a step with a spike or a divergence (recorded_curve refuses it).
    """
    events: list[Event] = []
    for kind in KINDS:
        cuts = sorted(draw(st.sets(st.integers(1, STEPS), max_size=8)))
        for first, last in zip(cuts[::2], cuts[1::2], strict=False):
            clash = kind == "plateau" and any(
                e.kind in ("spike", "divergence") and e.first <= last and first <= e.last
                for e in events
            )
            if not clash:
                events.append(Event(kind, first, last, 1.0, ()))
    return events


@settings(max_examples=60, deadline=None)
@given(
    events=labelled_runs(),
    alerts=st.lists(st.integers(1, STEPS), max_size=60),
    expect=st.sampled_from([("spike",), ("spike", "incident"), ("spike", "plateau")]),
    tol=st.integers(0, 6),
    as_array=st.booleans(),
)
def test_score_matches_the_per_alert_reference(
    events: list[Event],
    alerts: list[int],
    expect: tuple[str, ...],
    tol: int,
    as_array: bool,
) -> None:
    tolerate = tuple(k for k in ("divergence", "incident") if k not in expect)
    given_alerts = np.array(alerts, dtype=np.int64) if as_array else alerts
    score = score_alerts(given_alerts, np.ones(STEPS), events=events, expect=expect, tolerance=tol)
    expected = reference(alerts, events, STEPS, expect, tolerate, tol)
    for field, value in expected.items():
        assert getattr(score, field) == value, field
    assert score.ok == (not expected["missed_events"] and not expected["false_alarms"])


def test_a_large_score_matches_the_reference_and_reads_as_tuples() -> None:
    rng = np.random.default_rng(17)
    steps = 20_000
    cuts = np.unique(rng.integers(1, steps + 1, 400))
    events = [
        Event(("spike", "incident", "plateau", "divergence")[i % 4], int(a), int(b), 1.0, ())
        for i, (a, b) in enumerate(zip(cuts[::2], cuts[1::2], strict=False))
    ]
    # per kind the spans are disjoint: every kind takes every fourth of the sorted spans
    alerts = rng.integers(1, steps + 1, 3000)
    score = score_alerts(alerts, np.ones(steps), events=events, tolerance=3)
    expected = reference(
        alerts.tolist(), events, steps, ("spike", "nonfinite"), ("divergence", "incident"), 3
    )
    for field, value in expected.items():
        assert getattr(score, field) == value, field
    assert type(score.alert_steps) is tuple
    assert type(score.alert_steps[0]) is int
    assert type(score.alert_groups[0]) is tuple
    assert type(score.alert_groups[0][0]) is int
    again = score_alerts(alerts[::-1].tolist(), np.ones(steps), events=events, tolerance=3)
    assert again == score
    assert hash(again) == hash(score)
    assert repr(again) == repr(score)
    copied = pickle.loads(pickle.dumps(again))
    assert copied == score
    assert dataclasses.replace(again, profile="x").false_alarms == expected["false_alarms"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.alert_steps = ()  # type: ignore[misc]
