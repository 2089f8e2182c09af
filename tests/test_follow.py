"""follow_log: complete records only from a growing log, through truncation and rotation,
with restarts, gaps and stalls reported as they happen."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_synthloss import SynthLossError, TrainingRun, make_curve
from pytest_synthloss.emulation.follow import MAX_LINE_BYTES, FollowedRecord, follow_log


class Script:
    """A fake clock whose sleeps perform the next scripted action on the log."""

    def __init__(self, actions: list[Callable[[], None]]) -> None:
        self.actions = actions
        self.now = 0.0
        self.done = False

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.actions:
            self.actions.pop(0)()
        else:
            self.done = True


def _append(path: Path, data: str) -> Callable[[], None]:
    def act() -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(data)

    return act


def _steps(records: list[FollowedRecord]) -> list[tuple[int | None, float | None]]:
    return [(r.step, r.loss) for r in records if r.kind == "step"]


def test_half_lines_are_buffered_until_their_newline(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    script = Script(
        [
            _append(log, "Step 1: loss=2.18\nStep 2: lo"),
            _append(log, "ss=2.11"),
            _append(log, "\nStep 3: loss=2.04\n"),
            _append(log, "Step 4: loss=9.7"),  # never completed
        ]
    )
    seen: list[tuple[float, FollowedRecord]] = []
    for record in follow_log(
        log, stop=lambda: script.done, clock=script.clock, sleep=script.sleep, timeout=5
    ):
        seen.append((script.now, record))
    assert [(t, r.step, r.loss, r.line) for t, r in seen] == [
        (0.02, 1, 2.18, 1),
        (0.06, 2, 2.11, 2),  # only once its newline arrived
        (0.06, 3, 2.04, 3),
    ]


def test_restarts_gaps_and_stalls_are_reported_as_they_happen(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    line = '{{"step": {}, "loss": {}}}\n'
    script = Script(
        [
            _append(log, line.format(1, 2.0) + line.format(2, 1.5)),
            _append(log, line.format(4, 1.25)),  # step 3 dropped
            *[lambda: None] * 5,  # 0.1 s of silence
            _append(log, line.format(3, 1.5)),  # a restart from the checkpoint of step 2
        ]
    )
    records = list(
        follow_log(
            log,
            stall_after=0.09,
            stop=lambda: script.done,
            clock=script.clock,
            sleep=script.sleep,
        )
    )
    assert [(r.kind, r.step, r.repeated, r.skipped) for r in records] == [
        ("step", 1, False, None),
        ("step", 2, False, None),
        ("step", 4, False, (3, 3)),
        ("stall", 4, False, None),
        ("step", 3, True, None),
    ]


def test_truncation_and_rotation_start_again_from_the_top(tmp_path: Path) -> None:
    log = tmp_path / "run.log"

    def truncate() -> None:
        log.write_text("Step 1: loss=2.5\n")

    def rotate() -> None:
        _append(log, "Step 2: loss=2.4\n")()  # written to the old file before it moves
        os.replace(log, tmp_path / "run.log.1")
        log.write_text("Step 1: loss=3.0\n")

    script = Script(
        [
            _append(log, "Step 1: loss=2.18\nStep 2: loss=2.11\nStep 3: loss=2.04\n"),
            truncate,
            rotate,
        ]
    )
    records = list(
        follow_log(log, stop=lambda: script.done, clock=script.clock, sleep=script.sleep)
    )
    assert [(r.kind, r.step, r.loss, r.line) for r in records] == [
        ("step", 1, 2.18, 1),
        ("step", 2, 2.11, 2),
        ("step", 3, 2.04, 3),
        ("truncated", None, None, None),
        ("step", 1, 2.5, 1),
        ("step", 2, 2.4, 2),  # the old file is read to its end first
        ("rotated", None, None, None),
        ("step", 1, 3.0, 1),
    ]
    assert [r.repeated for r in records if r.kind == "step"] == [
        False,
        False,
        False,
        True,
        True,
        True,
    ]


def test_timeouts_name_the_log_and_the_last_step(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    script = Script([])
    with pytest.raises(SynthLossError) as info:
        list(follow_log(log, timeout=0.1, clock=script.clock, sleep=script.sleep))
    assert str(info.value) == f"log {str(log)!r} did not appear within 0.1 s (no step yet)"
    log.write_text("Step 1: loss=2.18\nStep 2: loss=2.11\n")
    with pytest.raises(SynthLossError) as quiet:
        list(follow_log(log, timeout=0.5, clock=script.clock, sleep=script.sleep))
    assert str(quiet.value) == f"log {str(log)!r} got no new line within 0.5 s (last step 2)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"Step 1: loss=2.18\nStep two\n",
            "line 2: not a 'Step N: loss=X.XX' line in text log: 'Step two'",
        ),
        (
            b"Step 1: loss=\xff\n",
            "line 1 of {log!r}: not UTF-8 text (byte 0xff at byte 14); logs are read as UTF-8",
        ),
        (
            b"x" * (MAX_LINE_BYTES + 1),
            "line 1 of {log!r} is longer than 1048576 bytes; a log line is one step",
        ),
    ],
)
def test_bad_lines_are_clear_errors(tmp_path: Path, data: bytes, message: str) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(data)
    script = Script([])
    with pytest.raises(SynthLossError) as info:
        list(follow_log(log, stop=lambda: True, clock=script.clock, sleep=script.sleep))
    assert str(info.value) == message.format(log=str(log))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, "timeout must be a finite number of seconds > 0, got 0"),
        (
            {"stall_after": float("inf")},
            "stall_after must be a finite number of seconds > 0, got inf",
        ),
        (
            {"poll_interval": "1"},
            "poll_interval must be a finite number of seconds > 0, got '1' (str)",
        ),
        ({"format": "xml"}, "unknown log format 'xml'; known formats: text, jsonl, csv"),
    ],
)
def test_bad_arguments_are_refused_before_reading(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SynthLossError) as info:
        next(follow_log(tmp_path / "run.log", **kwargs))  # type: ignore[arg-type]
    assert str(info.value) == message


def test_following_a_real_training_run_yields_every_step_exactly(tmp_path: Path) -> None:
    run = TrainingRun(
        tmp_path / "run.jsonl", steps=40, profile="spiky", sleep_seconds=0.01, format="jsonl"
    ).start()
    try:
        records = list(
            follow_log(run.path, stop=lambda: run.process.poll() is not None, timeout=30)
        )
    finally:
        run.close()
    curve = make_curve(40, "spiky")
    assert _steps(records) == list(zip(curve.steps.tolist(), curve.losses.tolist(), strict=True))
    assert all(r.kind == "step" and not r.repeated and r.skipped is None for r in records)
