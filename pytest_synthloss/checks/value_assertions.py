"""Value assertions: finiteness, shape, floor, final loss and equality of a loss series.

Each takes a :class:`~pytest_synthloss.LossCurve`, a 1-D array-like of losses (steps
``1..n``) or a ``(steps, losses)`` pair, and raises :class:`~pytest_synthloss.LossAssertionError`
with a numpy.testing-style message: counts, each offending step with its value (at most
``MAX_ROWS`` rows), the worst one, a sparkline with the offenders marked, and how to
reproduce a curve (:func:`assert_all_finite` is in
:mod:`~pytest_synthloss.checks.finite_assertions`).
Bad input (not a failed check) raises :class:`~pytest_synthloss.SynthLossError`.
"""

from __future__ import annotations

import math

import numpy as np

from pytest_synthloss.checks.messages import SPARK_WIDTH, fail, num, percent, table
from pytest_synthloss.checks.offenders import BLOCK, Tally
from pytest_synthloss.checks.series import LossSeries, Series, as_series, is_pair, span
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import synthetic_losses
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.recorded_runs import RecordedProfile
from pytest_synthloss.core.registry import resolve_profile
from pytest_synthloss.core.sparklines import sparkline
from pytest_synthloss.core.validation import MAX_STEP, check_step

__all__ = [
    "assert_curve_equal",
    "assert_final_loss",
    "assert_matches_profile",
    "assert_monotonic_decreasing",
    "assert_reaches_floor",
]

# -- shape of the curve ----------------------------------------------------------------


def assert_monotonic_decreasing(
    curve: LossSeries, *, strict: bool = False, atol: float = 0.0
) -> None:
    """Assert that no loss rises above the one before it by more than ``atol``.

    With ``strict=True`` every loss must be lower than the one before. Non-finite losses
    always fail.
    """
    __tracebackhide__ = True
    series = as_series(curve, copy=False)
    tolerance = _tolerance("atol", atol)
    losses = series.losses
    if losses.size < 2:
        if not np.isfinite(losses).all():
            fail([f"Loss is not finite: step {series.step_at(0)} loss={num(losses[0])}"])
        return
    bounds = series.spark_bounds()
    found = Tally(bounds)
    for first in range(0, losses.size - 1, BLOCK):  # change i: from loss i to loss i + 1
        before, after = losses[first : first + BLOCK], losses[first + 1 : first + BLOCK + 1]
        before = before[: after.size]
        change = after - before
        with np.errstate(invalid="ignore"):
            bad = change >= -tolerance if strict else change > tolerance
        bad |= ~np.isfinite(after) | ~np.isfinite(before)
        at = np.flatnonzero(bad)
        # the step after each change: the losses' positions, one further on
        found.add(at + first + 1, np.where(np.isfinite(change[at]), change[at], np.inf))
    if not found.count:
        return
    rule = f"loss < previous - {tolerance!r}" if strict else f"loss <= previous + {tolerance!r}"
    worst = found.worst
    rows = [
        [str(series.step_at(i)), num(losses[i]), num(losses[i - 1]), f"{_rise(losses, i):+.6g}"]
        for i in found.first.tolist()
    ]
    fail(
        [
            f"Loss is not monotonic decreasing: {percent(found.count, losses.size - 1)} "
            f"break {rule} ({series.where})",
            f"Worst: step {series.step_at(worst)} loss={num(losses[worst])} "
            f"vs previous {num(losses[worst - 1])} ({_rise(losses, worst):+.6g})",
            *table(["step", "loss", "previous", "change"], rows, found.count),
            series.spark_hit(found.columns),
            *series.reproduce(),
        ]
    )


def _rise(losses: np.ndarray, index: int) -> float:
    """``losses[index] - losses[index - 1]`` (NaN for inf - inf, without a warning)."""
    with np.errstate(invalid="ignore"):
        return float(losses[index] - losses[index - 1])


