"""The ``synthloss`` CLI: in-process through ``main(argv)`` and as real child processes."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_synthloss import available_profiles, make_curve, read_log
from pytest_synthloss.cli.main import main, train_main

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SYNTHLOSS = [PYTHON, "-m", "pytest_synthloss"]

#: The spec's "Validation Test Results", line for line.
SPEC_VALIDATION_LINES = [
    "Step 1: loss=2.18",
    "Step 2: loss=2.11",
    "Step 3: loss=2.04",
    "Step 4: loss=1.97",
    "Step 5: loss=1.90",
]

KNOWN = ", ".join(available_profiles())


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[str]) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        assert process.poll() is None, f"run ended early: {process.communicate()}"
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} lines in {path} after 30 s")


# -- the spec's validation run ----------------------------------------------------------


def test_spec_validation_run_of_train_gpt2_line_for_line() -> None:
    done = subprocess.run(
        [PYTHON, "train_gpt2.py", "--steps", "5", "--sleep-seconds", "0.1", "--profile", "stable"],
        cwd=ROOT / "examples",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    header, *lines = done.stdout.splitlines()
    assert header == "# synthloss run: profile=stable steps=5 start_step=1 lr=None batch_size=None"
    assert lines == SPEC_VALIDATION_LINES
    assert read_log(done.stdout.splitlines()).to_curve() == make_curve(5, "stable")


def test_train_main_is_the_train_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert train_main(["--steps", "5", "--profile", "stable"], prog="train_gpt2.py") == 0
    assert capsys.readouterr().out.splitlines()[1:] == SPEC_VALIDATION_LINES
    assert train_main(["--steps", "0"], prog="train_gpt2.py") == 2
    assert capsys.readouterr().err == (
        "train_gpt2.py: error: argument --steps: must be an integer >= 1, got '0'\n"
    )


# -- commands in-process ----------------------------------------------------------------


def test_curve_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["curve", "--steps", "5", "--profile", "spiky", "--format", "csv"]) == 0
    assert capsys.readouterr().out == (
        "step,loss,profile,lr,batch_size\n"
        "1,2.18,spiky,,\n2,2.11,spiky,,\n3,2.04,spiky,,\n4,9.7,spiky,,\n5,9.5,spiky,,\n"
    )
    argv = ["curve", "--steps", "2", "--start-step", "17", "--lr", "3e-4", "--batch-size", "32"]
    assert main([*argv, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == (
        '{"step": 17, "loss": 1.0599999999999998, "profile": "stable", "lr": 0.0003, '
        '"batch_size": 32}\n'
        '{"step": 18, "loss": 1.05, "profile": "stable", "lr": 0.0003, "batch_size": 32}\n'
    )


def test_train_output_file_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.jsonl"
    argv = ["train", "--steps", "30", "--profile", "spiky", "--format", "jsonl", "-o", str(out)]
    assert main([*argv, "--sleep-seconds", "0.001"]) == 0
    assert capsys.readouterr() == ("", "")
    assert read_log(out).to_curve() == make_curve(30, "spiky")
    assert read_log(out).losses.tolist() == make_curve(30, "spiky").losses.tolist()


def test_profiles_lists_ground_truth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == list(available_profiles())
    assert lines[:3] == [
        "profile               spikes (step: loss)                    floor  floor step  "
        "description",
        "stable                none                                    1.05          18  "
        "Smooth, monotonic decay from 2.18 at step 1 to the 1.05 floor from step 18.",
        "spiky                 4: 9.7, 5: 9.5                          1.05          18  "
        "As stable, with a loss spike at step 4 (9.7) decaying at step 5 (9.5).",
    ]
    assert lines[10][:59] == "llm-pretrain-trouble  300-340: 12, 450-480: 11, 600-601: 11"
    assert main(["profiles", "-v"]) == 0
    previews = capsys.readouterr().out.splitlines()[-len(available_profiles()) :]
    assert previews[:2] == [
        "stable:                ███▇▇▆▆▅▅▄▄▃▃▂▂▁▁▁▁▁",
        "spiky:                 ▂▁▁██▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁",
    ]


def test_sweep_prints_a_ranked_table_and_the_implications(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["sweep", "--steps", "1..30", "--lr", "1e-4,3e-4", "--batch-size", "16,32", "--top", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == [
        "rank  profile  steps      lr  batch_size  final_loss  spikes  floor",
        "   1  stable      18  0.0001          16        1.05       0  yes",
        "   2  stable      18  0.0001          32        1.05       0  yes",
        "   3  stable      18  0.0003          16        1.05       0  yes",
        "... 237 more configs (--top N shows more)",
    ]
    assert out[6:10] == [
        "Best configuration (of 240 configs; final loss 1.05 with 0 spike steps; "
        "51 other configs tie):",
        "- Profile: stable (avoids spikes)",
        "- Steps: ≥18 (reaches floor loss of 1.05)",
        "- Expected final loss: 1.05",
    ]
    assert out[11] == "Implications:"
    assert [line.split(":")[0] for line in out[12:]] == [
        "1. Profile matters",
        "2. Steps matter",
        "3. Hyperparameters don't matter",
        "4. Deterministic",
    ]


@pytest.mark.parametrize("command", [[], ["train"], ["curve"], ["profiles"], ["sweep"], ["plot"]])
def test_help_is_useful(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(['synthloss', *command])} ")
    expected = {
        (): "    train     emulate a live training run (one line per step)",
        ("train",): "--sleep-seconds S",
        ("curve",): "--format {text,jsonl,csv}",
        ("profiles",): "--verbose",
        ("sweep",): "18..30",
        ("plot",): 'pip install "pytest-synthloss[plot]"',
    }[tuple(command)]
    assert expected in out


# -- progress ---------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_off_when_stderr_is_not_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--steps", "3"]) == 0
    assert capsys.readouterr().err == ""


def test_progress_on_a_tty_goes_to_stderr_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _Tty()
    monkeypatch.setattr(sys, "stderr", stderr)
    out = tmp_path / "run.log"
    assert main(["train", "--steps", "3", "--sleep-seconds", "0.01", "-o", str(out)]) == 0
    assert "\rstep 3 (3/3, 100%) loss=2.04" in stderr.getvalue()
    assert "\r" not in out.read_text()
    # The data on the same terminal: no progress line to break it up.
    stdout, stderr = _Tty(), _Tty()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["train", "--steps", "3"]) == 0
    assert stderr.getvalue() == ""
    assert main(["train", "--steps", "3", "--progress"]) == 0
    assert "\rstep 3 (3/3, 100%)" in stderr.getvalue()
    assert "\r" not in stdout.getvalue()


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--steps", "5", "--profile", "nope"],
            f"synthloss train: error: unknown profile 'nope'; known profiles: {KNOWN}",
        ),
        (
            ["train", "--steps", "5", "--profile", "spikey"],
            f"synthloss train: error: unknown profile 'spikey'; known profiles: {KNOWN} "
            "(did you mean 'spiky'?)",
        ),
        (
            ["train", "--steps", "0"],
            "synthloss train: error: argument --steps: must be an integer >= 1, got '0'",
        ),
        (
            ["train", "--steps", "-3"],
            "synthloss train: error: argument --steps: must be an integer >= 1, got '-3'",
        ),
        (
            ["train", "--steps", "2.5"],
            "synthloss train: error: argument --steps: must be an integer >= 1, got '2.5'",
        ),
        (
            ["train", "--steps", "5", "--sleep-seconds", "-1"],
            "synthloss train: error: argument --sleep-seconds: must be a finite number of seconds "
            "from 0 to 86400, got '-1'",
        ),
        (
            ["train", "--steps", "5", "--sleep-seconds", "nan"],
            "synthloss train: error: argument --sleep-seconds: must be a finite number of seconds "
            "from 0 to 86400, got 'nan'",
        ),
        (
            ["train", "--steps", "5", "--sleep-seconds", "inf"],
            "synthloss train: error: argument --sleep-seconds: must be a finite number of seconds "
            "from 0 to 86400, got 'inf'",
        ),
        (
            ["train", "--steps", "5", "--sleep-seconds", "1e10"],
            "synthloss train: error: argument --sleep-seconds: must be a finite number of seconds "
            "from 0 to 86400, got '1e10'",
        ),
        (
            ["train", "--steps", "5", "--format", "xml"],
            "synthloss train: error: argument --format: invalid choice: 'xml' "
            "(choose from 'text', 'jsonl', 'csv')",
        ),
        (
            ["train", "--steps", "5", "--output", "{tmp}/missing/run.log"],
            "synthloss train: error: cannot write output file '{tmp}/missing/run.log': "
            "No such file or directory",
        ),
        (
            ["train", "--steps", "5", "--output", "{tmp}"],
            "synthloss train: error: cannot write output file '{tmp}': Is a directory",
        ),
        (
            ["train", "--steps", "5", "--lr", "0"],
            "synthloss train: error: argument --lr: must be a finite number > 0, got '0'",
        ),
        (
            ["train", "--steps", "5", "--batch-size", "0"],
            "synthloss train: error: argument --batch-size: must be an integer >= 1, got '0'",
        ),
        (
            ["train", "--steps", "5", "--start-step", "0"],
            "synthloss train: error: argument --start-step: must be an integer >= 1, got '0'",
        ),
        (
            ["curve", "--steps", "0", "--output", "{tmp}/run.log"],
            "synthloss curve: error: argument --steps: must be an integer >= 1, got '0'",
        ),
        (
            ["curve", "--steps", "3", "--profile", "nope", "--output", "{tmp}/run.log"],
            f"synthloss curve: error: unknown profile 'nope'; known profiles: {KNOWN}",
        ),
        (
            ["sweep", "--steps", "5..3"],
            "synthloss sweep: error: argument --steps: a range A..B needs A <= B, got '5..3' "
            "(write 3..5)",
        ),
        (
            ["train", "--steps", "3", "--bogus"],
            "synthloss train: error: unrecognized arguments: --bogus",
        ),
        (
            ["curve", "--steps", "3", "--nope", "x"],
            "synthloss curve: error: unrecognized arguments: --nope x",
        ),
        (
            ["sweep", "--profiles", "stable,nope"],
            f"synthloss sweep: error: unknown profile 'nope'; known profiles: {KNOWN}",
        ),
        (
            ["sweep", "--lr", "1e-4,nan"],
            "synthloss sweep: error: argument --lr: must be a finite number > 0, got 'nan'",
        ),
        (
            ["plot", "--steps", "0", "-o", "{tmp}/c.png"],
            "synthloss plot: error: argument --steps: must be an integer >= 1, got '0'",
        ),
        (
            ["plot", "--steps", "5", "--profile", "nope", "-o", "{tmp}/c.png"],
            f"synthloss plot: error: unknown profile 'nope'; known profiles: {KNOWN}",
        ),
        (["fit"], "synthloss: error: argument COMMAND: invalid choice: 'fit' "),
        ([], "synthloss: error: the following arguments are required: COMMAND"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(message.replace("{tmp}", str(tmp_path)))
    assert list(tmp_path.iterdir()) == []


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    out = tmp_path / "run.log"
    done = subprocess.run(
        [*SYNTHLOSS, "train", "--steps", "5", "--profile", "nope", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"synthloss train: error: unknown profile 'nope'; known profiles: {KNOWN}\n"
    )
    assert not out.exists()


# -- real processes: live output, signals, pipes, the console script ---------------------


def test_lines_arrive_live_in_order_over_steps_times_sleep() -> None:
    steps, sleep = 10, 0.05
    started = time.monotonic()
    process = subprocess.Popen(
        [*SYNTHLOSS, "train", f"--steps={steps}", f"--sleep-seconds={sleep}", "--format=jsonl"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    arrivals: list[tuple[float, str]] = []
    with process:
        for line in process.stdout:
            arrivals.append((time.monotonic(), line))
    assert process.returncode == 0
    assert all(line.endswith("\n") for _, line in arrivals)
    assert read_log([line for _, line in arrivals]).steps.tolist() == list(range(1, steps + 1))
    times = [t for t, _ in arrivals]
    assert times == sorted(times)
    assert times[0] < times[-1]
    # Step k is logged k * sleep after the run starts, never earlier: a safe lower bound.
    assert times[-1] - started >= steps * sleep


def test_sigterm_mid_run_leaves_only_complete_lines(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    argv = ["train", "--steps", "1000", "--sleep-seconds", "0.01", "--format", "jsonl"]
    process = subprocess.Popen(
        [*SYNTHLOSS, *argv, "-o", str(out)], stderr=subprocess.PIPE, text=True
    )
    with process:
        _wait_for_lines(out, 3, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143
    text = out.read_text()
    assert text.endswith("\n")
    parsed = read_log(out)
    written = len(parsed)
    assert 3 <= written < 1000
    assert parsed.steps.tolist() == list(range(1, written + 1))
    assert stderr == f"synthloss train: stopped by SIGTERM after {written} of 1000 steps\n"


def test_sigint_mid_run_exits_130_with_complete_lines() -> None:
    process = subprocess.Popen(
        [*SYNTHLOSS, "train", "--steps", "1000", "--sleep-seconds", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with process:
        assert process.stdout is not None
        first = [process.stdout.readline() for _ in range(3)]
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert first[1:] == ["Step 1: loss=2.18\n", "Step 2: loss=2.11\n"]
    text = "".join(first) + rest
    assert text.endswith("\n")
    parsed = read_log(text.splitlines())
    assert parsed.steps.tolist() == list(range(1, len(parsed) + 1))
    assert stderr.startswith("synthloss train: stopped by SIGINT after ")
    assert "Traceback" not in stderr


def test_a_closed_pipe_ends_the_run_quietly() -> None:
    process = subprocess.Popen(
        [*SYNTHLOSS, "curve", "--steps", "2000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline().startswith("# synthloss run: profile=stable")
    process.stdout.close()
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == ""
    process.stderr.close()


def test_console_script() -> None:
    script = Path(PYTHON).with_name("synthloss")
    if not script.exists():
        pytest.skip(f"the console script is not installed next to {PYTHON} (pip install -e .)")
    done = subprocess.run(
        [str(script), "curve", "--steps", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1:] == SPEC_VALIDATION_LINES


# -- ranges, sweeps and failed writes ----------------------------------------------------

MAX = 9223372036854775807


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--steps", "5", "--drop", "2..99999999999999999999"],
            "synthloss train: error: argument --drop: 99999999999999999999 is past the last "
            f"step {MAX}, got '2..99999999999999999999'",
        ),
        (
            ["train", "--steps", "5", "--drop", "2..100000000"],
            "synthloss train: error: dropped step 100000000 is outside the run; "
            "the run's steps are 1..5",
        ),
        (
            ["train", "--steps", "200000000", "--drop", "2..100000000"],
            "synthloss train: error: argument --drop: 99999999 values are listed; at most "
            "100000 are allowed (the most dropped steps of a run)",
        ),
        (
            ["sweep", "--steps", "1..99999999999999999999"],
            "synthloss sweep: error: argument --steps: 99999999999999999999 is past the last "
            f"step {MAX}, got '1..99999999999999999999'",
        ),
        (
            ["sweep", "--steps", "1..2000000"],
            "synthloss sweep: error: argument --steps: 2000000 values are listed; at most "
            "1000000 are allowed (a sweep runs at most that many configs)",
        ),
        (
            ["sweep", "--steps", "1..1000000", "--lr", "1e-4,2e-4"],
            "synthloss sweep: error: the sweep has 4000000 configs (2 profiles x 1000000 steps "
            "x 2 lr x 1 batch_size); a sweep runs at most 1000000 configs (MAX_SWEEP_CONFIGS)",
        ),
        (
            ["sweep", "--profiles", ""],
            "synthloss sweep: error: argument --profiles: must be comma-separated profile "
            "names or 'all', got ''",
        ),
        (
            ["sweep", "--profiles", ","],
            "synthloss sweep: error: argument --profiles: must be comma-separated profile "
            "names or 'all', got ','",
        ),
        (
            ["sweep", "--profiles", "stable,stable"],
            "synthloss sweep: error: profile 'stable' is listed twice in the sweep",
        ),
        (
            ["sweep", "--steps", "5,5"],
            "synthloss sweep: error: steps 5 is listed twice in the sweep",
        ),
        (
            ["sweep", "--steps", "1..5,3"],
            "synthloss sweep: error: steps 3 is listed twice in the sweep",
        ),
        (
            ["sweep", "--lr", "1e-4,1e-4"],
            "synthloss sweep: error: lr 0.0001 is listed twice in the sweep",
        ),
        (
            ["sweep", "--batch-size", "none,none"],
            "synthloss sweep: error: batch_size None is listed twice in the sweep",
        ),
    ],
)
def test_ranges_and_sweep_axes_are_checked_before_expanding(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", message + "\n")


def test_drop_ranges_within_the_run_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--steps", "8", "--drop", "2..4,6", "--format", "jsonl"]) == 0
    assert read_log(capsys.readouterr().out.splitlines()).gaps == ((2, 4), (6, 6))


def test_curve_without_steps_runs_the_natural_length(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["curve", "--profile", "wsd", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert (len(rows), rows[-1].split(",")[0]) == (1001, "1000")
    assert main(["curve", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 21  # stable: the spec's 20


def test_sweep_profiles_all_and_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--profiles", "spiky, stable", "--steps", "5", "--top", "1"]) == 0
    assert "(of 2 configs;" in capsys.readouterr().out
    assert main(["sweep", "--profiles", "all", "--steps", "5", "--top", "1"]) == 0
    assert f"(of {len(available_profiles())} configs;" in capsys.readouterr().out


FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


@needs_dev_full
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["curve", "--steps", "5", "-o", "/dev/full"],
            "synthloss curve: error: cannot write output file '/dev/full': "
            "No space left on device\n",
        ),
        (
            ["curve", "--steps", "5"],
            "synthloss curve: error: cannot write to stdout: No space left on device\n",
        ),
        (
            ["train", "--steps", "5", "--format", "csv"],
            "synthloss train: error: cannot write to stdout: No space left on device\n",
        ),
        (
            ["profiles"],
            "synthloss profiles: error: cannot write to stdout: No space left on device\n",
        ),
        (
            ["sweep", "--steps", "1..3"],
            "synthloss sweep: error: cannot write to stdout: No space left on device\n",
        ),
    ],
)
def test_a_failed_write_is_one_line_exit_1(argv: list[str], message: str) -> None:
    with FULL.open("w") as full:
        done = subprocess.run(
            [*SYNTHLOSS, *argv], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60
        )
    assert (done.returncode, done.stderr) == (1, message)


def test_a_failed_write_to_a_file_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_synthloss.emulation import logwriter as formats

    out = tmp_path / "run.log"
    real_write = formats.LogWriter.write

    def write_then_fail(
        self: formats.LogWriter,
        steps: list[int],
        losses: list[float],
        time: float | None = None,
        signals: Any = None,
    ) -> None:
        real_write(self, steps, losses, time, signals)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(formats.LogWriter, "write", write_then_fail)
    assert main(["train", "--steps", "5", "-o", str(out)]) == 1
    assert capsys.readouterr() == (
        "",
        f"synthloss train: error: cannot write output file '{out}': No space left on device\n",
    )
    assert list(tmp_path.iterdir()) == []
