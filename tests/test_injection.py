"""inject(): known events put into a recorded (or synthetic) curve, with exact ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_synthloss import SynthLossError, assert_alerts_match, make_curve, score_alerts
from pytest_synthloss.core.events import Event
from pytest_synthloss.core.injection import Diverge, Injection, NaN, Plateau, Spike, Stall, inject
from pytest_synthloss.core.recorded import RecordedCurve, recorded_curve

# every 10th step logged, from step 10 to step 200
BASE = recorded_curve(
    range(10, 201, 10),
    [3.0 * 0.9**i for i in range(20)],
    [("warmup", 10, 30), ("incident", 150, 170)],
    name="base",
    source="base.jsonl",
)


def test_each_kind_changes_only_its_steps_and_adds_its_event() -> None:
    curve = inject(
        BASE,
        Spike(at=50, factor=4.0),
        NaN(at=70, last=80),
        Plateau(at=100, last=120),
        Stall(at=140, last=150),
        Diverge(at=190, rate=0.5),
    )
    before = dict(zip(BASE.steps.tolist(), BASE.losses.tolist(), strict=True))
    after = dict(zip(curve.steps.tolist(), curve.losses.tolist(), strict=True))
    assert after[50] == before[50] * 4.0
    assert math.isnan(after[70])
    assert math.isnan(after[80])
    assert after[100] == after[110] == after[120] == before[100]
    assert 140 not in after
    assert 150 not in after
    assert after[190] == before[180] * 1.5
    assert after[200] == before[180] * 1.5**11  # the rise counts steps, logged or not
    changed = {50, 70, 80, 110, 120, 140, 150, 190, 200}
    assert {s: v for s, v in after.items() if s not in changed} == {
        s: v for s, v in before.items() if s not in changed
    }
    assert curve.gaps[12:15] == ((131, 159), (161, 169), (171, 179))  # 140, 150 dropped
    assert curve.events == (
        Event("warmup", 10, 30),
        Event("spike", 50, 50, peak=before[50] * 4.0),
        Event("nonfinite", 70, 70, values=("nan",)),
        Event("nonfinite", 80, 80, values=("nan",)),
        Event("plateau", 100, 120, peak=before[100]),
        Event("stall", 140, 150),
        Event("incident", 150, 170),
        Event("divergence", 190, 200, peak=before[180] * 1.5**11),
    )
    assert isinstance(curve, RecordedCurve)
    assert (curve.name, curve.source) == ("base", "base.jsonl")
    # the original is untouched
    assert BASE.steps.size == 20
    assert BASE.events == (Event("warmup", 10, 30), Event("incident", 150, 170))


def test_a_synthetic_curve_is_injected_into_as_a_recording_of_its_values() -> None:
    curve = inject(make_curve(20, "spiky"), Spike(at=12, value=20.0))
    assert curve.spike_events == ((4, 5), (12, 12))
    assert curve.loss_at(12) == 20.0
    assert curve.source == "profile spiky"
    score = assert_alerts_match([4, 5, 12], curve)
    assert score.latencies == (0, 0)


def test_linear_divergence_with_an_end_and_a_value_spike() -> None:
    curve = inject(BASE, Diverge(at=20, rate=0.25, mode="linear", last=40))
    assert curve.losses[:5].tolist() == [3.0, 3.25, 5.75, 8.25, 3.0 * 0.9**4]
    assert curve.events[1] == Event("divergence", 20, 40, peak=8.25)


@pytest.mark.parametrize(
    ("injections", "message"),
    [
        (
            (Spike(at=55),),
            "injection 0 (Spike at=55): step 55 is not a recorded step; inject at recorded steps",
        ),
        (
            (NaN(at=190, last=210),),
            "injection 0 (NaN last=210): step 210 is outside the run (steps 10..200); inject "
            "at recorded steps",
        ),
        (
            (Spike(at=50), NaN(at=50)),
            "injection 1 (nonfinite at step 50) overlaps injection 0 (spike at step 50): a "
            "step cannot be both nonfinite and spike",
        ),
        (
            (Spike(at=40, last=60), Spike(at=60)),
            "injection 1 (spike at step 60) overlaps injection 0 (spike at steps 40-60): two "
            "spike events may not share a step",
        ),
        (
            (Plateau(at=100, last=120), Diverge(at=110)),
            "injection 1 (divergence at steps 110-200) overlaps injection 0 (plateau at steps "
            "100-120): a step cannot be both divergence and plateau",
        ),
        (
            (Stall(at=10, last=20),),
            "injection 0 (Stall at=10): a stall lies strictly inside the run, with a recorded "
            "step before and after it",
        ),
        (
            (Stall(at=100), Spike(at=100)),
            "injection 1 (Spike at=100): step 100 is not a recorded step; inject at recorded steps",
        ),
        ((), "inject() needs at least one injection: Spike, NaN, Plateau, Diverge or Stall"),
        (
            ("spike",),
            "injection 0 must be a Spike, NaN, Plateau, Diverge or Stall, got 'spike' (str)",
        ),
    ],
)
def test_bad_injections_are_clear_errors(injections: tuple[Injection, ...], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        inject(BASE, *injections)
    assert str(info.value) == message


def test_injecting_over_the_curve_s_own_events() -> None:
    nan_run = recorded_curve([1, 2, 3, 4], [2.0, math.nan, 1.5, 1.4])
    with pytest.raises(SynthLossError) as info:
        inject(nan_run, Spike(at=2))
    assert str(info.value) == (
        "injection 0 (spike at step 2) overlaps the curve's nonfinite at step 2 (nan): a step "
        "cannot be both spike and nonfinite"
    )
    with pytest.raises(SynthLossError) as info:
        inject(make_curve(20, "spiky"), Spike(at=5))
    assert str(info.value) == (
        "injection 0 (spike at step 5) overlaps the curve's spike at steps 4-5 (peak 9.7): two "
        "spike events may not share a step"
    )
    with pytest.raises(SynthLossError) as info:
        inject(nan_run, Diverge(at=3))
    assert str(info.value) == (
        "Diverge at=3: the loss it rises from is nan; a divergence rises from a finite loss > 0"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Spike(at=0), "Spike at must be an integer >= 1, got 0"),
        (lambda: Spike(at=3, factor=1.0), "Spike factor must be a finite number > 1, got 1.0"),
        (lambda: Spike(at=3, factor=0.5), "Spike factor must be a finite number > 1, got 0.5"),
        (lambda: Spike(at=3, value=-1.0), "Spike value must be a finite number >= 0, got -1.0"),
        (
            lambda: NaN(at=3, value="NaN"),
            "NaN value must be 'nan' or 'inf' or '-inf', got 'NaN'",
        ),
        (
            lambda: Plateau(at=5, last=4),
            "Plateau: last step 4 is before at=5; an injection covers at..last",
        ),
        (lambda: Diverge(at=5, rate=0), "Diverge rate must be a finite number > 0, got 0"),
        (
            lambda: Diverge(at=5, mode="quadratic"),
            "Diverge mode must be 'exponential' or 'linear', got 'quadratic'",
        ),
        (lambda: Stall(at=True), "Stall at must be an integer >= 1, got True (bool)"),
    ],
)
def test_bad_parameters_name_the_value(make: object, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        make()  # type: ignore[operator]
    assert str(info.value) == message


@st.composite
def runs_and_injections(draw: st.DrawFn) -> tuple[RecordedCurve, list[Injection]]:
    """A recorded run with gaps and finite losses > 0, and injections with a normal step
    between any two (a divergence, if any, at the last step)."""
    size = draw(st.integers(8, 40))
    jumps = draw(st.lists(st.integers(1, 3), min_size=size, max_size=size))
    steps = np.cumsum(jumps)
    losses = draw(st.lists(st.floats(0.5, 5.0), min_size=size, max_size=size))
    curve = recorded_curve(steps, losses, name="h")
    injections: list[Injection] = []
    position = 1
    while position <= size - 3:
        end = min(position + draw(st.integers(0, 2)), size - 3)
        at, last = int(steps[position]), int(steps[end])
        kind = draw(st.sampled_from(["spike", "nan", "plateau", "stall", "none"]))
        if kind == "spike":
            injections.append(Spike(at=at, last=last, factor=draw(st.floats(1.5, 20.0))))
        elif kind == "nan":
            injections.append(NaN(at=at, last=last, value=draw(st.sampled_from(["nan", "inf"]))))
        elif kind == "plateau":
            injections.append(Plateau(at=at, last=last))
        elif kind == "stall":
            injections.append(Stall(at=at, last=last))
        position = end + 2
    if draw(st.booleans()) or not injections:
        injections.append(Diverge(at=int(steps[-1]), rate=draw(st.floats(0.01, 1.0))))
    return curve, injections


def touched_by(item: Injection, curve: RecordedCurve) -> list[int]:
    """The recorded steps an injection covers."""
    if item.last is not None:
        last = item.last
    else:
        last = int(curve.steps[-1]) if isinstance(item, Diverge) else item.at
    return [int(s) for s in curve.steps if item.at <= s <= last]


def per_step(kind: str, first: int, last: int) -> list[tuple[str, int, int]]:
    """Non-finite events are derived per run of consecutive steps: compare them step by step."""
    if kind == "nonfinite":
        return [(kind, s, s) for s in range(first, last + 1)]
    return [(kind, first, last)]


@settings(max_examples=60, deadline=None)
@given(runs_and_injections())
def test_injected_events_are_found_exactly_and_nothing_else_changes(
    case: tuple[RecordedCurve, list[Injection]],
) -> None:
    curve, injections = case
    out = inject(curve, *injections)
    before = dict(zip(curve.steps.tolist(), curve.losses.tolist(), strict=True))
    after = dict(zip(out.steps.tolist(), out.losses.tolist(), strict=True))
    touched = {s for item in injections for s in touched_by(item, curve)}
    stalled = {s for item in injections if isinstance(item, Stall) for s in touched_by(item, curve)}
    # outside the injections every value is the original, bit for bit; stalls drop steps
    assert set(after) == set(before) - stalled
    assert {s: v for s, v in after.items() if s not in touched} == {
        s: v for s, v in before.items() if s not in touched
    }
    # each injection is its exact ground-truth event, and there is no other
    kinds = {Spike: "spike", NaN: "nonfinite", Plateau: "plateau", Diverge: "divergence"}
    expected: list[tuple[str, int, int]] = []
    for item in injections:
        covered = touched_by(item, curve)
        kind = kinds.get(type(item), "stall")
        if kind == "nonfinite":  # one per recorded step (gaps split the derived events)
            expected += [(kind, s, s) for s in covered]
        else:
            expected.append((kind, covered[0], covered[-1]))
    found = [piece for e in out.events for piece in per_step(e.kind, e.first, e.last)]
    assert sorted(found) == sorted(expected)
    for item in injections:
        if isinstance(item, Spike):
            assert all(after[s] == before[s] * item.factor for s in touched_by(item, curve))
        if isinstance(item, NaN):
            assert all(not math.isfinite(after[s]) for s in touched_by(item, curve))
    # and the oracle scores an alert at every injected spike and NaN step as perfect
    alerts = [s for kind, a, b in expected if kind in ("spike", "nonfinite") for s in (a, b)]
    score = score_alerts(alerts, out)
    assert score.ok
    assert score.latencies == tuple(0 for _ in score.events)
    assert len(score.events) == len([e for e in out.events if e.kind in ("spike", "nonfinite")])


def test_a_stall_may_not_swallow_an_event_and_a_changed_event_gets_its_new_peak() -> None:
    curve = recorded_curve([1, 2, 3, 5], [2.0, 1.9, 1.8, 1.7], [("spike", 3)], name="g")
    with pytest.raises(SynthLossError) as info:
        inject(curve, Stall(at=2, last=3))
    assert str(info.value) == (
        "injection 0 (stall at steps 2-3) removes every recorded step of the curve's spike at "
        "step 3 (peak 1.8); a stall may not swallow an event"
    )
    diverged = inject(curve, Diverge(at=2, rate=0.5))
    assert diverged.losses.tolist() == [2.0, 3.0, 4.5, 10.125]
    assert [e.describe() for e in diverged.events] == [
        "divergence at steps 2-5 (last loss 10.12)",
        "spike at step 3 (peak 4.5)",  # its value changed: the peak is the new one
    ]
    untouched = inject(curve, NaN(at=5))
    assert untouched.events[0] == Event("spike", 3, 3, peak=1.8)