def assert_reaches_floor(
    curve: LossSeries,
    floor: float | None = None,
    by_step: int | None = None,
    *,
    atol: float = 0.0,
) -> None:
    """Assert that some loss is ``<= floor + atol`` at or before ``by_step``.

    ``floor`` defaults to the curve's profile floor (required for arrays); ``by_step`` to
    the last step, and must lie within the series' steps.
    """
    __tracebackhide__ = True
    series = as_series(curve, copy=False)
    tolerance = _tolerance("atol", atol)
    if floor is None:
        if series.curve is None:
            raise SynthLossError("assert_reaches_floor() needs floor= for losses without a profile")
        target = series.curve.floor
    else:
        target = _finite("floor", floor)
    first, last = series.step_at(0), series.step_at(-1)
    deadline = last if by_step is None else check_step(by_step, "by_step")
    if deadline < first:
        raise SynthLossError(f"by_step {deadline} is before the first step ({series.where})")
    if deadline > last:
        raise SynthLossError(f"by_step {deadline} is after the last step ({series.where})")
    window = series.losses[series.steps <= deadline]
    with np.errstate(invalid="ignore"):
        at_floor = series.losses <= target + tolerance
    if at_floor[: window.size].any():
        return
    finite = np.where(np.isfinite(window), window, np.inf)
    low = int(np.argmin(finite))
    lowest = float(window[low])
    later = np.flatnonzero(at_floor)
    after = (
        f"It first reaches it at step {int(series.steps[later[0]])}."
        if later.size
        else f"It never reaches it in steps {first}..{last}."
    )
    fail(
        [
            f"Loss does not reach the floor {num(target)} (atol={tolerance!r}) by step {deadline} "
            f"({series.where})",
            f"Lowest by step {deadline}: step {series.step_at(low)} loss={num(lowest)} "
            f"({num(lowest - target)} above the floor). {after}",
            series.spark([series.step_at(low)]),
            *series.reproduce(),
        ]
    )


# -- values ------------------------------------------------------------------------------


