"""The run loop: pacing with a fake clock, clean stops on real signals, bulk mode, progress."""

from __future__ import annotations

import io
import signal
import threading
from typing import Any

import pytest

from pytest_synthloss import make_curve, read_log
from pytest_synthloss.emulation.emulator import (
    BULK_CHUNK,
    Progress,
    RunResult,
    StopSignals,
    emulate,
)
from pytest_synthloss.emulation.logwriter import LogWriter

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed in the main thread",
)


class FakeClock:
    """A clock that only moves when the run sleeps (or when a test moves it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Stream(io.StringIO):
    """Records each write with the fake time it happened at."""

    def __init__(self, clock: FakeClock, cost: float = 0.0) -> None:
        super().__init__()
        self.clock = clock
        self.cost = cost
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((self.clock.now, text))
        self.clock.now += self.cost
        return super().write(text)


def _run(
    steps: int, sleep_seconds: float, clock: FakeClock, stream: Stream, **kw: Any
) -> RunResult:
    curve = make_curve(steps, kw.pop("profile", "stable"))
    writer = LogWriter(stream, kw.pop("fmt", "text"), curve.config)
    with StopSignals(sleep=kw.pop("sleep", clock.sleep)) as stop:
        return emulate(curve, writer, sleep_seconds=sleep_seconds, clock=clock, stop=stop, **kw)


def test_each_step_is_logged_after_its_sleep() -> None:
    clock = FakeClock()
    stream = Stream(clock)
    result = _run(5, 0.1, clock, stream)
    assert result == RunResult(5, 5, None)
    assert result.exit_code == 0
    assert clock.sleeps == pytest.approx([0.1] * 5)
    times = [t - 100.0 for t, _ in stream.writes]
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])  # header, then steps 1..5
    assert [text for _, text in stream.writes[1:]] == [
        "Step 1: loss=2.18\n",
        "Step 2: loss=2.11\n",
        "Step 3: loss=2.04\n",
        "Step 4: loss=1.97\n",
        "Step 5: loss=1.90\n",
    ]


def test_pacing_follows_deadlines_so_slow_writes_do_not_add_up() -> None:
    clock = FakeClock()
    stream = Stream(clock, cost=0.03)
    _run(4, 0.1, clock, stream)
    # Each write costs 0.03 s, so the next sleep is shorter: step k still lands k * 0.1 s
    # after the start (which is when the header is written: 0.03 s in).
    assert clock.sleeps == pytest.approx([0.1, 0.07, 0.07, 0.07])
    assert [t - 100.0 for t, _ in stream.writes[1:]] == pytest.approx([0.13, 0.23, 0.33, 0.43])


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_sleep_stops_the_run_cleanly(signum: int, code: int) -> None:
    clock = FakeClock()
    stream = Stream(clock)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 3:
            signal.raise_signal(signum)  # a real signal, handled by StopSignals
            pytest.fail("the signal should have interrupted the sleep")

    result = _run(10, 0.1, clock, stream, sleep=sleep)
    assert result == RunResult(2, 10, signum)
    assert result.exit_code == code
    assert stream.getvalue().splitlines()[1:] == ["Step 1: loss=2.18", "Step 2: loss=2.11"]


def test_a_signal_during_a_write_lets_the_line_finish() -> None:
    clock = FakeClock()

    class Interrupting(Stream):
        def write(self, text: str) -> int:
            if text.startswith('{"step": 3,'):
                signal.raise_signal(signal.SIGTERM)  # arrives mid-write: only recorded
            return super().write(text)

    stream = Interrupting(clock)
    result = _run(10, 0.1, clock, stream, fmt="jsonl")
    assert result == RunResult(3, 10, signal.SIGTERM)
    assert stream.getvalue().endswith("\n")
    assert read_log(stream.getvalue().splitlines()).steps.tolist() == [1, 2, 3]


def test_signal_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_without_sleep_lines_go_out_in_whole_chunks() -> None:
    clock = FakeClock()
    stream = Stream(clock)
    result = _run(BULK_CHUNK + 1, 0.0, clock, stream, profile="spiky", fmt="csv")
    assert result.steps_written == BULK_CHUNK + 1
    assert clock.sleeps == []
    assert [text.count("\n") for _, text in stream.writes] == [1, BULK_CHUNK, 1]
    parsed = read_log(stream.getvalue().splitlines())
    assert parsed.to_curve() == make_curve(BULK_CHUNK + 1, "spiky")


def test_a_stop_before_a_chunk_ends_a_bulk_run() -> None:
    clock = FakeClock()

    class Interrupting(Stream):
        def write(self, text: str) -> int:
            if text.startswith("1,"):
                signal.raise_signal(signal.SIGINT)
            return super().write(text)

    stream = Interrupting(clock)
    result = _run(3 * BULK_CHUNK, 0.0, clock, stream, fmt="csv")
    assert result == RunResult(BULK_CHUNK, 3 * BULK_CHUNK, signal.SIGINT)


def test_progress_line_is_rewritten_and_throttled() -> None:
    clock = FakeClock()
    stream = Stream(clock)
    errors = io.StringIO()
    progress = Progress(errors, clock=clock, interval=0.25)
    _run(5, 0.1, clock, stream, progress=progress)
    shown = errors.getvalue()
    assert shown.endswith("\n")
    updates = shown.rstrip("\n").split("\r")[1:]
    # Shown at step 1, then once 0.25 s passed (step 4), and always at the last step.
    assert [u.split(" (")[0] for u in updates] == ["step 1", "step 4", "step 5"]
    assert updates[-1].rstrip() == "step 5 (5/5, 100%) loss=1.9 elapsed 0.5s eta 0.0s"
    assert "\r" not in stream.getvalue()  # never in the data stream


def test_progress_shows_nothing_for_an_empty_stop() -> None:
    errors = io.StringIO()
    Progress(errors).close()
    assert errors.getvalue() == ""
