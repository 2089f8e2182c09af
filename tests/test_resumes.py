"""Resumes with data effects: replayed batches, skipped steps, a reset step counter.

Ground truth (``resume_truth``), the emulator's exact lines, ``read_log``'s report, the
``synthloss train --restart STEP:BACK:MODE`` option, and what a sink shows of such a log;
``purged_view`` is verified against TensorBoard itself (torch's ``SummaryWriter`` with a
``purge_step`` at each restart, read back by TensorBoard's ``EventAccumulator``).
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import FakeClock, SynthLossError, make_curve, read_log, synthetic_loss
from pytest_synthloss.core.faults import Faults, Segment
from pytest_synthloss.core.resumes import Resume, ResumeTruth, resume_truth
from pytest_synthloss.emulation.emulator import StopSignals, emulate
from pytest_synthloss.emulation.logwriter import LogWriter
from pytest_synthloss.emulation.sinks import monotonic_view, purged_view

REPLAY = Faults(restart=(12, 4), resume=Resume("replay", 3, 0.2))
SKIP = Faults(restart=(12, 4), resume=Resume("skip", 6))
SKIP_BACK = Faults(restart=(12, 4), resume=Resume("skip", 2))
RESET = Faults(restart=(12, 4), resume=Resume("reset"))
SAME = Faults(restart=(12, 4))


def lines(faults: Faults, steps: int = 20, profile: str = "stable", sleep: float = 0.0) -> Any:
    stream = io.StringIO()
    curve = make_curve(steps, profile)
    clock = FakeClock()
    with StopSignals(sleep=clock.sleep) as stop:
        emulate(
            curve,
            LogWriter(stream, "jsonl", curve.config),
            sleep_seconds=sleep,
            clock=clock.time,
            stop=stop,
            faults=faults,
        )
    return read_log(stream.getvalue().splitlines())


def test_each_mode_has_its_ground_truth() -> None:
    assert resume_truth(SAME, 20) == ResumeTruth("same", 8, (12, 9), (9, 10, 11, 12), (), ())
    assert resume_truth(REPLAY, 20) == ResumeTruth(
        "replay", 8, (12, 9), (9, 10, 11, 12), (), (9, 10, 11)
    )
    assert resume_truth(SKIP, 20) == ResumeTruth("skip", 8, (12, 15), (), (13, 14), ())
    assert resume_truth(SKIP_BACK, 20) == ResumeTruth("skip", 8, (12, 11), (11, 12), (), ())
    assert resume_truth(RESET, 20) == ResumeTruth("reset", 8, (12, 1), tuple(range(1, 13)), (), ())
    assert resume_truth(Faults(drop=(3,)), 20) is None
    assert RESET.logged_steps(20)[12:] == tuple(range(1, 13))
    assert SKIP.logged_steps(20)[12:] == tuple(range(15, 21))
    assert SKIP.segments(20) == (Segment(1, 12), Segment(15, 20, 0.0, 6, 1.0))
    assert SKIP_BACK.repeated_steps == (11, 12)
    with pytest.raises(SynthLossError, match=r"^a reset resume's repeated steps depend on"):
        RESET.repeated_steps  # noqa: B018


@pytest.mark.parametrize("sleep", [0.0, 0.01])
def test_the_emulator_logs_each_mode_exactly(sleep: float) -> None:
    loss = [0.0] + [synthetic_loss(s, "stable") for s in range(1, 21)]
    replay = lines(REPLAY, sleep=sleep)
    assert replay.steps.tolist()[12:16] == [9, 10, 11, 12]
    assert replay.losses.tolist()[12:] == [
        *(loss[s] * (1.0 - 0.2) for s in (9, 10, 11)),  # replayed batches: the loss dips...
        *(loss[s] for s in range(12, 21)),  # ...then bumps back
    ]
    skip = lines(SKIP, sleep=sleep)
    assert skip.losses.tolist()[12:] == [loss[s - 6] for s in range(15, 21)]
    reset = lines(RESET, sleep=sleep)
    assert reset.losses.tolist()[12:] == [loss[s + 8] for s in range(1, 13)]
    for log, faults in ((replay, REPLAY), (skip, SKIP), (reset, RESET), (lines(SAME), SAME)):
        truth = resume_truth(faults, 20)
        assert truth is not None
        assert log.steps.tolist() == list(faults.logged_steps(20))
        assert log.repeated_steps == truth.repeated
        assert log.resumes == ((truth.jump,) if truth.jump[1] <= truth.jump[0] else ())
        assert log.missing_steps == truth.skipped


def test_read_log_reports_where_the_log_goes_back() -> None:
    pairs = [(1, 2), (2, 1.9), (3, 1.8), (1, 2.1), (2, 2), (5, 1), (5, 0.9)]
    log = read_log([f'{{"step": {s}, "loss": {v}}}' for s, v in pairs])
    assert log.resumes == ((3, 1), (5, 5))
    assert log.gaps == ((4, 4),)
    assert log.deduplicated().resumes == ()
    assert read_log(['{"step": 1, "loss": 2}', '{"step": 2, "loss": 1}']).resumes == ()


def test_sinks_show_a_resumed_log_differently() -> None:
    replay = list(lines(REPLAY))
    steps, losses = monotonic_view(replay)  # W&B-like: the replayed steps are dropped
    assert steps == list(range(1, 21))
    assert losses[8:12] == [v for s, v in replay[8:12]]  # the first run's 9..12
    steps, losses = purged_view(replay)  # TensorBoard, purged at the restart
    assert steps == list(range(1, 21))
    assert losses[8:11] == [v for s, v in replay[12:15]]  # the dip shows
    reset = list(lines(RESET))
    assert monotonic_view(reset)[0] == list(range(1, 13))  # nothing after the reset
    assert purged_view(reset) == ([s for s, _ in reset[12:]], [v for _, v in reset[12:]])
    skip = list(lines(SKIP))
    assert monotonic_view(skip) == purged_view(skip)  # nothing goes back
    assert monotonic_view([(3, 1.0), (3, 2.0)]) == ([3], [2.0])


def _tensorboard(chunks: list[list[tuple[int, float]]], logdir: str) -> list[tuple[int, float]]:
    writer_module = pytest.importorskip("torch.utils.tensorboard", reason="needs torch")
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator", reason="needs tensorboard"
    )
    import pathlib

    out = pathlib.Path(logdir)
    for index, chunk in enumerate(chunks):  # one writer per run, its file named in run order
        purge = None if index == 0 else chunk[0][0]
        writer = writer_module.SummaryWriter(str(out / str(index)), purge_step=purge)
        for step, loss in chunk:
            writer.add_scalar("loss", loss, step)
        writer.close()
        (written,) = (out / str(index)).glob("events.out.tfevents.*")
        written.rename(out / f"events.out.tfevents.{index:010d}.run")
    events = accumulator.EventAccumulator(logdir)
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("loss")]


def _runs(log: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """The log cut where its step stops growing: one writer per run."""
    chunks: list[list[tuple[int, float]]] = [[]]
    for step, loss in log:
        if chunks[-1] and step <= chunks[-1][-1][0]:
            chunks.append([])
        chunks[-1].append((step, loss))
    return chunks


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    restart=st.integers(2, 25),
    back=st.integers(1, 25),
    mode=st.sampled_from(["same", "replay", "skip", "reset"]),
    batches=st.integers(1, 6),
)
def test_purged_view_is_what_tensorboard_shows(
    tmp_path_factory: pytest.TempPathFactory, restart: int, back: int, mode: str, batches: int
) -> None:
    back = min(back, restart)
    resume = Resume(mode, batches if mode in ("replay", "skip") else 0)
    try:
        faults = Faults(restart=(restart, back), resume=resume).check_run(30)
        log = list(lines(faults, 30, "noisy"))
    except SynthLossError:
        return  # e.g. a skip past the run's end
    shown = _tensorboard(_runs(log), str(tmp_path_factory.mktemp("tb")))
    steps, losses = purged_view(log)
    assert [s for s, _ in shown] == steps
    assert [v for _, v in shown] == np.array(losses, dtype=np.float32).tolist()  # TB: float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "rewind"}, "resume mode must be 'same' or 'replay' or 'skip' or 'reset'"),
        ({"mode": "replay"}, "resume batches (replay) must be an integer from 1 to 1000000000"),
        ({"mode": "skip", "batches": -1}, "resume batches (skip) must be an integer from 1"),
        ({"mode": "reset", "batches": 3}, "resume batches (reset) must be an integer from 0 to 0"),
        ({"mode": "replay", "batches": 2, "dip": 1.0}, "resume dip must be a finite number"),
        ({"mode": "replay", "batches": 2, "dip": math.nan}, "resume dip must be a finite number"),
    ],
)
def test_bad_resumes_are_refused_naming_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Resume(**kwargs)
    assert str(info.value).startswith(message)


def test_faults_refuse_a_resume_that_cannot_happen() -> None:
    with pytest.raises(SynthLossError, match=r"^resume describes a restart's data: give restart"):
        Faults(resume=Resume("reset"))
    with pytest.raises(SynthLossError, match=r"^resume must be a Resume or None, got 'reset'"):
        Faults(restart=(3, 1), resume="reset")  # type: ignore[arg-type]
    with pytest.raises(SynthLossError, match=r"^a crash after a reset resume is not supported"):
        Faults(restart=(3, 1), resume=Resume("reset"), crash=9)
    with pytest.raises(SynthLossError, match=r"^a resume skipping 30 steps after restarting"):
        Faults(restart=(12, 4), resume=Resume("skip", 30)).logged_steps(20)


def test_the_cli_takes_the_mode_after_step_and_back() -> None:
    for faults in (REPLAY, SKIP, RESET, SAME):
        assert faults.to_args()[0].startswith("--restart=12:4")
    assert REPLAY.to_args() == ["--restart=12:4:replay:3:0.2"]
    assert (
        REPLAY.describe()
        == "restart after step 12 from step 9 (data replays 3 batches (loss -20%))"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest_synthloss", "train", "--steps", "20", "--format", "jsonl",
         "--restart", "12:4:replay:3:0.2"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = read_log(done.stdout.splitlines())
    assert log.losses.tolist() == lines(REPLAY).losses.tolist()
    assert log.resumes == ((12, 9),)
    bad = subprocess.run(
        [sys.executable, "-m", "pytest_synthloss", "train", "--restart", "12:4:rewind"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == (
        "synthloss train: error: argument --restart: resume mode must be 'same' or 'replay' "
        "or 'skip' or 'reset', got 'rewind'"
    )


_WANDB_SCRIPT = """
import json, sys, wandb
lines = json.loads(sys.stdin.read())
run = wandb.init(project="synthloss", dir=sys.argv[1], mode="offline",
                 settings=wandb.Settings(silent=True))
