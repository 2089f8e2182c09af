"""Issue 17 figures: assertions and scoring with many expected steps or alerts, and the
failure paths (a failing assertion against the passing call, and its memory).

A failure figure times the failing call (its ``LossAssertionError`` caught) against the
same assertion passing on an input of the same size, and measures the failing call's
traced memory peak (``tracemalloc``) against the input's own size (its ``nbytes``). It
passes when both ratios are at most 2, whatever the number of offenders.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable

import numpy as np
from harness import MISS, PASS, Row, Settings, best_of, case, fmt_steps

import pytest_synthloss as sl
from pytest_synthloss import LossAssertionError, Profile, make_curve

#: Every this many steps an offender (a NaN, a spike, a rise, a mismatch) in failing inputs.
EVERY = 100


def spikes_profile(n: int, count: int) -> Profile:
    """A stable run of ``n`` steps with ``count`` one-step spikes (9.7) spread evenly."""
    gap = n // (count + 1)
    return Profile("bench-spikes", spikes={gap * (k + 1): 9.7 for k in range(count)})


def _linear_layout(s: Settings) -> list[Row]:
    n = fmt_steps(s.floor_steps)
    alerts = fmt_steps(s.floor_steps // 10)
    return [
        Row(
            "linear.assert_spikes_at.1e3",
            f"assert_spikes_at, 1,000 expected steps, on {n} steps vs numpy.full({n})",
            "≤ 10",
        ),
        Row(
            "linear.score_alerts.1e6",
            f"score_alerts, {alerts} alerts, on {n} steps (spiky) vs numpy.full({n})",
            "≤ 10",
        ),
        Row(
            "linear.assert_alerts_match.1e6",
            f"assert_alerts_match, {alerts} alerts, on {n} steps (diverging) vs numpy.full({n})",
            "≤ 10",
        ),
    ]


@case(_linear_layout)
def linear(s: Settings, rows: list[Row]) -> None:
    """Assertions and scoring whose cost must not grow with expected steps or alerts."""
    n = s.floor_steps
    spiky = make_curve(n, spikes_profile(n, 1000))
    spiky.losses  # noqa: B018  # the figure is the assertion's pass, not the curve's
    expected = spiky.spike_steps
    plain = make_curve(n, "spiky")
    plain.losses  # noqa: B018
    alerts = np.arange(3, n + 1, 10, dtype=np.int64)  # n / 10 alerts
    false_alarms = np.union1d(alerts, plain.spike_steps)
    diverging = make_curve(n, "diverging")
    diverging.losses  # noqa: B018
    inside = np.arange(diverging.profile.divergence_step or 1, n + 1, 10, dtype=np.int64)
    times = best_of(
        {
            "spikes_at": lambda: sl.assert_spikes_at(spiky, expected),
            "score": lambda: sl.score_alerts(false_alarms, plain),
            "match": lambda: sl.assert_alerts_match(inside, diverging),
            "full": lambda: np.full(n, 1.05),
        },
        s.repeats,
        s.min_timing,
    )
    for row, key in zip(rows, ("spikes_at", "score", "match"), strict=True):
        row.ours_s, row.baseline_s = times[key], times["full"]
        row.judge(10.0)
        row.details["steps"] = n


# -- failure paths ------------------------------------------------------------------------


def _inputs(n: int) -> dict[str, np.ndarray]:
    """Same-size passing and failing inputs, an offender every ``EVERY`` steps."""
    clean = np.linspace(2.25, 1.05, n)  # decreasing: no spike, no rise, finite
    nan = clean.copy()
    nan[EVERY - 1 :: EVERY] = np.nan
    spiky = clean.copy()
    spiky[EVERY - 1 :: EVERY] *= 10.0
    return {"clean": clean, "nan": nan, "spiky": spiky}


#: Failure figure -> (failing call, passing call) on the inputs of :func:`_inputs`.
FAILURES: dict[str, tuple[str, str]] = {
    "assert_all_finite": ("assert_all_finite(nan)", "assert_all_finite(clean)"),
    "assert_no_spikes": ("assert_no_spikes(spiky)", "assert_no_spikes(clean)"),
    "assert_spikes_at": ("assert_spikes_at(spiky, [])", "assert_spikes_at(clean, [])"),
    "assert_monotonic_decreasing": (
        "assert_monotonic_decreasing(spiky)",
        "assert_monotonic_decreasing(clean)",
    ),
    "assert_curve_equal": ("assert_curve_equal(spiky, clean)", "assert_curve_equal(clean, clean)"),
}


def _call(text: str, data: dict[str, np.ndarray]) -> Callable[[], None]:
    name, _, args = text.partition("(")
    func = getattr(sl, name)
    values: list[object] = [data.get(a.strip(), []) for a in args[:-1].split(",")]

    def call() -> None:
        with contextlib.suppress(LossAssertionError):
            func(*values)

    return call


def traced_peak(func: Callable[[], None]) -> int:
    """The tracemalloc peak (bytes) of one call."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _failure_layout(s: Settings) -> list[Row]:
    n = fmt_steps(s.floor_steps)
    offenders = fmt_steps(s.floor_steps // EVERY)
    return [
        Row(
            f"fail.{name}",
            f"failing {failing} ({offenders} offenders in {n}) vs passing {passing}",
            "≤ 2 (time), ≤ 2× the input's memory",
        )
        for name, (failing, passing) in FAILURES.items()
    ]


@case(_failure_layout)
def failures(s: Settings, rows: list[Row]) -> None:
    """A failing assertion against the passing one; its memory against the input's."""
    data = _inputs(s.floor_steps)
    size = data["clean"].nbytes
    for row, (failing, passing) in zip(rows, FAILURES.values(), strict=True):
        fail_call, pass_call = _call(failing, data), _call(passing, data)
        times = best_of({"fail": fail_call, "pass": pass_call}, s.repeats, s.min_timing)
        row.ours_s, row.baseline_s = times["fail"], times["pass"]
        row.judge(2.0)
        fail_peak, pass_peak = traced_peak(fail_call), traced_peak(pass_call)
        memory = fail_peak / size
        if row.verdict == PASS and memory > 2.0:
            row.verdict = MISS
        row.notes = (
            f"memory: failing {memory:.2f}× the input, passing {pass_peak / size:.2f}× "
            f"(input {size / (1 << 20):.0f} MiB)"
        )
        row.details.update(
            steps=s.floor_steps, fail_peak_bytes=fail_peak, pass_peak_bytes=pass_peak
        )
