"""Each emulator fault, seen by a reader tailing a real ``synthloss train`` child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_synthloss import Faults, SynthLossError, TrainingRun, make_curve, read_log

StartRun = Callable[..., TrainingRun]


def tail(path: Path, process: subprocess.Popen[bytes]) -> list[tuple[float, str]]:
    """Follow ``path`` like ``tail -f`` until ``process`` exits: ``(time, line)`` pairs.

    The time is the file's mtime when the line was read (``time.time()`` clock): when the
    reader keeps up, that is when the line was written, however late the reader was
    scheduled. Partial lines are kept back until their newline arrives (never the case for
    synthloss, which this checks: every line handed out is complete).
    """
    while not path.exists():
        assert process.poll() is None or path.exists(), "the run exited without a log"
        time.sleep(0.002)
    arrivals: list[tuple[float, str]] = []
    pending = ""
    with open(path, encoding="utf-8") as handle:
        while True:
            chunk = handle.readline()
            if chunk:
                pending += chunk
                if pending.endswith("\n"):
                    arrivals.append((os.fstat(handle.fileno()).st_mtime, pending))
                    pending = ""
                continue
            if process.poll() is not None:
                rest = handle.read()
                if not rest:
                    assert pending == "", f"the run ended on a partial line {pending!r}"
                    return arrivals
                pending += rest
                continue
            time.sleep(0.002)


def test_a_stall_is_a_silent_gap_before_its_step(synthloss_run: StartRun) -> None:
    run = synthloss_run(steps=6, sleep_seconds=0.01, stall=(4, 0.35))
    arrivals = tail(run.path, run.process)
    assert run.wait() == 0
    assert run.faults.stall_step == 4
    lines = [line for _, line in arrivals]
    assert lines[1:] == [f"Step {s}: loss={make_curve(6).loss_at(s):.2f}\n" for s in range(1, 7)]
    times = [t for t, _ in arrivals[1:]]
    # The file did not change for 0.35 s before step 4: a lower bound with room for a coarse mtime.
    assert times[3] - times[2] >= 0.3
    assert read_log(run.path).steps.tolist() == [1, 2, 3, 4, 5, 6]


def test_a_restart_repeats_its_steps_for_the_reader(synthloss_run: StartRun) -> None:
    run = synthloss_run(
        steps=12, profile="spiky", sleep_seconds=0.005, format="jsonl", restart=(6, 3)
    )
    arrivals = tail(run.path, run.process)
    assert run.wait() == 0
    log = read_log([line for _, line in arrivals])
    assert log.steps.tolist() == list(run.logged_steps)
    assert run.logged_steps == (1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    assert log.repeated_steps == run.faults.repeated_steps == (4, 5, 6)
    assert log.losses.tolist()[3:9] == [9.7, 9.5, 1.83, 9.7, 9.5, 1.83]  # the spike twice
    assert log.deduplicated().to_curve() == make_curve(12, "spiky")


def test_dropped_steps_are_missing_for_the_reader(synthloss_run: StartRun) -> None:
    run = synthloss_run(steps=10, sleep_seconds=0.005, format="csv", drop=[7, 8, 3])
    arrivals = tail(run.path, run.process)
    assert run.wait() == 0
    log = read_log([line for _, line in arrivals])
    assert log.steps.tolist() == [1, 2, 4, 5, 6, 9, 10]
    assert log.missing_steps == run.faults.missing_steps == (3, 7, 8)
    assert log.gaps == ((3, 3), (7, 8))
    assert log.losses.tolist() == [make_curve(10).loss_at(s) for s in log.steps.tolist()]


@pytest.mark.parametrize(("crash", "code"), [(5, 1), ((5, 3), 3)])
def test_a_crash_exits_with_its_code_after_a_complete_line(
    synthloss_run: StartRun, crash: int | tuple[int, int], code: int
) -> None:
    run = synthloss_run(steps=10, sleep_seconds=0.005, crash=crash)
    arrivals = tail(run.path, run.process)
    assert run.wait() == code == run.faults.exit_code
    assert run.path.read_text().endswith("Step 5: loss=1.90\n")
    assert [line for _, line in arrivals][-1] == "Step 5: loss=1.90\n"
    assert read_log(run.path).steps.tolist() == [1, 2, 3, 4, 5]
    assert run.stderr() == (
        f"synthloss train: crashed after step 5 (injected fault), exit code {code}\n"
    )


def test_every_fault_at_once_through_a_pipe() -> None:
    """The reader is the parent of a plain ``synthloss train`` reading its stdout pipe."""
    faults = Faults(stall=(3, 0.6), restart=(6, 2), drop=(8,), crash=(10, 7))
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest_synthloss", "train", "--steps=12", "--format=jsonl"),
            *("--sleep-seconds=0.005", *faults.to_args()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    arrivals = [(time.monotonic(), line) for line in process.stdout]
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 7
    assert stderr == "synthloss train: crashed after step 10 (injected fault), exit code 7\n"
    log = read_log([line for _, line in arrivals])
    assert log.steps.tolist() == [1, 2, 3, 4, 5, 6, 5, 6, 7, 9, 10]
    assert (log.repeated_steps, log.missing_steps) == ((5, 6), (8,))
    # Silence before step 3: a lower bound with room for a reader scheduled late.
    assert arrivals[2][0] - arrivals[1][0] >= 0.3


def test_bad_faults_are_refused_before_the_child_starts(tmp_path: Path) -> None:
    with pytest.raises(SynthLossError) as info:
        TrainingRun(tmp_path / "run.log", steps=5, restart=(4, 2), crash=3)
    assert str(info.value) == (
        "the crash at step 3 comes before the restart after step 4, which would never "
        "happen; crash at a later step"
    )
    with pytest.raises(SynthLossError, match=r"^stall step 9 is outside the run; the run's steps"):
        TrainingRun(tmp_path / "run.log", steps=5, stall=(9, 1.0))
    assert list(tmp_path.iterdir()) == []
