"""Failing assertions tally their offenders a block at a time (checks/offenders.py): the
message is the one the whole report gives, and the memory does not grow with the number of
offenders (tracemalloc peaks, which do not depend on the machine's speed)."""

from __future__ import annotations

import contextlib
import re
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

import pytest_synthloss as sl
from pytest_synthloss.checks.messages import SPARK_WIDTH, num
from pytest_synthloss.checks.offenders import BLOCK
from pytest_synthloss.core.errors import LossAssertionError
from pytest_synthloss.core.sparklines import LONG_COLUMN, sparkline

N = 3 * BLOCK + 123  # crosses block boundaries, with a partial last block


def _series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 2.0 + 0.1 * rng.standard_normal(N)
    hits = rng.choice(N, 400, replace=False)
    values[hits] *= rng.uniform(2.0, 9.0, hits.size)
    values[rng.choice(N, 30, replace=False)] = rng.choice([np.nan, np.inf, -np.inf], 30)
    values[2 * BLOCK - 1] = 50.0  # the worst, at a block's last step
    return values


def _message(call: Callable[[], None]) -> list[str]:
    with pytest.raises(LossAssertionError) as info:
        call()
    return str(info.value).splitlines()


@pytest.mark.parametrize("rule", ["running-min", "running-mean", "ema", "zscore", "lightning"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_count_and_the_worst_are_the_whole_reports(rule: str, seed: int) -> None:
    values = _series(seed)
    report = sl.find_spikes(values, rule)
    flagged = np.flatnonzero(report.mask)
    ranked = np.where(np.isfinite(values[flagged]), report.score[flagged], np.inf)
    worst = int(flagged[int(np.argmax(ranked))])
    lines = _message(lambda: sl.assert_no_spikes(values, rule=rule))
    assert lines[0].startswith(f"Loss spikes found: {flagged.size} / {N} steps (")
    assert lines[1].startswith(f"Worst: step {worst + 1} loss={num(values[worst])}")
    shown = [int(line.split()[0]) for line in lines[3:] if re.match(r"\s*\d+\s", line)]
    assert shown
    assert shown == (flagged[: len(shown)] + 1).tolist()


def test_spikes_at_counts_missing_and_unexpected_across_blocks() -> None:
    values = _series(3)
    flagged = set(sl.find_spikes(values).spike_steps)
    expected = sorted([*list(flagged)[::2], 5, BLOCK, BLOCK + 1, 3 * BLOCK])
    missing = sorted(set(expected) - flagged)
    extra = sorted(flagged - set(expected))
    lines = _message(lambda: sl.assert_spikes_at(values, expected))
    assert f"Missing: {len(missing)}, unexpected: {len(extra)}" in lines
    rows = [line for line in lines[4:] if re.match(r"\s*\d+\s", line)]
    first = sorted(missing + extra)[: len(rows)]
    assert rows
    assert [int(r.split()[0]) for r in rows] == first
    assert [r.split()[-1] for r in rows] == [
        "missing" if s in missing else "unexpected" for s in first
    ]


def _peak(call: Callable[[], None]) -> float:
    tracemalloc.start()
    try:
        with contextlib.suppress(LossAssertionError):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


M = 1_000_000
_UP = np.linspace(1.0, 2.0, M)  # every step rises: every step is an offender
_NAN = np.full(M, np.nan)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("no spikes, all NaN", lambda: sl.assert_no_spikes(_NAN)),
        ("spikes at, all NaN", lambda: sl.assert_spikes_at(_NAN, [])),
        ("monotonic, every step rises", lambda: sl.assert_monotonic_decreasing(_UP)),
        ("curve equal, every step differs", lambda: sl.assert_curve_equal(_UP, _UP[::-1])),
        ("all finite, all NaN", lambda: sl.assert_all_finite(_NAN)),
    ],
)
def test_a_failure_with_every_step_offending_stays_within_twice_the_input(
    name: str, call: Callable[[], None]
) -> None:
    assert _peak(call) <= 2.05 * _UP.nbytes, name


def test_a_failure_message_keeps_its_rows_bounded_when_every_step_offends() -> None:
    lines = _message(lambda: sl.assert_monotonic_decreasing(_UP))
    assert lines[0].startswith("Loss is not monotonic decreasing: 999999 / 999999 steps (100.0%)")
    worst = int(np.argmax(np.diff(_UP))) + 1
    assert lines[1].startswith(f"Worst: step {worst + 1} loss={num(_UP[worst])} vs previous")
    assert any(line.strip().startswith("... ") for line in lines)


@pytest.mark.parametrize("fill", ["every 100", "second half", "one -inf at the end", "all"])
def test_all_finite_draws_a_long_series_as_sparkline_does(fill: str) -> None:
    n = SPARK_WIDTH * LONG_COLUMN + 777  # long columns: drawn a column at a time
    values = np.linspace(2.25, 1.05, n)
    if fill == "every 100":
        values[99::100] = np.nan
    elif fill == "second half":
        values[n // 2 :] = np.nan
        values[3 * n // 4] = np.inf
    elif fill == "one -inf at the end":
        values[-1] = -np.inf
    else:
        values[:] = np.nan
    lines = _message(lambda: sl.assert_all_finite(values))
    expected = sparkline(values, width=SPARK_WIDTH).split("\n")[0]
    assert expected in lines
