"""Hypothesis strategies: generated profiles and curves carry consistent ground truth."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis", reason="needs the hypothesis extra")

from hypothesis import find, given, settings

from pytest_synthloss import LossCurve, Profile, SynthLossError, find_spikes
from pytest_synthloss.exports.strategies import curves, profiles

FAST = settings(max_examples=100, deadline=None, database=None)


@FAST
@given(curves(max_steps=40, spike_factor=(3.0, 5.0)))
def test_curves_hold_their_spikes_within_the_run(curve: LossCurve) -> None:
    profile = curve.profile
    assert (profile.start, profile.decay, profile.floor) == (2.25, 0.07, 1.05)
    assert curve.spike_steps == tuple(profile.spikes)
    assert all(curve.start_step <= s <= curve.last_step for s in profile.spikes)
    for step, loss in profile.spikes.items():
        assert 3.0 * profile.baseline(step) <= loss <= 5.0 * profile.baseline(step)
        assert curve.loss_at(step) == loss
    flat = [s for first, last in curve.spike_events for s in range(first, last + 1)]
    assert tuple(flat) == curve.spike_steps


@FAST
@given(profiles(min_step=5, max_step=9, min_events=1, max_event_length=1))
def test_profiles_respect_the_step_range(profile: Profile) -> None:
    assert profile.name == "generated"
    assert 1 <= len(profile.spikes) <= 4
    assert all(5 <= s <= 9 for s in profile.spikes)


@FAST
@given(curves(min_steps=5, max_steps=5, start_step=1000, min_events=2, max_events=2))
def test_resumed_curves(curve: LossCurve) -> None:
    assert (curve.start_step, curve.last_step) == (1000, 1004)
    assert 1 <= len(curve.spike_events) <= 2


def test_spikes_can_be_anywhere_the_rule_sees_them() -> None:
    quick = settings(database=None, max_examples=2000)
    # A run from step 1 has no reference at its first step: no rule flags it, so no spike
    # is drawn there. A resumed run has its earlier steps as history: its first step can be.
    first_and_last = find(
        curves(max_steps=30, start_step=20),
        lambda c: (
            bool(c.spike_steps)
            and c.spike_steps[0] == c.start_step
            and c.spike_steps[-1] == c.last_step
            and len(c) > 2
        ),
        settings=quick,
    )
    assert first_and_last.spike_steps[0] == 20
    strategy = curves(max_steps=30)
    long_event = find(
        strategy,
        lambda c: any(last - first >= 2 for first, last in c.spike_events),
        settings=quick,
    )
    assert max(last - first for first, last in long_event.spike_events) >= 2
    calm = find(strategy, lambda c: not c.spike_steps, settings=quick)
    assert calm.spike_events == ()
    at_the_end = find(strategy, lambda c: c.last_step in c.spike_steps, settings=quick)
    assert at_the_end.spike_steps[-1] == at_the_end.last_step


@FAST
@given(curves(max_steps=40))
def test_generated_spikes_are_exactly_what_the_default_rule_flags(curve: LossCurve) -> None:
    assert find_spikes(curve).spike_steps == curve.spike_steps
    assert curve.start_step not in curve.spike_steps  # no reference at a run's first step


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (profiles, {"min_step": 0}, "min_step must be an integer >= 1, got 0"),
        (profiles, {"min_step": 9, "max_step": 5}, "min_step (9) must be <= max_step (5)"),
        (profiles, {"min_events": 3, "max_events": 2}, "min_events (3) must be <= max_events (2)"),
        (profiles, {"max_event_length": 0}, "max_event_length must be an integer >= 1, got 0"),
        (
            profiles,
            {"spike_factor": (5.0, 2.0)},
            "spike_factor must be finite with 0 < low <= high, got (5.0, 2.0)",
        ),
        (
            profiles,
            {"spike_factor": 3.0},
            "spike_factor must be a pair (low, high) of numbers, got 3.0",
        ),
        (
            profiles,
            {"floor": 3.0},
            "profile 'generated': floor 3.0 is above start 2.25; the floor must be <= start",
        ),
        (curves, {"min_steps": 5, "max_steps": 2}, "min_steps (5) must be <= max_steps (2)"),
        (curves, {"start_step": True}, "start_step must be an integer >= 1, got True (bool)"),
        (curves, {"max_events": -1}, "max_events must be an integer >= 0, got -1"),
    ],
)
def test_bad_arguments_fail_when_the_strategy_is_built(
    factory: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        factory(**kwargs)  # type: ignore[operator]
    assert str(info.value) == message
