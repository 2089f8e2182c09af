"""Issue 12, the command line as a real process: outputs, signals, closed streams, full disks.

Each test asserts the exit code, the one line on stderr and the files left behind.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hardening import fill, run, small_tmpfs, synthloss, wait_until_signals_are_handled

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and devices")

LOG_3 = (
    "# synthloss run: profile=stable steps=3 start_step=1 lr=None batch_size=None\n"
    "Step 1: loss=2.18\nStep 2: loss=2.11\nStep 3: loss=2.04\n"
)

# -- High 1: device nodes and links are written through, never replaced -------------------


@pytest.mark.parametrize("command", ["curve", "plot"])
def test_a_character_device_is_written_into_not_replaced(tmp_path: Path, command: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
    code, _, err = run(command, "--steps", "5", "-o", str(device))
    assert (code, err) == (0, "")
    assert stat.S_ISCHR(device.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary file left


def test_dev_null_stays_a_device() -> None:
    code, _, err = run("plot", "--steps", "5", "-o", os.devnull)
    assert (code, err) == (0, "")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("command", ["curve", "plot"])
def test_a_link_is_followed_and_the_target_keeps_its_mode(tmp_path: Path, command: str) -> None:
    target = tmp_path / "target"
    target.write_text("previous\n")
    target.chmod(0o640)
    link = tmp_path / "link"
    link.symlink_to(target)
    code, _, err = run(command, "--steps", "3", "-o", str(link))
    assert (code, err) == (0, "")
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    data = target.read_bytes()
    assert data == LOG_3.encode() if command == "curve" else data.startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_a_new_output_gets_the_umask_mode(tmp_path: Path) -> None:
    code, _, _ = run("curve", "--steps", "3", "-o", str(tmp_path / "new.log"))
    umask = os.umask(0)
    os.umask(umask)
    assert code == 0
    assert stat.S_IMODE((tmp_path / "new.log").stat().st_mode) == 0o666 & ~umask


# -- High 2 and 3: complete lines into pipes, a full pipe still honours SIGTERM -------------


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_slow_reader_only_ever_gets_complete_lines(fmt: str, signum: int, code: int) -> None:
    with synthloss("curve", "--steps", "100000000", "--format", fmt) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        data = b""
        started = time.monotonic()
        while time.monotonic() - started < 0.5:  # a slow reader
            data += os.read(process.stdout.fileno(), 1000)
            time.sleep(0.002)
        process.send_signal(signum)
        data += process.stdout.read()
        err = process.stderr.read().decode()
    assert process.returncode == code
    assert data.endswith(b"\n")
    lines = data.decode().splitlines()
    steps = lines[1:] if fmt == "text" else lines
    for number, line in enumerate(steps, start=1):  # every line whole and in order
        step = json.loads(line)["step"] if fmt == "jsonl" else int(line.split()[1][:-1])
        assert step == number
    name = signal.Signals(signum).name
    assert err == (f"synthloss curve: stopped by {name} after {len(steps)} of 100000000 steps\n")


def test_a_full_stdout_pipe_still_honours_sigterm() -> None:
    with synthloss("train", "--steps", "100000", "--sleep-seconds", "0") as process:
        assert process.stdout is not None
        assert process.stderr is not None
        time.sleep(1.0)  # nobody reads: the pipe is full and the run waits on it
        process.terminate()
        assert process.wait(5) == 143
        delivered = process.stdout.read().decode()
        err = process.stderr.read().decode()
    assert delivered.endswith("\n")
    steps = len(delivered.splitlines()) - 1  # the header is no step
    assert err == (f"synthloss train: stopped by SIGTERM after {steps} of 100000 steps\n")


# -- Medium 4, 9: stderr and stdout that cannot be written ----------------------------------


def test_a_failing_stderr_never_deletes_a_healthy_output(tmp_path: Path) -> None:
    out = tmp_path / "prog.log"
    args = ("train", "--steps", "20", "--sleep-seconds", "0.01", "--progress", "-o", str(out))
    with open("/dev/full", "wb") as full, synthloss(*args, stderr=full.fileno()) as process:
        assert process.wait(30) == 0
    assert len(out.read_text().splitlines()) == 21


@pytest.mark.parametrize(
    ("args", "prog"),
    [
        (["curve", "--steps", "5"], "synthloss curve"),
        (["profiles"], "synthloss profiles"),
        (["sweep", "--steps", "1..3"], "synthloss sweep"),
        (["train", "--steps", "2"], "synthloss train"),
    ],
)
def test_a_closed_stdout_is_one_line_and_exit_1(args: list[str], prog: str) -> None:
    done = subprocess.run(  # the shell closes stdout: '>&-'
        f"{sys.executable} -m pytest_synthloss {' '.join(args)} >&-",
        shell=True,
        capture_output=True,
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err == f"{prog}: error: cannot write to stdout: it is closed\n"


def test_a_usage_error_with_stderr_on_dev_full_still_exits_2() -> None:
    with (
        open("/dev/full", "wb") as full,
        synthloss("curve", "--steps", "0", stderr=full.fileno()) as process,
    ):
        assert process.wait(30) == 2


def test_help_on_dev_full_fails() -> None:
    with open("/dev/full", "wb") as full, synthloss("--help", stdout=full.fileno()) as process:
        assert process.stderr is not None
        err = process.stderr.read().decode()
    assert process.returncode == 1
    assert err == ("synthloss: error: cannot write to stdout: No space left on device\n")


# -- Medium 6: signals early in a run ----------------------------------------------------------


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_sigint_early_in_a_run_is_130_without_traceback(tmp_path: Path, delay: float) -> None:
    out = tmp_path / "early.log"
    process = synthloss("train", "--steps", "50", "--sleep-seconds", "0.01", "-o", str(out))
    wait_until_signals_are_handled(process)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.decode().startswith("synthloss train: stopped by SIGINT after ")
    assert len(err.decode().splitlines()) == 1
    logged = out.read_text() if out.exists() else ""  # complete lines only, if any
    assert logged == "" or logged.endswith("\n")


def test_a_second_sigint_right_after_the_first_changes_nothing(tmp_path: Path) -> None:
    process = synthloss(
        "train", "--steps", "50", "--sleep-seconds", "0.01", "-o", str(tmp_path / "x")
    )
    wait_until_signals_are_handled(process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert len(err.decode().splitlines()) == 1
    assert "Traceback" not in err.decode()


# -- Medium 8: a failed write keeps the previous file and leaves no partial one ---------------


@pytest.mark.parametrize("command", ["curve", "train"])
def test_a_full_disk_keeps_the_previous_output(command: str) -> None:
    with small_tmpfs() as disk:
        out = disk / "run.log"
        out.write_text("previous\n")
        fill(disk, leave=4096)
        code, _, err = run(command, "--steps", "20000", "-o", str(out))
        assert code == 1
        assert err == (
            f"synthloss {command}: error: cannot write output file {str(out)!r}: "
            "No space left on device\n"
        )
        assert out.read_text() == "previous\n" if command == "curve" else not out.exists()
        assert sorted(p.name for p in disk.iterdir()) == (
            ["filler", "run.log"] if command == "curve" else ["filler"]
        )


def test_stderr_order_an_unwritable_output_is_reported_before_serving_metrics(
    tmp_path: Path,
) -> None:
    pytest.importorskip("prometheus_client")
    out = tmp_path / "missing" / "x.log"
    code, _, err = run("train", "--steps", "5", "--metrics-port", "0", "-o", str(out))
    assert code == 2
    assert err == (
        f"synthloss train: error: cannot write output file {str(out)!r}: "
        "No such file or directory\n"
    )


def test_a_curve_too_long_to_plot_names_the_limit(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    code, _, err = run("plot", "--steps", "9223372036854775807", "-o", str(out))
    assert code == 2
    assert err == (
        "synthloss plot: error: a curve of 9223372036854775807 steps is too long to hold in "
        "memory at once (at most 268435456 steps); use iter_chunks(), or fewer steps\n"
    )
    assert list(tmp_path.iterdir()) == []
