"""Long arrays on several threads (``core.parallel``): the spans, the thread count, errors,
and the engine and rules giving the same bits on one thread or many."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import SynthLossError, synthetic_loss, synthetic_losses
from pytest_synthloss.checks import rolling_stats, window_sums, windows
from pytest_synthloss.checks.kernels import ema
from pytest_synthloss.checks.rolling_stats import ema_before
from pytest_synthloss.checks.rules import get_rule
from pytest_synthloss.checks.spike_assertions import find_spikes
from pytest_synthloss.core import model
from pytest_synthloss.core.parallel import in_spans, spans, thread_count


def bits(values: np.ndarray) -> np.ndarray:
    """The array's bytes: -0.0 and NaN payloads compare too."""
    return np.ascontiguousarray(values).view(np.uint8)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Short spans everywhere, so that small arrays are split over threads."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    monkeypatch.setattr(model, "_BLOCK", 4)
    monkeypatch.setattr(model, "_MIN_SPAN", 1)
    monkeypatch.setattr(rolling_stats, "MIN_SPAN", 1)
    monkeypatch.setattr(rolling_stats, "ZSCORE_BLOCK", 16)
    monkeypatch.setattr(window_sums, "MIN_SPAN", 1)
    monkeypatch.setattr(window_sums, "ROWS", 8)
    monkeypatch.setattr(windows, "MIN_SPAN", 1)
    monkeypatch.setattr(windows, "EMA_PASS", 16)
    return monkeypatch


# -- the spans and the thread count ---------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "block", "min_span", "count", "expected"),
    [
        (10, 2, 1, 3, [(0, 2), (2, 6), (6, 10)]),  # 5 blocks over 3 threads
        (10, 2, 4, 3, [(0, 4), (4, 10)]),  # no span under 4 steps
        (10, 2, 1, 1, [(0, 10)]),
        (9, 4, 1, 8, [(0, 4), (4, 8), (8, 9)]),  # a thread a block, the last one short
        (1, 4, 1, 8, [(0, 1)]),
        (3, 4, 100, 8, [(0, 3)]),  # shorter than a span: one
    ],
)
def test_spans_are_whole_blocks_in_order(
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    block: int,
    min_span: int,
    count: int,
    expected: list[tuple[int, int]],
) -> None:
    monkeypatch.setenv("SYNTHLOSS_THREADS", str(count))
    assert spans(size, block, min_span) == expected


def test_the_thread_count_shares_the_cpus_with_xdist_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SYNTHLOSS_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert thread_count() == 8
    for workers, expected in [("3", 2), ("8", 1), ("16", 1), ("0", 8), ("many", 8)]:
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", workers)
        assert thread_count() == expected, workers
    monkeypatch.setenv("SYNTHLOSS_THREADS", " 5 ")  # the variable wins
    assert thread_count() == 5


@pytest.mark.parametrize("value", ["0", "two", "1.5", "-1", "", "1025"])
def test_a_bad_thread_count_names_the_variable_and_the_range(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SYNTHLOSS_THREADS", value)
    message = f"SYNTHLOSS_THREADS must be an integer from 1 to 1024, got {value!r}"
    with pytest.raises(SynthLossError) as info:
        thread_count()
    assert str(info.value) == message
    with pytest.raises(SynthLossError) as info:  # only where a long array is split
        synthetic_losses(np.arange(1, 3_000_001))
    assert str(info.value) == message
    assert synthetic_losses(np.arange(1, 11)).tolist() == [synthetic_loss(s) for s in range(1, 11)]


# -- running the spans ------------------------------------------------------------------------


def test_spans_run_on_threads_of_their_own_and_give_their_results_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHLOSS_THREADS", "3")
    names: dict[int, str] = {}

    def work(first: int, stop: int) -> tuple[int, int]:
        names[first] = threading.current_thread().name
        return first, stop

    assert in_spans(work, 12, 2, 1) == [(0, 4), (4, 8), (8, 12)]
    assert names == {0: threading.current_thread().name, 4: "synthloss-1", 8: "synthloss-2"}


def test_a_span_whose_thread_cannot_start_runs_on_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHLOSS_THREADS", "3")
    start = threading.Thread.start

    def refuse_the_second(thread: threading.Thread) -> None:
        if thread.name == "synthloss-2":
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse_the_second)
    names: dict[int, str] = {}

    def work(first: int, stop: int) -> int:
        names[first] = threading.current_thread().name
        return stop - first

    assert in_spans(work, 12, 2, 1) == [4, 4, 4]
    here = threading.current_thread().name
    assert names == {0: here, 4: "synthloss-1", 8: here}


def test_the_first_span_that_failed_is_raised_after_every_span_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHLOSS_THREADS", "3")
    ended: list[int] = []
    gate = threading.Event()

    def work(first: int, stop: int) -> None:
        if first == 8:
            raise KeyError("third")
        if first == 4:
            gate.wait(5)  # the third has failed by now
            ended.append(first)
            raise ValueError("second")
        gate.set()
        ended.append(first)

    with pytest.raises(ValueError, match=r"^second$"):
        in_spans(work, 12, 2, 1)
    assert sorted(ended) == [0, 4]


