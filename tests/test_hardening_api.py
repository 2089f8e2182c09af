"""Issue 12, the library: exports, read_log, huge numbers, odd arrays, names, message cost.

Each test asserts the exact ``SynthLossError`` message and the files left behind.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hardening import fill, small_tmpfs

from pytest_synthloss import (
    Divergence,
    Faults,
    LossAssertionError,
    Noise,
    Profile,
    SynthLossError,
    TrainingRun,
    assert_all_finite,
    make_curve,
    read_log,
    score_alerts,
    sweep,
    synthetic_losses,
    write_log,
    write_promtool_test,
)
from pytest_synthloss.checks import messages
from pytest_synthloss.checks.rules import RunningMeanRatio
from pytest_synthloss.core.stream import LossStream
from pytest_synthloss.core.validation import check_step

BIG = 10**400  # more than a float holds
HUGE = 10**5000  # more digits than int() prints (4300)

# -- Medium 8: exports whole or not at all --------------------------------------------------


def test_promtool_test_into_a_directory_or_a_missing_one(tmp_path: Path) -> None:
    for target, reason in (
        (tmp_path, "Is a directory"),
        (tmp_path / "no" / "t.yml", "No such file or directory"),
    ):
        with pytest.raises(SynthLossError) as info:
            write_promtool_test(target, make_curve(5), alertname="A", rule_files="rules.yml")
        assert str(info.value) == f"cannot write promtool test file {str(target)!r}: {reason}"
    assert list(tmp_path.iterdir()) == []


def test_exports_on_a_full_disk_leave_the_previous_file_and_no_partial_one() -> None:
    with small_tmpfs() as disk:
        test_file = disk / "t.yml"
        test_file.write_text("previous\n")
        log = disk / "run.jsonl"
        log.write_text("previous\n")
        fill(disk)
        with pytest.raises(SynthLossError) as info:
            write_promtool_test(test_file, make_curve(3000), alertname="A", rule_files="rules.yml")
        assert str(info.value) == (
            f"cannot write promtool test file {str(test_file)!r}: No space left on device"
        )
        with pytest.raises(SynthLossError) as info:
            write_log(make_curve(3000), log)
        assert str(info.value) == f"cannot write log {str(log)!r}: No space left on device"
        assert test_file.read_text() == log.read_text() == "previous\n"
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "run.jsonl", "t.yml"]


def test_tensorboard_on_a_full_disk_leaves_no_event_file() -> None:
    pytest.importorskip("tensorboard")
    from pytest_synthloss.exports.tensorboard import write_tensorboard

    with small_tmpfs() as disk:
        fill(disk)
        with pytest.raises(SynthLossError, match=r"^cannot write event file '.*': No space left"):
            write_tensorboard(make_curve(3000), disk / "run", wall_time=0.0)
        assert [p.name for p in disk.rglob("events.*")] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wall_time": math.inf}, "got inf"),
        ({"wall_time": math.nan}, "got nan"),
        ({"wall_time": 1e300}, "got 1e+300"),
    ],
)
def test_tensorboard_wall_time_is_finite_and_bounded(
    tmp_path: Path, kwargs: dict[str, float], message: str
) -> None:
    pytest.importorskip("tensorboard")
    from pytest_synthloss.exports.tensorboard import write_tensorboard

    with pytest.raises(SynthLossError) as info:
        write_tensorboard(make_curve(3), tmp_path, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == (
        "wall_time must be a finite number of seconds from 0 to 253402300799 "
        f"(the end of the year 9999), {message}"
    )
    with pytest.raises(SynthLossError) as info:
        write_tensorboard(make_curve(3), tmp_path, seconds_per_step=math.nan)
    assert str(info.value) == "seconds_per_step must be a finite number of seconds >= 0, got nan"
    assert list(tmp_path.iterdir()) == []


# -- Medium 10: read_log is bounded and strict ------------------------------------------------


def test_read_log_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        started = time.monotonic()
        with pytest.raises(SynthLossError) as info:
            read_log(path)
        assert time.monotonic() - started < 5  # never blocks on a FIFO without a writer
        assert str(info.value) == (
            f"cannot read log {str(path)!r}: not a regular file; pass the lines (an iterable "
            "of str, such as an open stream) to read a pipe or a device"
        )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Step 1: loss=2.", "loss must be a number, got '2.'"),
        ("Step 1: loss=1_000", "loss must be a number, got '1_000'"),
        ("Step 1: loss=\u0661.5", "loss must be a number, got '\u0661.5'"),
        ("Step 01: loss=1.5", "step must be an integer >= 1, got '01'"),
        ("Step \u0661: loss=1.5", "not a 'Step N: loss=X.XX' line"),
    ],
)
def test_read_log_refuses_what_is_not_a_number_of_the_grammar(line: str, reason: str) -> None:
    with pytest.raises(SynthLossError) as info:
        read_log([line], "text")
    assert str(info.value) == f"line 1: {reason} in text log: {line!r}"
    assert read_log([line], "text", skip_malformed=True).skipped == ((1, line),)


def test_read_log_refuses_a_number_of_a_million_digits() -> None:
    line = "Step 1: loss=" + "9" * 1_000_000
    with pytest.raises(SynthLossError, match=r"^line 1: loss must be a number, got '9999"):
        read_log([line], "text")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            '{"step": 1, "loss": 1' + "0" * 400 + "}",
            "loss an integer of 401 digits is too large for a float",
        ),
        ('{"step": 1, "loss": 1e400}', "invalid JSON (number '1e400' is too large for a float)"),
        ('{"step": 1, "loss": 1.5, "loss": 2.5}', "duplicate key 'loss'"),
    ],
)
def test_read_log_jsonl_overflow_and_duplicate_keys_are_malformed(line: str, reason: str) -> None:
    with pytest.raises(SynthLossError) as info:
        read_log([line], "jsonl")
    assert str(info.value).startswith(f"line 1: {reason} in jsonl log: ")
    assert read_log([line], "jsonl", skip_malformed=True).skipped == ((1, line),)


def test_read_log_bounds_the_line_length(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_text("Step 1: loss=1.5\n" + "x" * (2 << 20) + "\n")
    with pytest.raises(SynthLossError, match=r"^line 2: longer than 1048576 characters"):
        read_log(path)


# -- Low: huge integers are SynthLossError, never OverflowError/ValueError --------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Profile("p", start=BIG), "profile 'p': start must be a finite number >= 0"),
        (lambda: Profile("p", decay=BIG), "profile 'p': decay must be a finite number >= 0"),
        (lambda: Noise(sigma=BIG, seed=1), "noise sigma must be a finite number >= 0"),
        (lambda: make_curve(5, lr=BIG), "lr must be a finite number > 0 or None"),
        (lambda: sweep(lr=[BIG]), "lr must be a finite number > 0 or None"),
        (lambda: Faults(stall=(3, BIG)), "stall seconds must be a finite number > 0 and <= 86400"),
        (lambda: TrainingRun("x.log", steps=5, lr=BIG), "lr must be a finite number > 0 or None"),
        (
            lambda: LossStream(make_curve(3), interval=BIG),
            "interval must be a finite number of seconds >= 0",
        ),
    ],
)
def test_huge_integers_are_refused_by_name(make: Any, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        make()
    assert str(info.value) == f"{message}, got an integer of 401 digits"


def test_divergence_and_integers_beyond_4300_digits() -> None:
    with pytest.raises(SynthLossError, match=r"got an integer of about 5000 digits$"):
        Divergence(start_step=5, rate=HUGE)
    with pytest.raises(SynthLossError) as info:
        check_step(HUGE, "steps")
    assert str(info.value) == (
        f"steps must be an integer from 1 to {2**63 - 1}, got an integer of about 5000 digits"
    )


# -- Medium 7 and Low: odd arrays -----------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (np.array([1.0, 2.5]), "got 2.5 at index 1 (a float step must be a whole number)"),
        ([1.0, math.nan], "got nan at index 1 (a float step must be a whole number)"),
        (np.array([1, 2, None], dtype=object), "got None (NoneType) at index 2"),
    ],
)
def test_arrays_name_the_first_offending_element(steps: Any, message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        synthetic_losses(steps)
    assert str(info.value) == f"steps must be integers >= 1, {message}"


def test_score_alerts_names_the_first_bad_alert() -> None:
    with pytest.raises(SynthLossError) as info:
        score_alerts(np.array([4.0, 5.5]), make_curve(20, "spiky"))
    assert str(info.value) == (
        "alert steps must be integers >= 1, got 5.5 at index 1 "
        "(a float step must be a whole number)"
    )


def test_masked_arrays_are_refused() -> None:
    masked = np.ma.array([1, 0, 3], mask=[False, True, False])
    for call in (lambda: synthetic_losses(masked), lambda: assert_all_finite(masked)):
        with pytest.raises(SynthLossError, match=r"must not be a masked array"):
            call()


class _GradTensor:
    """Enough of a torch tensor with ``requires_grad=True``: ``__array__`` refuses."""

    requires_grad = True

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        return np.array(self.values, dtype=dtype)

    def detach(self) -> _GradTensor:
        plain = _GradTensor(self.values)
        plain.requires_grad = False
        return plain


def test_tensors_that_need_a_gradient_are_detached() -> None:
    with pytest.raises(LossAssertionError, match=r"^Non-finite losses found: 1 / 3 steps"):
        assert_all_finite(_GradTensor([1.0, math.nan, 2.0]))


def test_numpy_scalars_are_numbers() -> None:
    assert RunningMeanRatio(threshold=np.float32(2.5), window=np.int64(4)).window == 4
    assert LossStream(make_curve(3), interval=np.float32(2.0)).interval == 2.0


# -- Low: profile names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [" spiky ", "a\nb", "tab\there", "\ud800", "x" * 201])
def test_profile_names_are_printable_without_surrounding_spaces(name: str) -> None:
    with pytest.raises(
        SynthLossError, match=r"^profile name must be a non-empty string of at most 200"
    ):
        Profile(name)


# -- Medium 11: failure messages cost what they show ------------------------------------------


def test_a_failure_message_formats_only_the_rows_it_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = messages.num

    def counting(value: float) -> str:
        calls.append(value)
        return real(value)

    monkeypatch.setattr("pytest_synthloss.checks.finite_assertions.num", counting)
    with pytest.raises(LossAssertionError) as info:
        assert_all_finite(np.full(100_000, math.nan))
    assert len(calls) <= 20  # 10 rows of at most 2 numbers, not 100,000
    assert " ... 99990 more" in str(info.value).splitlines()


# -- Medium 6: a TrainingRun's child and signals --------------------------------------------


def test_a_signal_right_after_start_gives_130(tmp_path: Path) -> None:
    with TrainingRun(tmp_path / "run.log", steps=100, sleep_seconds=0.05) as run:
        run.send_signal(signal.SIGINT)
        assert run.wait() == 130
        assert run.stderr() == "synthloss train: stopped by SIGINT after 0 of 100 steps\n"
    assert not (tmp_path / "run.log").exists()  # stopped before its first line


def test_the_child_stops_when_its_parent_dies(tmp_path: Path) -> None:
    code = (
        "import time, sys\n"
        "from pytest_synthloss import TrainingRun\n"
        f"run = TrainingRun({str(tmp_path / 'run.log')!r}, steps=10000, sleep_seconds=0.02)\n"
        "run.start(); run.wait_for_lines(2)\n"
        "print(run.pid, flush=True); time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.terminate()  # pytest killed with SIGTERM: no teardown runs in the parent
        assert parent.wait(10) == -signal.SIGTERM
    deadline = time.monotonic() + 10
    status = Path(f"/proc/{child}/status")
    while time.monotonic() < deadline:
        if not status.exists() or "State:\tZ" in status.read_text():
            break  # gone, or exited and waiting to be reaped by its new parent
        time.sleep(0.02)
    else:
        pytest.fail(f"the child {child} still runs 10 s after its parent died")
    logged = (tmp_path / "run.log").read_text()
    assert logged.endswith("\n")  # it stopped after a complete line
    threading.Event().wait(0.1)