for step, loss in lines:
    run.log({"loss": loss}, step=step)
run.finish()
"""


def _wandb_history(path: str) -> list[tuple[int, float]]:
    """The ``(step, loss)`` history rows of an offline W&B run file (a LevelDB-style log)."""
    import struct
    from pathlib import Path

    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            records.append(pending)
    rows = []
    for raw in records:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            items = {
                item.key or "/".join(item.nested_key): item.value_json
                for item in record.history.item
            }
            if "loss" in items:
                rows.append((int(record.history.step.num), float(items["loss"])))
    return rows


@pytest.mark.parametrize("faults", [REPLAY, SKIP, RESET, SKIP_BACK], ids=str)
def test_monotonic_view_is_what_wandb_keeps(faults: Faults, tmp_path: Any) -> None:
    pytest.importorskip("wandb", reason="needs wandb (the stacks extra)")
    import glob
    import json
    import os

    log = [(s, v) for s, v in lines(faults, 16, "noisy")]
    done = subprocess.run(
        [sys.executable, "-c", _WANDB_SCRIPT, str(tmp_path)],
        input=json.dumps(log),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = glob.glob(f"{tmp_path}/wandb/offline-run-*/run-*.wandb")
    steps, losses = monotonic_view(log)
    assert _wandb_history(path) == list(zip(steps, losses, strict=True))