def test_numpy_error_states_hold_on_the_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLOSS_THREADS", "2")
    values = np.array([1.0, 1.0, 1e300, 1e300])

    def square(first: int, stop: int) -> np.ndarray:
        result: np.ndarray = values[first:stop] * values[first:stop]
        return result

    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        in_spans(square, 4, 2, 1)
    with np.errstate(over="ignore"):
        assert np.concatenate(in_spans(square, 4, 2, 1)).tolist() == [1.0, 1.0, np.inf, np.inf]


# -- the same bits on one thread or many ----------------------------------------------------------


@pytest.mark.parametrize("profile", ["stable", "spiky", "nan", "diverging", "plateau"])
def test_the_engine_gives_the_same_bits_on_threads(
    threads: pytest.MonkeyPatch, profile: str
) -> None:
    rng = np.random.default_rng(7)
    far = 2**31 if profile == "plateau" else 2**40  # unsigned 32-bit steps for plateau
    steps = np.concatenate(
        [np.arange(1, 40), rng.integers(1, 60, 37), np.arange(far, far + 50)]
    ).astype(np.uint32 if profile == "plateau" else np.int64)
    expected = np.array([synthetic_loss(int(s), profile) for s in steps.tolist()])
    for count in ("1", "3", "7"):
        threads.setenv("SYNTHLOSS_THREADS", count)
        assert bits(synthetic_losses(steps, profile)).tolist() == bits(expected).tolist(), count


def test_a_bad_step_on_a_later_thread_is_reported_as_on_one(threads: pytest.MonkeyPatch) -> None:
    threads.setenv("SYNTHLOSS_THREADS", "4")
    steps = np.arange(1, 41)
    steps[[25, 33]] = [0, -3]
    with pytest.raises(SynthLossError) as info:
        synthetic_losses(steps)
    assert str(info.value) == "steps must be integers >= 1, got 0 at index 25"


RULES = [
    ("ema", {}),
    ("zscore", {"window": 16, "warmup": 4}),
    ("olmo-skip-step", {"rolling_interval_length": 8}),
    ("olmo-stability", {"window_size": 8, "threshold_std": 2.0}),
    ("llm-foundry", {"window_size": 100, "patience": 3}),
]


def a_run(n: int) -> np.ndarray:
    """Noise with spikes, NaN, a flat stretch and a long run of outliers."""
    rng = np.random.default_rng(11)
    losses = 2.0 + 0.1 * rng.standard_normal(n)
    losses[rng.integers(0, n, 12)] *= 9.0
    losses[[150, 151, 700]] = [np.nan, np.inf, np.nan]
    losses[400:440] = 1.5
    losses[900:960] = 40.0  # outliers for longer than a pass, then back
    return losses


@pytest.mark.parametrize(("name", "params"), RULES)
def test_rules_give_the_same_bits_on_threads(
    threads: pytest.MonkeyPatch, name: str, params: dict[str, object]
) -> None:
    losses = a_run(1200)
    rule = get_rule(name, **params)
    results = {}
    for count in ("1", "2", "5"):
        threads.setenv("SYNTHLOSS_THREADS", count)
        report = find_spikes(losses, rule)
        results[count] = [bits(a) for a in (report.reference, report.score, report.mask)]
    for count in ("2", "5"):
        for got, want in zip(results[count], results["1"], strict=True):
            assert got.tolist() == want.tolist(), count
    assert 0 < report.mask.sum() < 200


# -- a bad SYNTHLOSS_THREADS stops pytest and the command line before anything runs -------------


def test_a_bad_thread_count_is_a_pytest_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        "def test_it(synthloss_curve):\n    assert synthloss_curve.losses.size == 20\n"
    )
    monkeypatch.setenv("SYNTHLOSS_THREADS", "two")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        "ERROR: SYNTHLOSS_THREADS must be an integer from 1 to 1024, got 'two'",
        "",
    ]
    monkeypatch.setenv("SYNTHLOSS_THREADS", "2")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_thread_count_is_a_command_line_error(tmp_path: Path) -> None:
    out = tmp_path / "curve.csv"
    out.write_text("previous\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest_synthloss", "curve", "--steps", "5", "-o", str(out)],
        env={**os.environ, "SYNTHLOSS_THREADS": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "synthloss curve: error: SYNTHLOSS_THREADS must be an integer from 1 to 1024, got '0'\n"
    )
    assert out.read_text() == "previous\n"


@pytest.mark.parametrize("size", [1, 7, 123, 1000, 1001])
def test_the_ema_gives_the_kernels_bits_on_threads(threads: pytest.MonkeyPatch, size: int) -> None:
    values = 2.0 + np.random.default_rng(size).standard_normal(size)
    want = np.concatenate([[np.nan], ema(values, 0.2)[:-1]])
    for count in ("1", "3"):
        threads.setenv("SYNTHLOSS_THREADS", count)
        assert bits(ema_before(values, 0.2)).tolist() == bits(want).tolist(), count
