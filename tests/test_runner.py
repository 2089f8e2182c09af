"""``TrainingRun`` and the ``synthloss_run`` fixture: a real child process, always cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_synthloss import SynthLossError, TrainingRun, make_curve, read_log


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def tail_for_spikes(path: Path, process: subprocess.Popen[bytes], threshold: float) -> list[int]:
    """A stand-in for real monitoring code: tails a JSONL log and alerts on high losses."""
    import json

    alerts: list[int] = []
    while not path.exists():
        time.sleep(0.005)
    with open(path, encoding="utf-8") as handle:
        pending = ""
        while True:
            chunk = handle.readline()
            if not chunk:
                if process.poll() is not None and not handle.read(1):
                    return alerts
                time.sleep(0.005)
                continue
            pending += chunk
            if not pending.endswith("\n"):
                continue
            record = json.loads(pending)
            pending = ""
            if record["loss"] > threshold:
                alerts.append(record["step"])


def test_a_tailing_monitor_sees_the_live_run(tmp_path: Path) -> None:
    with TrainingRun(
        tmp_path / "run.jsonl", steps=12, profile="spiky", sleep_seconds=0.02, format="jsonl"
    ) as run:
        first = run.wait_for_steps(2)
        assert run.running  # still live: 10 steps of 0.02 s to go
        assert first.steps.tolist()[:2] == [1, 2]
        alerts = tail_for_spikes(run.path, run.process, threshold=5.0)
        assert run.wait() == 0
    assert alerts == [4, 5]
    assert run.read().to_curve() == make_curve(12, "spiky")
    assert run.read().losses.tolist() == make_curve(12, "spiky").losses.tolist()
    assert run.returncode == 0
    assert not run.running


def test_lines_and_config_reach_the_file(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path / "run.log", steps=3, lr=3e-4, batch_size=32, start_step=4)
    assert run.lines() == []
    assert run.returncode is None
    with run:
        assert run.wait() == 0
        assert run.lines() == [
            "# synthloss run: profile=stable steps=3 start_step=4 lr=0.0003 batch_size=32",
            "Step 4: loss=1.97",
            "Step 5: loss=1.90",
            "Step 6: loss=1.83",
        ]
        assert run.stderr() == ""
    parsed = read_log(run.path)
    assert (parsed.lr, parsed.batch_size) == (3e-4, 32)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_stop_the_run_with_complete_lines(tmp_path: Path, signum: int, code: int) -> None:
    with TrainingRun(tmp_path / "run.csv", steps=5000, sleep_seconds=0.01, format="csv") as run:
        run.wait_for_steps(3)
        run.send_signal(signum)
        assert run.wait() == code
        assert run.path.read_text().endswith("\n")
        parsed = run.read()
        assert parsed.steps.tolist() == list(range(1, len(parsed) + 1))
        name = signal.Signals(signum).name
        assert (
            run.stderr()
            == f"synthloss train: stopped by {name} after {len(parsed)} of 5000 steps\n"
        )


def test_terminate_and_timeouts(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path / "run.log", steps=10_000, sleep_seconds=0.05)
    assert run.terminate() is None  # never started
    run.start()
    with pytest.raises(TimeoutError, match=r"training run still live after 0\.05 s"):
        run.wait(timeout=0.05)
    with pytest.raises(TimeoutError, match=r"of 10000 lines after 0\.05 s"):
        run.wait_for_lines(10_000, timeout=0.05)
    run.wait_for_steps(1)  # before its signal handlers are installed, SIGTERM just kills it
    assert run.terminate() == 143
    assert not _alive(run.pid)
    run.close()


def test_a_run_that_fails_in_the_child_reports_its_error(tmp_path: Path) -> None:
    # Only what the child alone can find out fails there: here, a directory removed after
    # the run was made (a missing directory at construction is refused there).
    (tmp_path / "missing").mkdir()
    path = tmp_path / "missing" / "run.log"
    run = TrainingRun(path, steps=5)
    (tmp_path / "missing").rmdir()
    with run:
        with pytest.raises(SynthLossError) as info:
            run.wait_for_steps(1)
        assert run.wait() == 2
    assert str(info.value) == (
        "the run exited with code 2 after 0 steps, before step 1; stderr: "
        f"\"synthloss train: error: cannot write output file '{path}': "
        'No such file or directory\\n"'
    )
    assert not path.exists()


@pytest.mark.parametrize(
    ("where", "reason"), [("missing/run.log", "No such file or directory"), (".", "Is a directory")]
)
def test_an_unwritable_output_path_is_refused_before_the_start(
    where: str, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / where
    with pytest.raises(SynthLossError) as info:
        TrainingRun(path, steps=5)
    assert str(info.value) == f"cannot write output file {str(path)!r}: {reason}"


def test_waiting_for_a_run_never_started_is_an_error(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path / "run.log", steps=5)
    with pytest.raises(SynthLossError) as info:
        run.wait()
    assert str(info.value) == (f"wait() on a run that was never started: {run!r}; call start()")
    assert run.returncode is None
    assert not (tmp_path / "run.log").exists()


def test_waiting_counts_steps_not_the_header_line(tmp_path: Path) -> None:
    with TrainingRun(tmp_path / "run.log", steps=5, crash=(1, 3)) as run:
        assert run.wait() == 3
        with pytest.raises(SynthLossError) as info:
            run.wait_for_steps(2)
        assert run.wait_for_lines(2) == [
            "# synthloss run: profile=stable steps=5 start_step=1 lr=None batch_size=None",
            "Step 1: loss=2.18",
        ]
        with pytest.raises(SynthLossError) as lines_info:
            run.wait_for_lines(3)
    assert str(info.value) == (
        "the run exited with code 3 after 1 step, before step 2; stderr: "
        "'synthloss train: crashed after step 1 (injected fault), exit code 3\\n'"
    )
    assert str(lines_info.value).startswith(
        "the run exited with code 3 after 2 lines, before line 3; stderr: "
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be an integer >= 1, got 0"),
        ({"steps": True}, "steps must be an integer >= 1, got True (bool)"),
        ({"steps": 5, "start_step": 0}, "start_step must be an integer >= 1, got 0"),
        (
            {"steps": 5, "profile": "spikey"},
            "unknown profile 'spikey'; known profiles: stable, spiky, nan, inf, diverging, "
            "plateau, noisy, noisy-spiky, llm-pretrain, llm-pretrain-trouble, wsd, "
            "finetune-epochs, step-decay, slow-divergence, fp16-overflow, ranks-4, trials-8 "
            "(did you mean 'spiky'?)",
        ),
        (
            {"steps": 5, "profile": None},
            "profile must be a Profile or the name of a registered profile, got None",
        ),
        (
            {"steps": 5, "format": "xml"},
            "unknown log format 'xml'; known formats: text, jsonl, csv",
        ),
        (
            {"steps": 5, "format": ["text"]},
            "unknown log format ['text']; known formats: text, jsonl, csv",
        ),
        (
            {"steps": 5, "sleep_seconds": -1},
            "sleep_seconds must be a finite number of seconds from 0 to 86400, got -1",
        ),
        (
            {"steps": 5, "sleep_seconds": float("nan")},
            "sleep_seconds must be a finite number of seconds from 0 to 86400, got nan",
        ),
        ({"steps": 5, "lr": 0}, "lr must be a finite number > 0 or None, got 0"),
        ({"steps": 5, "batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        (
            {"steps": 5, "metrics_port": 70000},
            "metrics_port must be a port number from 0 to 65535 (0: any free port), got 70000",
        ),
        ({"steps": 5, "drop": (9,)}, "dropped step 9 is outside the run; the run's steps are 1..5"),
    ],
)
def test_bad_arguments_raise_before_launch(
    kwargs: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(SynthLossError) as info:
        TrainingRun(tmp_path / "run.log", **kwargs)
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda run: run.wait_for_steps(0), "count must be an integer >= 1, got 0"),
        (lambda run: run.wait_for_steps(-1), "count must be an integer >= 1, got -1"),
        (lambda run: run.wait_for_steps(True), "count must be an integer >= 1, got True (bool)"),
        (lambda run: run.wait_for_lines(0), "count must be an integer >= 1, got 0"),
        (lambda run: run.wait_for_steps(1, -1), "timeout must be a finite number >= 0, got -1"),
        (lambda run: run.wait(timeout=-1), "timeout must be a finite number >= 0, got -1"),
        (
            lambda run: run.wait(timeout=float("nan")),
            "timeout must be a finite number >= 0, got nan",
        ),
    ],
)
def test_bad_wait_arguments(
    call: Callable[[TrainingRun], object], message: str, tmp_path: Path
) -> None:
    run = TrainingRun(tmp_path / "run.log", steps=5)
    with pytest.raises(SynthLossError) as info:
        call(run)
    assert str(info.value) == message
    assert run.returncode is None  # checked before the run was even started


def test_the_context_manager_ends_the_process(tmp_path: Path) -> None:
    run = TrainingRun(tmp_path / "run.log", steps=10_000, sleep_seconds=0.05)

    def failing_test() -> None:
        with run:
            run.wait_for_steps(1)
            raise RuntimeError("test failed")

    with pytest.raises(RuntimeError, match="test failed"):
        failing_test()
    assert not _alive(run.pid)
    assert run.returncode == 143
    assert "pid" in repr(run)


def test_importing_the_fixture_module_does_not_import_numpy() -> None:
    code = (
        "import sys, pytest_synthloss.plugin.hooks, pytest_synthloss.plugin.run_fixture;"
        "import pytest_synthloss.emulation.runner;"
        "print('numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


def test_fixture_cleans_up_even_when_the_test_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os

        def test_live(synthloss_run, tmp_path):
            run = synthloss_run(steps=10_000, profile="spiky", sleep_seconds=0.05, format="jsonl")
            log = run.wait_for_steps(4)
            assert log.losses.tolist()[3] == 9.7
            assert run.path.parent == tmp_path and run.path.suffix == ".jsonl"
            open(os.environ["PID_FILE"], "w").write(str(run.pid))
            assert False, "deliberate failure while the run is live"

        def test_finishes(synthloss_run):
            run = synthloss_run(steps=3)
            assert run.wait() == 0
            assert run.lines()[1:] == [
                "Step 1: loss=2.18", "Step 2: loss=2.11", "Step 3: loss=2.04"
            ]
        """
    )
    pid_file = pytester.path / "pid.txt"
    monkeypatch.setenv("PID_FILE", str(pid_file))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*deliberate failure while the run is live*"])
    assert not _alive(int(pid_file.read_text()))
