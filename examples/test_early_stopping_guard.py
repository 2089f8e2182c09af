"""Tests of ``EarlyStoppingGuard`` against each curve's ground truth.

Where the guard must stop follows from the ground truth of a noise-free curve: a loss
stalls (fails to beat the best so far) exactly at its spike steps, the held steps of a
plateau, every step from the divergence onset and every step after the floor step.
Noisy curves get bounds instead, and the tests branch on ``curve.profile.noisy``, never on
a profile's name. They pass under ``--synthloss-profile all`` with any ``--synthloss-steps``.
"""

from __future__ import annotations

import math

import pytest
from early_stopping_guard import EarlyStoppingGuard, Stop, train_until_stopped

from pytest_synthloss import LossCurve

#: Why a test runs on the spec-line profiles only (not the realistic, shaped ones).
SPEC_LINE_ONLY = (
    "expectations derived from the spec's line: single-step spike overrides and no noise "
    "that stalls a patience rule; the realistic profiles are covered in tests/test_realistic.py"
)


def stalled_steps(curve: LossCurve) -> set[int]:
    """The steps of a noise-free curve whose loss does not beat the best before them."""
    last = curve.last_step
    stalled = set(curve.spike_steps)
    for first, end in curve.plateau_windows:
        stalled.update(range(first + 1, end + 1))  # the first plateau step still improves
    if curve.divergence_step is not None:
        stalled.update(range(curve.divergence_step, last + 1))
    if curve.floor_step is not None:
        stalled.update(range(curve.floor_step + 1, last + 1))  # the floor only ties
    stalled.discard(curve.start_step)  # the first loss always beats the initial best (inf)
    return stalled


def expected_stop(curve: LossCurve, patience: int, check_finite: bool) -> tuple[int, str] | None:
    """Where and why the guard stops a noise-free curve, from its ground truth."""
    stalled = stalled_steps(curve)
    if not check_finite:
        stalled.update(curve.nonfinite_steps)  # NaN/inf is never an improvement
    wait = 0
    for step in range(curve.start_step, curve.last_step + 1):
        if check_finite and step in curve.nonfinite_steps:
            return step, "non-finite"
        wait = wait + 1 if step in stalled else 0
        if wait >= patience:
            return step, "patience"
    return None


def where(stop: Stop | None) -> tuple[int, str] | None:
    """A stop as ``(step, reason)``."""
    return None if stop is None else (stop.step, stop.reason)


@pytest.mark.parametrize("check_finite", [True, False], ids=["check_finite", "nan_waits"])
@pytest.mark.parametrize("patience", [1, 3])
def test_the_guard_stops_where_ground_truth_says(
    synthloss_curve: LossCurve, patience: int, check_finite: bool
) -> None:
    if synthloss_curve.profile.shape is not None:
        pytest.skip(SPEC_LINE_ONLY)
    guard = EarlyStoppingGuard(patience=patience, check_finite=check_finite)
    stop = train_until_stopped(guard, synthloss_curve)
    expected = expected_stop(synthloss_curve, patience, check_finite)
    floor_step = synthloss_curve.floor_step
    before_floor = expected is not None and (floor_step is None or expected[0] <= floor_step)
    if not synthloss_curve.profile.noisy or before_floor:
        # Noise-free, or stopped by an event (spike, NaN, divergence) before the floor.
        assert where(stop) == expected
    else:
        # 2% noise cannot fake a stall while the trend falls 3-6% a step: noise alone
        # stops the guard only once the loss sits at the floor, at a step it decides.
        assert stop is None or (floor_step is not None and stop.step > floor_step)
    if stop is not None:
        assert math.isfinite(stop.best)  # a NaN is never the best loss
        assert stop.best == min(
            loss for step, loss in synthloss_curve if step < stop.step and math.isfinite(loss)
        )


def test_a_divergence_threshold_trips_on_divergence_and_on_spikes(
    synthloss_curve: LossCurve,
) -> None:
    if synthloss_curve.profile.shape is not None:
        pytest.skip(SPEC_LINE_ONLY)
    threshold = 2 * synthloss_curve.profile.start
    guard = EarlyStoppingGuard(
        patience=len(synthloss_curve) + 1, divergence_threshold=threshold, check_finite=False
    )
    stop = train_until_stopped(guard, synthloss_curve)
    # Only spikes, diverging steps and +inf rise above twice the starting loss.
    onset = synthloss_curve.divergence_step
    rising = set(synthloss_curve.spike_steps) | set(synthloss_curve.nonfinite_steps)
    if onset is not None:
        rising.update(range(onset, synthloss_curve.last_step + 1))
    over = [step for step in sorted(rising) if synthloss_curve.loss_at(step) > threshold]
    assert where(stop) == ((over[0], "divergence_threshold") if over else None)


def test_a_stopping_threshold_just_above_the_floor_stops_at_the_floor(
    synthloss_curve: LossCurve,
) -> None:
    if synthloss_curve.profile.shape is not None:
        pytest.skip(SPEC_LINE_ONLY)
    threshold = synthloss_curve.floor + 0.005
    guard = EarlyStoppingGuard(patience=len(synthloss_curve) + 1, stopping_threshold=threshold)
    stop = train_until_stopped(guard, synthloss_curve)
    if stop is not None:
        assert stop.reason in ("non-finite", "stopping_threshold")
    if synthloss_curve.profile.noisy:  # the noise decides when it dips below; a NaN stops it
        bad = synthloss_curve.nonfinite_steps[:1]
        assert (
            stop is None
            or stop.loss < threshold
            or (stop.step, stop.reason) == (*bad, "non-finite")
        )
        return
    candidates = [(step, "non-finite") for step in synthloss_curve.nonfinite_steps[:1]]
    if synthloss_curve.floor_step is not None:
        candidates.append((synthloss_curve.floor_step, "stopping_threshold"))
    assert where(stop) == min(candidates, default=None)


@pytest.mark.synthloss(profile="inf", steps=20)
def test_checks_run_in_lightnings_order(synthloss_curve: LossCurve) -> None:
    (bad,) = synthloss_curve.nonfinite_steps
    threshold = 2 * synthloss_curve.profile.start  # +inf is above it too
    finite_first = EarlyStoppingGuard(patience=100, divergence_threshold=threshold)
    assert where(train_until_stopped(finite_first, synthloss_curve)) == (bad, "non-finite")
    unchecked = EarlyStoppingGuard(patience=100, divergence_threshold=threshold, check_finite=False)
    assert where(train_until_stopped(unchecked, synthloss_curve)) == (bad, "divergence_threshold")


@pytest.mark.synthloss(profile="diverging", steps=40)
def test_patience_catches_a_divergence_patience_steps_late(synthloss_curve: LossCurve) -> None:
    onset = synthloss_curve.divergence_step
    assert onset is not None
    for patience in (1, 2, 5):
        stop = train_until_stopped(EarlyStoppingGuard(patience=patience), synthloss_curve)
        assert where(stop) == (onset + patience - 1, "patience")
        assert stop is not None
        assert stop.best == synthloss_curve.loss_at(onset - 1)


def test_a_stopped_guard_refuses_more_steps() -> None:
    guard = EarlyStoppingGuard(patience=1)
    assert guard.update(1, 2.0) is False
    assert guard.update(2, 2.0) is True
    with pytest.raises(RuntimeError, match="already stopped the run at step 2"):
        guard.update(3, 1.0)
