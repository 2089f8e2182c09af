"""Timed logs: every JSONL/CSV line of a run says when it was written and the planned last
step, so read_log reports a crash (the missing tail) and stalls after the fact."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_synthloss import FakeClock, SynthLossError, make_curve, read_log
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.emulation.emulator import StopSignals, emulate
from pytest_synthloss.emulation.logwriter import CSV_TIMED_HEADER, LogWriter
from pytest_synthloss.emulation.parsed_log import Stall


def _run(fmt: str, faults: Faults | None, steps: int = 12, sleep: float = 0.25) -> str:
    clock = FakeClock()
    curve = make_curve(steps, "spiky")
    buffer = io.StringIO()
    writer = LogWriter(buffer, fmt, curve.config, timed=True)
    with StopSignals(sleep=clock.sleep) as stop:
        emulate(curve, writer, sleep_seconds=sleep, clock=clock.time, stop=stop, faults=faults)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_crashed_stalled_run_reads_back_with_its_missing_tail_and_stall(fmt: str) -> None:
    text = _run(fmt, Faults(stall=(5, 3.0), crash=9))
    log = read_log(text.splitlines(keepends=True))
    assert log.steps.tolist() == list(range(1, 10))
    assert log.times is not None
    assert log.times.tolist() == [0.25, 0.5, 0.75, 1.0, 4.25, 4.5, 4.75, 5.0, 5.25]
    assert log.planned_last_step == 12
    assert log.missing_tail == (10, 12)
    assert log.gaps == ()
    assert log.stalls == (Stall(after_step=4, step=5, seconds=3.25),)
    assert log.losses.tolist() == make_curve(9, "spiky").losses.tolist()


def test_a_complete_run_has_no_missing_tail_and_no_stall() -> None:
    log = read_log(_run("jsonl", None).splitlines())
    assert log.planned_last_step == 12
    assert log.missing_tail is None
    assert log.stalls == ()
    assert log.times is not None
    assert log.times[-1] == 3.0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_timed_lines_round_trip_exactly(fmt: str) -> None:
    text = _run(fmt, Faults(restart=(6, 2), drop=(9,)), sleep=0.1)
    log = read_log(text.splitlines())
    curve = make_curve(12, "spiky")
    writer = LogWriter(io.StringIO(), fmt, curve.config, timed=True)
    assert log.times is not None
    again = writer.header() + "".join(
        writer.line(step, loss, time)
        for step, loss, time in zip(
            log.steps.tolist(), log.losses.tolist(), log.times.tolist(), strict=True
        )
    )
    assert again == text
    # 0.1-second steps under a fake clock: the logged times are the decimal ones
    assert log.times.tolist()[:7] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


def test_every_timed_jsonl_line_is_strict_json() -> None:
    def refuse(name: str) -> None:
        raise ValueError(name)

    records = [
        json.loads(line, parse_constant=refuse) for line in _run("jsonl", None).split("\n")[:-1]
    ]
    assert list(records[0]) == [
        "step", "loss", "profile", "lr", "batch_size", "time", "final_step"
    ]  # fmt: skip
    assert records[3] == {
        "step": 4,
        "loss": 9.7,
        "profile": "spiky",
        "lr": None,
        "batch_size": None,
        "time": 1.0,
        "final_step": 12,
    }


def test_deduplicated_keeps_the_time_of_the_last_line_of_a_step() -> None:
    log = read_log(_run("jsonl", Faults(restart=(5, 2))).splitlines())
    assert log.steps.tolist()[:8] == [1, 2, 3, 4, 5, 4, 5, 6]
    assert log.repeated_steps == (4, 5)
    once = log.deduplicated()
    assert once.steps.tolist() == list(range(1, 13))
    assert once.times is not None
    assert once.times.tolist()[2:6] == [0.75, 1.5, 1.75, 2.0]  # 4 and 5 logged again, then 6


def test_old_logs_without_times_still_read() -> None:
    old_jsonl = ['{"step": 1, "loss": 2.5, "profile": "stable", "lr": null, "batch_size": null}']
    old_csv = ["step,loss,profile,lr,batch_size", "1,2.5,stable,,"]
    for lines in (old_jsonl, old_csv):
        log = read_log(lines)
        assert log.times is None
        assert log.planned_last_step is None
        assert log.missing_tail is None
        assert log.stalls == ()
        assert log.losses.tolist() == [2.5]


def test_a_text_header_gives_the_planned_steps() -> None:
    lines = [
        "# synthloss run: profile=stable steps=12 start_step=101 lr=None batch_size=None",
        "Step 101: loss=2.18",
        "Step 102: loss=2.11",
    ]
    log = read_log(lines)
    assert log.planned_last_step == 112
    assert log.missing_tail == (103, 112)
    assert log.times is None


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [
                '{"step": 1, "loss": 2.5, "time": 0.5}',
                '{"step": 2, "loss": 2.4}',
            ],
            'line 2: no time, but line 1 has one in jsonl log: \'{"step": 2, "loss": 2.4}\'',
        ),
        (
            ['{"step": 1, "loss": 2.5}', '{"step": 2, "loss": 2.4, "time": 1}'],
            "line 2: a time, but line 1 has none in jsonl log: "
            '\'{"step": 2, "loss": 2.4, "time": 1}\'',
        ),
        (
            ['{"step": 1, "loss": 2.5, "time": -0.5}'],
            "line 1: time must be a number of seconds >= 0, got -0.5 in jsonl log: "
            '\'{"step": 1, "loss": 2.5, "time": -0.5}\'',
        ),
        (
            ['{"step": 1, "loss": 2.5, "time": "NaN"}'],
            "line 1: time must be a number of seconds >= 0, got 'NaN' in jsonl log: "
            '\'{"step": 1, "loss": 2.5, "time": "NaN"}\'',
        ),
        (
            ['{"step": 1, "loss": 2.5, "time": 1, "final_step": 0}'],
            "line 1: final_step must be an integer >= 1, got 0 in jsonl log: "
            '\'{"step": 1, "loss": 2.5, "time": 1, "final_step": 0}\'',
        ),
        (
            [
                '{"step": 1, "loss": 2.5, "time": 1, "final_step": 3}',
                '{"step": 2, "loss": 2.5, "time": 2, "final_step": 4}',
            ],
            "line 2: final_step 4 differs from 3 on line 1 in jsonl log: "
            '\'{"step": 2, "loss": 2.5, "time": 2, "final_step": 4}\'',
        ),
        (
            [CSV_TIMED_HEADER, "1,2.5,stable,,,inf,3"],
            "line 2: time must be a number of seconds >= 0, got 'inf' in csv log: "
            "'1,2.5,stable,,,inf,3'",
        ),
        (
            [CSV_TIMED_HEADER, "1,2.5,stable,,"],
            "line 2: expected 7 fields, got 5 in csv log: '1,2.5,stable,,'",
        ),
    ],
)
def test_bad_times_name_their_line(lines: list[str], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        read_log(lines)
    assert str(info.value) == message


def test_find_stalls_refuses_a_factor_below_one() -> None:
    log = read_log(_run("jsonl", None).splitlines())
    with pytest.raises(SynthLossError, match=r"^factor must be a finite number >= 1, got 0\.5$"):
        log.find_stalls(factor=0.5)
    assert log.find_stalls(factor=1.0, min_seconds=0.0) == ()


def test_a_timed_writer_needs_the_time() -> None:
    writer = LogWriter(io.StringIO(), "jsonl", make_curve(3).config, timed=True)
    with pytest.raises(SynthLossError, match=r"^a timed log needs the time of every line$"):
        writer.line(1, 2.0)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_real_train_crash_and_stall_read_back(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"run.{fmt}"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest_synthloss", "train", "--steps=12", "--profile=spiky"),
            *("--sleep-seconds=0.02", "--stall=5:0.4", "--crash=9", f"--format={fmt}"),
            *(f"--output={path}", "--no-progress"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    log = read_log(path)
    assert log.steps.tolist() == list(range(1, 10))
    assert log.planned_last_step == 12
    assert log.missing_tail == (10, 12)
    assert [(s.after_step, s.step) for s in log.stalls] == [(4, 5)]
    assert log.stalls[0].seconds >= 0.42  # the stall plus the step's own 0.02 s
    assert log.times is not None
    assert bool(np.all(np.diff(log.times) > 0))
    assert log.losses.tolist() == make_curve(9, "spiky").losses.tolist()


def test_curve_logs_stay_untimed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_synthloss", "curve", "--steps=2", "--format=csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "step,loss,profile,lr,batch_size\n1,2.18,stable,,\n2,2.11,stable,,\n"