def _tolerance(name: str, value: float) -> float:
    number = _finite(name, value)
    if number < 0:
        raise SynthLossError(f"{name} must be >= 0, got {value!r}")
    return number


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise SynthLossError(f"{name} must be a finite number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    if not math.isfinite(number):
        raise SynthLossError(f"{name} must be a finite number, got {value!r}")
    return number


def _close(actual: np.ndarray, desired: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Finite pairs within ``atol + rtol * abs(desired)``; any other pair only if identical.

    As ``numpy.testing.assert_allclose``: NaN matches NaN, inf only inf, -inf only -inf,
    and a finite value never matches a non-finite one (the tolerance of an infinite
    ``desired`` would be infinite).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(actual - desired) <= atol + rtol * np.abs(desired)
    same = (actual == desired) | (np.isnan(actual) & np.isnan(desired))
    finite = np.isfinite(actual) & np.isfinite(desired)
    return np.asarray(np.where(finite, close, same))


def assert_final_loss(
    curve: LossSeries, expected: float, *, rtol: float = 1e-7, atol: float = 0.0
) -> None:
    """Assert that the last loss is ``expected`` within ``atol + rtol * abs(expected)``."""
    __tracebackhide__ = True
    series = as_series(curve, copy=False)
    desired = _finite("expected", expected)
    rel, absolute = _tolerance("rtol", rtol), _tolerance("atol", atol)
    actual = float(series.losses[-1])
    if _close(np.array([actual]), np.array([desired]), rel, absolute)[0]:
        return
    diff = abs(actual - desired)
    rel_text = num(diff / abs(desired)) if desired else "inf"
    last = series.step_at(-1)
    fail(
        [
            f"Final loss not equal to tolerance rtol={rel!r}, atol={absolute!r} ({series.where})",
            f"Step {last}: ACTUAL {num(actual)}, DESIRED {num(desired)} "
            f"(abs diff {num(diff)}, rel diff {rel_text})",
            series.spark([last]),
            *series.reproduce(),
        ]
    )


def _compare(
    title: str,
    actual: Series,
    desired: np.ndarray,
    rtol: float,
    atol: float,
    expected_spark: str,
    reproduce: list[str],
) -> None:
    __tracebackhide__ = True
    rel, absolute = _tolerance("rtol", rtol), _tolerance("atol", atol)
    found = Tally(actual.spark_bounds())
    for first in range(0, desired.size, BLOCK):
        a, d = actual.losses[first : first + BLOCK], desired[first : first + BLOCK]
        bad = np.flatnonzero(~_close(a, d, rel, absolute))
        with np.errstate(invalid="ignore"):
            ranked = np.abs(a[bad] - d[bad])
        ranked[np.isnan(ranked)] = np.inf
        found.add(bad + first, ranked)
    if not found.count:
        return
    shown, worst = found.first, found.worst
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(actual.losses[shown] - desired[shown])
        relative = diff / np.abs(desired[shown])
        worst_diff = np.abs(actual.losses[worst] - desired[worst])
        worst_relative = worst_diff / np.abs(desired[worst])
    rows = [
        [str(actual.step_at(i)), num(actual.losses[i]), num(desired[i]), num(d), num(r)]
        for i, d, r in zip(shown.tolist(), diff.tolist(), relative.tolist(), strict=True)
    ]
    spark_actual = actual.spark_hit(found.columns).split("\n")
    fail(
        [
            f"{title} to tolerance rtol={rel!r}, atol={absolute!r} ({actual.where})",
            f"Mismatched steps: {percent(found.count, actual.count)}",
            f"Worst: step {actual.step_at(worst)} actual={num(actual.losses[worst])} "
            f"expected={num(desired[worst])} (abs diff {num(worst_diff)}, "
            f"rel diff {num(worst_relative)})",
            *table(["step", "actual", "expected", "abs diff", "rel diff"], rows, found.count),
            f" ACTUAL:   {spark_actual[0]}",
            *(f"           {line}" for line in spark_actual[1:]),
            f" EXPECTED: {expected_spark}",
            *reproduce,
        ]
    )


def assert_curve_equal(
    actual: LossSeries, expected: LossSeries, *, rtol: float = 1e-7, atol: float = 0.0
) -> None:
    """Assert two curves have the same steps and losses within ``atol + rtol * abs(expected)``.

    Non-finite losses must match exactly: NaN equals NaN, inf only inf, -inf only -inf.
    Defaults as ``numpy.testing.assert_allclose``.
    """
    __tracebackhide__ = True
    left = as_series(actual, "actual", copy=False)
    right = as_series(expected, "expected", copy=False)
    if not left.same_steps(right):
        fail(
            [
                f"Loss curves cover different steps: actual {span(left)}, expected {span(right)}",
                f" ACTUAL:   {left.spark()}",
                f" EXPECTED: {right.spark()}",
            ]
        )
    _compare(
        "Loss curves not equal",
        left,
        right.losses,
        rtol,
        atol,
        right.spark(),
        left.reproduce() or right.reproduce(),
    )


def assert_matches_profile(
    losses: LossSeries,
    profile: Profile | str,
    *,
    start_step: int | None = None,
    rtol: float = 1e-7,
    atol: float = 0.0,
) -> None:
    """Assert that ``losses`` are ``profile``'s losses at the same steps.

    Arrays are steps ``start_step..`` (default 1); a ``(steps, losses)`` pair or a curve
    brings its own steps. Tolerances as :func:`assert_curve_equal` (non-finite losses
    must match exactly).
    """
    __tracebackhide__ = True
    prof = resolve_profile(profile)
    series = as_series(losses, copy=False)
    if start_step is not None:
        first = check_step(start_step, "start_step")
        if isinstance(losses, LossCurve) or is_pair(losses):
            raise SynthLossError(
                "start_step= is only for plain losses; a curve or (steps, losses) has its steps"
            )
        end = first + series.count - 1
        if end > MAX_STEP:
            raise SynthLossError(f"the run would end at step {end}, past the last step {MAX_STEP}")
        series = Series(None, series.losses, None, first)
    if isinstance(prof, RecordedProfile):  # a recorded run: its logged values
        whole = prof.recording()
        desired = np.array([whole.loss_at(int(step)) for step in series.steps])
    else:
        desired = synthetic_losses(series.steps, prof)
    first_step, count = series.step_at(0), series.count
    contiguous = series.step_at(-1) - first_step + 1 == count
    expected_spark = sparkline(desired, width=SPARK_WIDTH)
    start = "" if first_step == 1 else f", start_step={first_step}"
    reproduce = [f"Reproduce: make_curve({count}, {prof.name!r}{start})"] if contiguous else []
    _compare(
        f"Losses do not match profile {prof.name!r}",
        series,
        desired,
        rtol,
        atol,
        expected_spark,
        reproduce,
    )
