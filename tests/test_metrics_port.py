"""``synthloss train --metrics-port``: the live loss scraped over HTTP from a real child process."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_synthloss import TrainingRun, make_curve, read_log
from pytest_synthloss.cli.main import main

StartRun = Callable[..., TrainingRun]


def scrape(url: str) -> dict[str, float]:
    """The samples of a Prometheus text exposition as ``{name{labels}: value}``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    return {name: float(value) for name, value in pairs}


def refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    return False


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_the_gauge_is_the_logged_loss_of_the_current_step(synthloss_run: StartRun) -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    # The stall holds the run after step 5 (spiky's 9.5) long enough to scrape it for sure.
    run = synthloss_run(
        steps=40,
        profile="spiky",
        sleep_seconds=0.005,
        format="jsonl",
        stall=(6, 60.0),
        metrics_port=0,
    )
    url = run.metrics_url()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/metrics")
    log = run.wait_for_steps(5)
    assert run.running
    samples = scrape(url)
    labels = '{profile="spiky",run="synthloss-run1"}'  # run: the log file's name
    assert samples == {f"train_loss{labels}": 9.5, f"train_loss_step{labels}": 5.0}
    assert log.losses.tolist()[-1] == samples[f"train_loss{labels}"]
    assert run.terminate() == 143  # the stall is a sleep: SIGTERM ends it cleanly
    assert refused(url)  # the endpoint ends with the run


def test_a_finished_run_stops_serving(synthloss_run: StartRun) -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    run = synthloss_run(steps=30, sleep_seconds=0.01, metrics_port=0, format="csv", crash=20)
    url = run.metrics_url()
    seen = scrape(url)  # live: no sample before the first step, then some step up to 20
    step = int(seen.get('train_loss_step{profile="stable"}', 0))
    assert 0 <= step <= 20
    assert ('train_loss{profile="stable"}' in seen) == (step > 0)
    assert run.wait() == 1
    assert refused(url)
    assert read_log(run.path).final_loss == make_curve(20).final_loss
    assert run.stderr() == (
        f"synthloss train: serving metrics on {url}\n"
        "synthloss train: crashed after step 20 (injected fault), exit code 1\n"
    )


def test_a_taken_port_is_one_line_exit_2_and_no_file(taken_port: int, tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    out = tmp_path / "run.log"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest_synthloss", "train", "--steps=3"),
            *(f"--metrics-port={taken_port}", f"--output={out}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"synthloss train: error: metrics port {taken_port} on 127.0.0.1 is already in use; "
        "choose another port (0 picks a free one)\n"
    )
    assert not out.exists()


def test_without_prometheus_client_it_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import raises ImportError
    out = tmp_path / "run.log"
    assert main(["train", "--steps", "3", "--metrics-port", "0", "-o", str(out)]) == 2
    assert capsys.readouterr() == (
        "",
        "synthloss train: error: --metrics-port needs prometheus_client, which is not "
        'installed: pip install "pytest-synthloss[prometheus]"\n',
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--metrics-port", "70000"],
            "argument --metrics-port: must be a port number from 0 to 65535 (0: any free port), "
            "got '70000'",
        ),
        (
            ["--metrics-port", "-1"],
            "argument --metrics-port: must be a port number from 0 to 65535 (0: any free port), "
            "got '-1'",
        ),
        (["--stall", "5"], "argument --stall: must be STEP:SECONDS, e.g. 12:0.5, got '5'"),
        (
            ["--stall", "5:0"],
            "argument --stall: stall seconds must be a finite number > 0 and <= 86400, got 0",
        ),
        (
            ["--stall", "5:0.0"],
            "argument --stall: stall seconds must be a finite number > 0 and <= 86400, got 0.0",
        ),
        (["--restart", "5:x"], "argument --restart: must be STEP:BACK, e.g. 10:3, got '5:x'"),
        (
            ["--restart", "3:4"],
            "argument --restart: a restart after step 3 going back 4 steps would resume at "
            "step 0, a step < 1; go back at most 3 steps",
        ),
        (
            ["--drop", "4,4"],
            "argument --drop: dropped step 4 is listed twice",
        ),
        (
            ["--drop", "0"],
            "argument --drop: must be integers >= 1 or ranges A..B, comma-separated, got '0'",
        ),
        (
            ["--crash", "5:143"],
            "argument --crash: crash exit code must be an integer from 1 to 255 except 2 "
            "(bad input), 130 (SIGINT), 141 (a closed pipe), 143 (SIGTERM), got 143",
        ),
        (["--crash", "5:1:2"], "argument --crash: must be STEP or STEP:CODE, e.g. 15:3, got"),
        (["--crash", "25"], "crash step 25 is outside the run; the run's steps are 1..20"),
        (
            ["--drop", "20"],
            "dropped step 20 is the run's first or last logged step, so it would not be "
            "missing from the log; drop steps strictly between 1 and 20",
        ),
        (
            ["--stall", "9:1", "--crash", "8"],
            "the stall at step 9 comes after the crash at step 8, which would never happen",
        ),
    ],
)
def test_bad_fault_and_port_flags(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.log"
    assert main(["train", "--steps", "20", *argv, "-o", str(out)]) == 2
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith(f"synthloss train: error: {message}")
    assert not out.exists()


def _poll_steps(url: str, process: subprocess.Popen[bytes], key: str) -> list[int]:
    """Every step a 100 Hz poller sees until the process exits."""
    import time

    seen: list[int] = []
    while process.poll() is None:
        try:
            samples = scrape(url)
        except (urllib.error.URLError, ConnectionError):
            break  # the endpoint closed as the process ends
        if key in samples and (not seen or seen[-1] != int(samples[key])):
            seen.append(int(samples[key]))
        time.sleep(0.01)
    return seen


def test_a_poller_sees_every_step_the_last_one_included(synthloss_run: StartRun) -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    run = synthloss_run(steps=5, profile="spiky", sleep_seconds=0.15, metrics_port=0)
    key = 'train_loss_step{profile="spiky",run="synthloss-run1"}'
    assert _poll_steps(run.metrics_url(), run.process, key) == [1, 2, 3, 4, 5]
    assert run.wait() == 0


def test_labels_and_the_linger_after_a_crash(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra")
    import re
    import time

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_synthloss",
            "train",
            "--steps",
            "8",
            "--sleep-seconds",
            "0.01",
            "--metrics-port",
            "0",
            "--crash",
            "4:3",
            "--label",
            "team=ml",
            "--label",
            "run=r7",
            "--linger",
            "2",
            "-o",
            str(tmp_path / "run.log"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    found = re.search(r"serving metrics on (\S+)", first)
    assert found, first
    time.sleep(0.5)  # the run crashed after step 4 long ago; its endpoint lingers
    labels = '{profile="stable",run="r7",team="ml"}'
    assert scrape(found[1]) == {f"train_loss{labels}": 1.97, f"train_loss_step{labels}": 4.0}
    assert process.wait(timeout=30) == 3
    process.stderr.close()
    assert refused(found[1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--label", "team"], "argument --label: must be KEY=VALUE, got 'team'"),
        (
            ["--label", "0x=1"],
            "argument --label: label name must match [a-zA-Z_][a-zA-Z0-9_]* and not start "
            "with '__', got '0x'",
        ),
        (
            ["--linger", "-1"],
            "argument --linger: must be a finite number of seconds from 0 to 86400, got '-1'",
        ),
    ],
)
def test_bad_labels_and_linger_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--steps", "2", "--metrics-port", "0", *argv]) == 2
    assert capsys.readouterr() == ("", f"synthloss train: error: {message}\n")
