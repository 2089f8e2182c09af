"""Assertions about loss curves, with numpy.testing-style failure messages.

Each assertion takes a :class:`~pytest_synthloss.LossCurve`, a 1-D array-like of losses
(steps ``1..n``) or a ``(steps, losses)`` pair, and raises :class:`LossAssertionError`
(an ``AssertionError``) with a message naming the rule and thresholds, the counts, each
offending step with its value and reference (at most :data:`MAX_ROWS` rows), the worst
one, a sparkline with the offenders marked, and how to reproduce a curve. They work
without pytest; under pytest their own frames are hidden from tracebacks.

Non-finite losses (NaN, inf, -inf): :func:`assert_all_finite` fails on any. The spike
checks (:func:`find_spikes`, :func:`assert_no_spikes`, :func:`assert_spikes_at`) follow
their ``nonfinite`` policy: ``"spike"`` (default, like Lightning's ``SpikeDetection``: a
non-finite loss is a spike), ``"ignore"`` (never a spike, never in a reference) or
``"error"`` (fail, naming the first non-finite step, before any spike is looked for).

Bad input (not a failed check) raises :class:`~pytest_synthloss.SynthLossError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from pytest_synthloss.curve import LossCurve, make_curve
from pytest_synthloss.detectors import (
    SpikeReport,
    SpikeRule,
    check_nonfinite_policy,
    detect_spikes,
    get_rule,
)
from pytest_synthloss.errors import LossAssertionError, SynthLossError
from pytest_synthloss.messages import MAX_ROWS, SPARK_WIDTH, fail, num, percent, table
from pytest_synthloss.model import range_losses, synthetic_losses, trend_losses
from pytest_synthloss.profiles import MAX_STEP, Profile, check_step
from pytest_synthloss.registry import resolve_profile
from pytest_synthloss.series import LossSeries, Series, as_series, is_pair, span
from pytest_synthloss.sparklines import sparkline

__all__ = [
    "MAX_ROWS",
    "LossAssertionError",
    "LossSeries",
    "assert_all_finite",
    "assert_curve_equal",
    "assert_final_loss",
    "assert_matches_profile",
    "assert_monotonic_decreasing",
    "assert_no_spikes",
    "assert_reaches_floor",
    "assert_spikes_at",
    "find_spikes",
]

#: Steps computed per pass when a noisy profile's history has to be scanned.
_HISTORY_CHUNK = 1 << 16
#: A noisy profile's history is scanned over at most this many steps before the run
#: (about 0.1 s), so a run resumed at step 10**12 is checked as fast as one at 10**7.
NOISY_HISTORY_WINDOW = 1 << 22

# -- spikes ----------------------------------------------------------------------------


def _prior_min(profile: Profile, last: int) -> float:
    """The lowest finite loss of ``profile`` over steps ``1..last`` (NaN if none).

    Without noise, in closed form: the trend never rises before the divergence onset and
    never falls from it, so its lowest value is at the last step before the onset (or the
    nearest step on either side not replaced by a spike or non-finite loss). With noise
    there is no shortcut: the losses of the last ``NOISY_HISTORY_WINDOW`` steps up to
    ``last`` are computed, a chunk at a time (all of them for shorter histories).
    """
    if profile.noise is not None:
        low = math.inf
        buffer = np.empty(min(last, _HISTORY_CHUNK))
        for first in range(max(1, last - NOISY_HISTORY_WINDOW + 1), last + 1, _HISTORY_CHUNK):
            chunk = range_losses(profile, first, min(_HISTORY_CHUNK, last - first + 1), buffer)
            finite = chunk[np.isfinite(chunk)]
            if finite.size:
                low = min(low, float(finite.min()))
        return low if math.isfinite(low) else math.nan
    replaced = profile.spikes.keys() | profile.nonfinite.keys()
    onset = profile.divergence_step
    turn = last if onset is None or onset > last else max(onset - 1, 1)
    candidates = [loss for step, loss in profile.spikes.items() if step <= last]
    below = turn
    while below >= 1 and below in replaced:
        below -= 1
    above = turn + 1
    while above <= last and above in replaced:
        above += 1
    lowest = [s for s in (below, above) if 1 <= s <= last]
    candidates += trend_losses(np.array(lowest, dtype=np.int64), profile).tolist()
    return min(candidates) if candidates else math.nan


def _context(series: Series, rule: SpikeRule) -> np.ndarray:
    curve = series.curve
    if curve is None or curve.start_step == 1:
        return np.empty(0)
    before = curve.start_step - 1
    if rule.lookback is None:
        return np.array([_prior_min(curve.profile, before)])  # NaN is dropped as no history
    count = min(rule.lookback, before)
    return make_curve(count, curve.profile, start_step=curve.start_step - count).losses


def find_spikes(
    curve: LossSeries, rule: SpikeRule | str | None = None, *, nonfinite: str = "spike"
) -> SpikeReport:
    """Run a spike rule (default: running-min ratio >= 3.0) over a curve or losses.

    A LossCurve that starts after step 1 is checked with its profile's earlier steps as
    context, as the rest of its run: a step is a spike or not whatever step the run
    starts at (for noisy profiles the history is the last ``NOISY_HISTORY_WINDOW``
    steps, 2**22). Arrays have no history: their first step is never a spike. ``nonfinite``
    is the NaN/inf policy: ``"spike"`` (default), ``"ignore"`` or ``"error"`` (raises
    :class:`LossAssertionError` naming the first non-finite step).
    """
    __tracebackhide__ = True
    return _find(as_series(curve), rule, nonfinite)


def _find(series: Series, rule: SpikeRule | str | None, nonfinite: str) -> SpikeReport:
    """The spike report; under ``nonfinite="error"``, first fail on any non-finite loss."""
    __tracebackhide__ = True
    chosen = get_rule(rule)
    policy = check_nonfinite_policy(nonfinite)
    if policy == "error":
        bad = np.flatnonzero(~np.isfinite(series.losses))
        if bad.size:
            first = int(bad[0])
            summary, rest = _nonfinite_details(series, bad)
            fail(
                [
                    f"Loss is not finite at step {int(series.steps[first])} "
                    f"(loss={num(series.losses[first])}) and nonfinite='error': "
                    f"spikes by rule {chosen.describe()} not checked ({series.where})",
                    f"Non-finite losses: {summary}",
                    *rest,
                ]
            )
    return detect_spikes(
        series.losses,
        chosen,
        steps=series.steps,
        context=_context(series, chosen),
        nonfinite=policy,
    )


def _rule_text(report: SpikeReport) -> str:
    """The rule, and the NaN policy when it is not the default."""
    text = report.rule.describe()
    return text if report.nonfinite == "spike" else f"{text}, nonfinite={report.nonfinite!r}"


def _spike_row(report: SpikeReport, index: int, note: str = "") -> list[str]:
    loss = float(report.losses[index])
    reference = float(report.reference[index])
    score = float(report.score[index])
    row = [
        str(int(report.steps[index])),
        num(loss),
        "none" if math.isnan(reference) else num(reference),
        "non-finite" if not math.isfinite(loss) else report.rule.format_score(score),
    ]
    return [*row, note] if note else row


def _spike_header(report: SpikeReport, *extra: str) -> list[str]:
    return ["step", "loss", "reference", report.rule.score_label, *extra]


def _worst(report: SpikeReport, indices: np.ndarray) -> str:
    scores = np.where(np.isfinite(report.losses[indices]), report.score[indices], np.inf)
    index = int(indices[int(np.argmax(scores))])
    step, loss = int(report.steps[index]), float(report.losses[index])
    if not math.isfinite(loss):
        return f"Worst: step {step} loss={num(loss)} (non-finite)"
    score = report.rule.format_score(float(report.score[index]))
    reference = num(report.reference[index])
    return f"Worst: step {step} loss={num(loss)} vs reference {reference} ({score})"


def assert_no_spikes(
    curve: LossSeries, *, rule: SpikeRule | str | None = None, nonfinite: str = "spike"
) -> None:
    """Assert that ``rule`` (default: running-min ratio >= 3.0) flags no step.

    ``nonfinite``: a NaN/inf loss is a spike (``"spike"``, default), is skipped
    (``"ignore"``), or fails the assertion as non-finite (``"error"``).
    """
    __tracebackhide__ = True
    series = as_series(curve)
    report = _find(series, rule, nonfinite)
    found = np.flatnonzero(report.mask)
    if not found.size:
        return
    fail(
        [
            f"Loss spikes found: {percent(found.size, series.steps.size)} by rule "
            f"{_rule_text(report)} ({series.where})",
            _worst(report, found),
            *table(_spike_header(report), [_spike_row(report, int(i)) for i in found], found.size),
            series.spark(report.steps[found].tolist()),
            *series.reproduce(),
        ]
    )


def assert_spikes_at(
    curve: LossSeries,
    steps: Iterable[int],
    *,
    rule: SpikeRule | str | None = None,
    nonfinite: str = "spike",
) -> None:
    """Assert that ``rule`` flags exactly ``steps`` (e.g. ``curve.spike_steps``).

    ``nonfinite`` as for :func:`assert_no_spikes`: under the default ``"spike"`` a
    non-finite step must be among ``steps``; under ``"ignore"`` it must not.
    """
    __tracebackhide__ = True
    if isinstance(steps, str | bytes) or not isinstance(steps, Iterable):
        raise SynthLossError(
            "steps must be an iterable of integer steps (e.g. curve.spike_steps), "
            f"got {steps!r} ({type(steps).__name__})"
        )
    series = as_series(curve)
    expected = sorted({check_step(s, "expected spike step") for s in steps})
    outside = [s for s in expected if not (series.steps == s).any()]
    if outside:
        raise SynthLossError(
            f"expected spike step {outside[0]} is not in the series ({series.where})"
        )
    report = _find(series, rule, nonfinite)
    found = set(report.spike_steps)
    missing = [s for s in expected if s not in found]
    extra = sorted(found - set(expected))
    if not missing and not extra:
        return
    wrong = sorted([*missing, *extra])
    rows = [
        _spike_row(report, series.position(s), "missing" if s in missing else "unexpected")
        for s in wrong
    ]
    fail(
        [
            f"Spikes differ from the expected steps by rule {_rule_text(report)} ({series.where})",
            f"Expected: {_steps_text(expected)}; found: {_steps_text(sorted(found))}",
            f"Missing: {len(missing)}, unexpected: {len(extra)}",
            *table(_spike_header(report, ""), rows, len(rows)),
            series.spark(wrong),
            *series.reproduce(),
        ]
    )


def _steps_text(steps: Sequence[int]) -> str:
    if not steps:
        return "no spikes"
    shown = ", ".join(str(s) for s in steps[:MAX_ROWS])
    more = f", ... {len(steps) - MAX_ROWS} more" if len(steps) > MAX_ROWS else ""
    return f"steps {shown}{more}"


# -- non-finite losses ----------------------------------------------------------------


def _nonfinite_details(series: Series, bad: np.ndarray) -> tuple[str, list[str]]:
    """For non-finite positions ``bad``: a count summary, and the table, sparkline, reproduce."""
    losses = series.losses
    values = losses[bad]
    kinds = [
        f"{count} {name}"
        for name, count in (
            ("nan", int(np.isnan(values).sum())),
            ("inf", int(np.isposinf(values).sum())),
            ("-inf", int(np.isneginf(values).sum())),
        )
        if count
    ]
    summary = f"{percent(bad.size, losses.size)}: {', '.join(kinds)}"
    positions = np.arange(losses.size)
    last_finite = np.maximum.accumulate(np.where(np.isfinite(losses), positions, -1))[bad]
    rows = [
        [
            str(int(series.steps[i])),
            num(losses[i]),
            "none" if j < 0 else f"{num(losses[j])} (step {int(series.steps[j])})",
        ]
        for i, j in zip(bad.tolist(), last_finite.tolist(), strict=True)
    ]
    return summary, [
        *table(["step", "loss", "last finite loss"], rows, len(rows)),
        series.spark(series.steps[bad].tolist()),
        *series.reproduce(),
    ]


def assert_all_finite(curve: LossSeries) -> None:
    """Assert that no loss is NaN, inf or -inf.

    The failure lists the non-finite steps (how many of each kind, each with its value and
    the last finite loss before it), with ``×`` in the sparkline and ``▲`` under them.
    """
    __tracebackhide__ = True
    series = as_series(curve)
    bad = np.flatnonzero(~np.isfinite(series.losses))
    if not bad.size:
        return
    first = int(bad[0])
    summary, rest = _nonfinite_details(series, bad)
    fail(
        [
            f"Non-finite losses found: {summary} ({series.where})",
            f"First: step {int(series.steps[first])} loss={num(series.losses[first])}",
            *rest,
        ]
    )


# -- shape of the curve ----------------------------------------------------------------


def assert_monotonic_decreasing(
    curve: LossSeries, *, strict: bool = False, atol: float = 0.0
) -> None:
    """Assert that no loss rises above the one before it by more than ``atol``.

    With ``strict=True`` every loss must be lower than the one before. Non-finite losses
    always fail.
    """
    __tracebackhide__ = True
    series = as_series(curve)
    tolerance = _tolerance("atol", atol)
    losses = series.losses
    if losses.size < 2:
        if not np.isfinite(losses).all():
            fail([f"Loss is not finite: step {int(series.steps[0])} loss={num(losses[0])}"])
        return
    change = losses[1:] - losses[:-1]
    with np.errstate(invalid="ignore"):
        bad = change >= -tolerance if strict else change > tolerance
    bad |= ~np.isfinite(losses[1:]) | ~np.isfinite(losses[:-1])
    found = np.flatnonzero(bad)
    if not found.size:
        return
    rule = f"loss < previous - {tolerance!r}" if strict else f"loss <= previous + {tolerance!r}"
    ranked = np.where(np.isfinite(change[found]), change[found], np.inf)
    worst = int(found[int(np.argmax(ranked))])
    rows = [
        [
            str(int(series.steps[i + 1])),
            num(losses[i + 1]),
            num(losses[i]),
            f"{change[i]:+.6g}",
        ]
        for i in found.tolist()
    ]
    fail(
        [
            f"Loss is not monotonic decreasing: {percent(found.size, change.size)} "
            f"break {rule} ({series.where})",
            f"Worst: step {int(series.steps[worst + 1])} loss={num(losses[worst + 1])} "
            f"vs previous {num(losses[worst])} ({change[worst]:+.6g})",
            *table(["step", "loss", "previous", "change"], rows, len(rows)),
            series.spark(series.steps[found + 1].tolist()),
            *series.reproduce(),
        ]
    )


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
    series = as_series(curve)
    tolerance = _tolerance("atol", atol)
    if floor is None:
        if series.curve is None:
            raise SynthLossError("assert_reaches_floor() needs floor= for losses without a profile")
        target = series.curve.floor
    else:
        target = _finite("floor", floor)
    first, last = int(series.steps[0]), int(series.steps[-1])
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
            f"Lowest by step {deadline}: step {int(series.steps[low])} loss={num(lowest)} "
            f"({num(lowest - target)} above the floor). {after}",
            series.spark([int(series.steps[low])]),
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
    series = as_series(curve)
    desired = _finite("expected", expected)
    rel, absolute = _tolerance("rtol", rtol), _tolerance("atol", atol)
    actual = float(series.losses[-1])
    if _close(np.array([actual]), np.array([desired]), rel, absolute)[0]:
        return
    diff = abs(actual - desired)
    rel_text = num(diff / abs(desired)) if desired else "inf"
    last = int(series.steps[-1])
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
    ok = _close(actual.losses, desired, rel, absolute)
    found = np.flatnonzero(~ok)
    if not found.size:
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(actual.losses - desired)
        relative = diff / np.abs(desired)
    ranked = np.where(np.isnan(diff[found]), np.inf, diff[found])
    worst = int(found[int(np.argmax(ranked))])
    rows = [
        [
            str(int(actual.steps[i])),
            num(actual.losses[i]),
            num(desired[i]),
            num(diff[i]),
            num(relative[i]),
        ]
        for i in found.tolist()
    ]
    marks = actual.steps[found].tolist()
    spark_actual = actual.spark(marks).split("\n")
    fail(
        [
            f"{title} to tolerance rtol={rel!r}, atol={absolute!r} ({actual.where})",
            f"Mismatched steps: {percent(found.size, actual.steps.size)}",
            f"Worst: step {int(actual.steps[worst])} actual={num(actual.losses[worst])} "
            f"expected={num(desired[worst])} (abs diff {num(diff[worst])}, "
            f"rel diff {num(relative[worst])})",
            *table(["step", "actual", "expected", "abs diff", "rel diff"], rows, len(rows)),
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
    left, right = as_series(actual, "actual"), as_series(expected, "expected")
    if left.steps.shape != right.steps.shape or (left.steps != right.steps).any():
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
    series = as_series(losses)
    if start_step is not None:
        first = check_step(start_step, "start_step")
        if isinstance(losses, LossCurve) or is_pair(losses):
            raise SynthLossError(
                "start_step= is only for plain losses; a curve or (steps, losses) has its steps"
            )
        end = first + series.steps.size - 1
        if end > MAX_STEP:
            raise SynthLossError(f"the run would end at step {end}, past the last step {MAX_STEP}")
        series = Series(series.steps + (first - 1), series.losses, None)
    desired = synthetic_losses(series.steps, prof)
    first_step, count = int(series.steps[0]), series.steps.size
    contiguous = int(series.steps[-1]) - first_step + 1 == count
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
