"""Emulator faults: validation, ground truth, the run loop with a fake clock, read_log agreement."""

from __future__ import annotations

import io
import signal
import threading
from typing import Any

import pytest

from pytest_synthloss import (
    Faults,
    Profile,
    SynthLossError,
    make_curve,
    read_log,
    register_profile,
    synthetic_loss,
)
from pytest_synthloss.core.faults import MAX_DROPPED_STEPS, Segment
from pytest_synthloss.emulation.emulator import RunResult, StopSignals, emulate
from pytest_synthloss.emulation.logwriter import LogWriter

ALL = Faults(stall=(6, 0.3), restart=(8, 3), drop=(5, 10), crash=(11, 3))


class FakeClock:
    """Moves only when the run sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


class TimedStream(io.StringIO):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((round(self.clock.now, 9), text))
        return super().write(text)


def _emulate(
    faults: Faults | None, steps: int = 12, sleep: float = 0.1, fmt: str = "text", **kw: Any
) -> tuple[RunResult, TimedStream, FakeClock]:
    clock = FakeClock()
    stream = TimedStream(clock)
    curve = make_curve(steps, kw.pop("profile", "stable"), start_step=kw.pop("start_step", 1))
    with StopSignals(sleep=kw.pop("sleep_fn", clock.sleep)) as stop:
        result = emulate(
            curve,
            LogWriter(stream, fmt, curve.config),
            sleep_seconds=sleep,
            clock=clock,
            stop=stop,
            faults=faults,
            **kw,
        )
    return result, stream, clock


# -- ground truth -----------------------------------------------------------------------


def test_ground_truth_of_every_fault_together() -> None:
    assert ALL.logged_steps(12) == (1, 2, 3, 4, 6, 7, 8, 6, 7, 8, 9, 11)
    assert ALL.repeated_steps == (6, 7, 8)
    assert ALL.missing_steps == (5, 10)
    assert (ALL.stall_step, ALL.stall_seconds) == (6, 0.3)
    assert (ALL.restart_step, ALL.resume_step) == (8, 6)
    assert (ALL.crash_step, ALL.exit_code) == (11, 3)
    assert ALL.segments(12) == (
        Segment(1, 4),
        Segment(6, 8, 0.3),
        Segment(6, 9),
        Segment(11, 11),
    )
    assert ALL.lines_logged(12) == 12
    assert ALL.describe() == (
        "stall 0.3 s before step 6; restart after step 8 from step 6; drop 5, 10; "
        "crash after step 11 (exit 3)"
    )


def test_restart_repeats_the_steps_after_its_checkpoint() -> None:
    # After logging step 10, resume from the checkpoint of step 7: 8, 9, 10 repeat.
    faults = Faults(restart=(10, 3))
    assert faults.logged_steps(12) == (*range(1, 11), 8, 9, 10, 11, 12)
    assert faults.repeated_steps == (8, 9, 10)
    assert faults.missing_steps == ()
    # A dropped step stays unlogged when the restart comes back to it: missing, not repeated.
    faults = Faults(restart=(10, 3), drop=(9,))
    assert faults.logged_steps(12) == (1, 2, 3, 4, 5, 6, 7, 8, 10, 8, 10, 11, 12)
    assert (faults.repeated_steps, faults.missing_steps) == ((8, 10), (9,))
    # Back to the very first step (from scratch) is allowed, also from a later start step.
    assert Faults(restart=(3, 3)).logged_steps(4) == (1, 2, 3, 1, 2, 3, 4)
    assert Faults(restart=(12, 3)).logged_steps(5, start_step=10) == (
        10,
        11,
        12,
        10,
        11,
        12,
        13,
        14,
    )


def test_a_stall_in_the_repeated_range_happens_once() -> None:
    faults = Faults(stall=(7, 2.0), restart=(8, 3))
    assert faults.segments(9) == (Segment(1, 6), Segment(7, 8, 2.0), Segment(6, 9))
    assert Faults(stall=(9, 2.0), restart=(8, 3)).segments(9) == (
        Segment(1, 8),
        Segment(6, 8),
        Segment(9, 9, 2.0),
    )


def test_no_faults_and_defaults() -> None:
    none = Faults()
    assert not none
    assert none.logged_steps(3, start_step=5) == (5, 6, 7)
    assert (none.repeated_steps, none.missing_steps, none.stall_step, none.crash_step) == (
        (),
        (),
        None,
        None,
    )
    assert (none.exit_code, none.stall_seconds, none.describe()) == (0, 0.0, "no faults")
    assert Faults(crash=7).crash == (7, 1)
    assert Faults(drop=[9, 3]).drop == (3, 9)
    assert Faults(stall=[2, 1]).stall == (2, 1.0)  # type: ignore[arg-type]


def test_faults_are_frozen_hashable_values() -> None:
    assert Faults(crash=7) == Faults(crash=(7, 1))
    assert hash(Faults(drop=[3, 4])) == hash(Faults(drop=(4, 3)))
    assert len({ALL, Faults(**vars(ALL))}) == 1
    with pytest.raises(AttributeError):
        ALL.crash = None  # type: ignore[misc]


def test_to_args_and_merged() -> None:
    assert ALL.to_args() == ["--stall=6:0.3", "--restart=8:3", "--drop=5,10", "--crash=11:3"]
    merged = ALL.merged(Faults(crash=(12, 4), drop=(3,)))
    assert merged == Faults(stall=(6, 0.3), restart=(8, 3), drop=(3,), crash=(12, 4))
    assert ALL.merged(None) is ALL
    with pytest.raises(SynthLossError, match="the crash at step 7 comes before the restart"):
        ALL.merged(Faults(crash=7))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stall": (0, 1.0)}, "stall step must be an integer >= 1, got 0"),
        ({"stall": (3, 0)}, "stall seconds must be a finite number > 0 and <= 86400, got 0"),
        (
            {"stall": (3, float("nan"))},
            "stall seconds must be a finite number > 0 and <= 86400, got nan",
        ),
        (
            {"stall": (3, 1e10)},
            "stall seconds must be a finite number > 0 and <= 86400, got 10000000000.0",
        ),
        (
            {"stall": (3, True)},
            "stall seconds must be a finite number > 0 and <= 86400, got True (bool)",
        ),
        ({"stall": 3}, "stall must be a pair (step, seconds), got 3"),
        ({"stall": (1, 2, 3)}, "stall must be a pair (step, seconds), got (1, 2, 3)"),
        (
            {"restart": (3, 5)},
            "a restart after step 3 going back 5 steps would resume at step -1, a step < 1; "
            "go back at most 3 steps",
        ),
        ({"restart": (3, 0)}, "restart back (steps to repeat) must be an integer >= 1, got 0"),
        ({"restart": (2.0, 1)}, "restart step must be an integer >= 1, got 2.0 (float)"),
        ({"drop": (4, 4)}, "dropped step 4 is listed twice"),
        ({"drop": "7"}, "drop must be a sequence of steps, got '7'"),
        ({"drop": (0,)}, "dropped step must be an integer >= 1, got 0"),
        ({"crash": (5, 0)}, "crash exit code must be an integer from 1 to 255 except 2 (bad "),
        ({"crash": (5, 2)}, "crash exit code must be an integer from 1 to 255 except "),
        ({"crash": (5, 130)}, "crash exit code must be an integer from 1 to 255 except "),
        ({"crash": (5, 143)}, "crash exit code must be an integer from 1 to 255 except "),
        ({"crash": (5, 256)}, "crash exit code must be an integer from 1 to 255 except "),
        ({"crash": True}, "crash must be a pair (step, exit_code) or a step, got True"),
        (
            {"stall": (4, 1.0), "drop": (4,)},
            "step 4 is both dropped and the stall step; the stall step must be logged",
        ),
        (
            {"restart": (6, 2), "drop": (6,)},
            "step 6 is both dropped and the restart step; the restart step must be logged",
        ),
        (
            {"crash": 6, "drop": (6,)},
            "step 6 is both dropped and the crash step; the crash step must be logged",
        ),
        (
            {"restart": (6, 2), "crash": 6},
            "the crash at step 6 comes before the restart after step 6, which would never "
            "happen; crash at a later step",
        ),
        (
            {"stall": (8, 1.0), "crash": 6},
            "the stall at step 8 comes after the crash at step 6, which would never happen; "
            "stall at or before the crash step",
        ),
        (
            {"drop": (3, 9), "crash": 6},
            "dropped step 9 comes after the crash at step 6; a run logs nothing after it crashes",
        ),
    ],
)
def test_bad_faults_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SynthLossError) as info:
        Faults(**kwargs)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("faults", "steps", "start_step", "message"),
    [
        (
            Faults(stall=(30, 1.0)),
            20,
            1,
            "stall step 30 is outside the run; the run's steps are 1..20",
        ),
        (Faults(crash=3), 5, 4, "crash step 3 is outside the run; the run's steps are 4..8"),
        (
            Faults(drop=(21,)),
            20,
            1,
            "dropped step 21 is outside the run; the run's steps are 1..20",
        ),
        (
            Faults(restart=(12, 3)),
            5,
            11,
            "a restart after step 12 going back 3 steps would resume at step 10, before the "
            "run's first step 11; go back at most 2 steps",
        ),
        (
            Faults(drop=(1,)),
            20,
            1,
            "dropped step 1 is the run's first or last logged step, so it would not be missing "
            "from the log; drop steps strictly between 1 and 20",
        ),
        (
            Faults(drop=(20,)),
            20,
            1,
            "dropped step 20 is the run's first or last logged step, so it would not be "
            "missing from the log; drop steps strictly between 1 and 20",
        ),
        (Faults(drop=(5,), crash=(5 + 1, 1)), 20, 1, None),
    ],
)
def test_faults_must_fit_the_run(
    faults: Faults, steps: int, start_step: int, message: str | None
) -> None:
    if message is None:
        assert faults.check_run(steps, start_step) is faults
        return
    with pytest.raises(SynthLossError) as info:
        faults.check_run(steps, start_step)
    assert str(info.value) == message


# -- faults declared in a profile -----------------------------------------------------


def test_a_profile_may_declare_faults_without_changing_any_loss() -> None:
    flaky = Profile("flaky", spikes={4: 9.7, 5: 9.5}, faults=Faults(drop=(7,), crash=(9, 4)))
    spiky = Profile("spiky-copy", spikes={4: 9.7, 5: 9.5})
    assert flaky.faults == Faults(drop=(7,), crash=(9, 4))
    assert hash(flaky) != hash(Profile("flaky", spikes={4: 9.7, 5: 9.5}))
    assert flaky != Profile("flaky", spikes={4: 9.7, 5: 9.5})
    assert "faults=Faults(stall=None, restart=None, drop=(7,), crash=(9, 4))" in repr(flaky)
    assert make_curve(20, flaky).losses.tobytes() == make_curve(20, spiky).losses.tobytes()
    assert make_curve(20, flaky).spike_steps == (4, 5)
    assert Profile("plain").faults is None
    with pytest.raises(SynthLossError, match=r"^profile 'x': faults must be a Faults or None"):
        Profile("x", faults=(3, 1))  # type: ignore[arg-type]


@pytest.mark.usefixtures("clean_registry")
def test_cli_faults_replace_the_profiles_of_their_kind(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_synthloss.cli.main import main

    register_profile(Profile("flaky", faults=Faults(drop=(3,), crash=(6, 4))))
    out = tmp_path / "run.log"
    assert main(["train", "--steps", "8", "--profile", "flaky", "-o", str(out)]) == 4
    assert read_log(out).steps.tolist() == [1, 2, 4, 5, 6]
    assert capsys.readouterr().err == (
        "synthloss train: crashed after step 6 (injected fault), exit code 4\n"
    )
    argv = ["train", "--steps", "8", "--profile", "flaky", "-o", str(out), "--crash", "7:5"]
    assert main(argv) == 5
    assert read_log(out).steps.tolist() == [1, 2, 4, 5, 6, 7]
    capsys.readouterr()
    # The profile's drop of step 3 with a command-line crash at step 2: contradictory.
    assert main([*argv[:-1], "2"]) == 2
    assert capsys.readouterr().err == (
        "synthloss train: error: dropped step 3 comes after the crash at step 2; "
        "a run logs nothing after it crashes\n"
    )


# -- the run loop ---------------------------------------------------------------------


def test_a_stall_delays_its_step_and_everything_after_it() -> None:
    result, stream, clock = _emulate(Faults(stall=(3, 2.0)), steps=5)
    assert result == RunResult(5, 5, None, None)
    assert clock.sleeps == pytest.approx([0.1, 0.1, 2.0, 0.1, 0.1, 0.1])
    assert [t for t, _ in stream.writes[1:]] == pytest.approx([0.1, 0.2, 2.3, 2.4, 2.5])


def test_a_stall_is_silence_after_the_last_line_even_when_the_run_is_late() -> None:
    clock = FakeClock()
    stream = TimedStream(clock)
    curve = make_curve(5)

    class SlowWriter(LogWriter):
        def write(
            self, steps: Any, losses: Any, time: float | None = None, signals: Any = None
        ) -> None:
            super().write(steps, losses, time, signals)
            if steps[0] == 2:
                clock.now += 0.15  # step 2's write is slow: the run is 0.15 s behind

    with StopSignals(sleep=clock.sleep) as stop:
        emulate(
            curve,
            SlowWriter(stream, "text", curve.config),
            sleep_seconds=0.1,
            clock=clock,
            stop=stop,
            faults=Faults(stall=(3, 1.0)),
        )
    times = [t for t, _ in stream.writes[1:]]
    # Silence of the full 1.0 s after step 2's write ended (at 0.35), not 1.0 minus the lag.
    assert times == pytest.approx([0.1, 0.2, 1.45, 1.55, 1.65])


def test_bulk_mode_pauses_once_for_the_stall_and_keeps_whole_lines() -> None:
    result, stream, clock = _emulate(ALL, sleep=0.0, fmt="csv")
    assert clock.sleeps == [0.3]
    assert [text.count("\n") for _, text in stream.writes] == [1, 4, 3, 4, 1]
    assert result == RunResult(12, 12, None, 3)
    assert result.exit_code == 3


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
@pytest.mark.parametrize(
    "faults",
    [
        ALL,
        Faults(restart=(10, 3)),
        Faults(restart=(10, 10), drop=(4, 5, 6)),
        Faults(drop=(2, 19)),
        Faults(crash=(17, 9), stall=(17, 0.5)),
        Faults(restart=(20, 1)),
    ],
)
def test_read_log_reports_exactly_the_declared_faults(faults: Faults, fmt: str) -> None:
    observed: list[tuple[int, float]] = []
    result, stream, _ = _emulate(
        faults,
        steps=20,
        sleep=0.01,
        fmt=fmt,
        profile="spiky",
        observer=lambda s, v: observed.append((s, v)),
    )
    log = read_log(stream.getvalue().splitlines())
    assert log.steps.tolist() == list(faults.logged_steps(20))
    assert log.repeated_steps == faults.repeated_steps
    assert log.missing_steps == faults.missing_steps
    assert result.exit_code == faults.exit_code
    exact = [synthetic_loss(step, "spiky") for step in faults.logged_steps(20)]
    assert observed == list(zip(faults.logged_steps(20), exact, strict=True))
    if fmt == "text":
        assert log.losses.tolist() == [round(v, 2) for v in exact]
    else:
        assert log.losses.tolist() == exact  # bit for bit
    deduplicated = log.deduplicated()
    assert deduplicated.repeated_steps == ()
    assert deduplicated.gaps == log.gaps
    assert deduplicated.steps.tolist() == sorted(set(faults.logged_steps(20)))
    if not faults.drop and faults.crash is None and fmt != "text":
        assert deduplicated.to_curve() == make_curve(20, "spiky")
        assert deduplicated.losses.tobytes() == make_curve(20, "spiky").losses.tobytes()


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed in the main thread",
)
def test_a_signal_during_the_stall_stops_the_run_before_its_crash() -> None:
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if seconds > 1:
            signal.raise_signal(signal.SIGTERM)  # the stall's sleep is interrupted

    result, stream, _ = _emulate(Faults(stall=(3, 60.0), crash=5), steps=8, sleep_fn=sleep)
    assert result == RunResult(2, 5, signal.SIGTERM, None)
    assert result.exit_code == 143
    assert stream.getvalue().splitlines()[1:] == ["Step 1: loss=2.18", "Step 2: loss=2.11"]


# -- read_log on hand-written logs ------------------------------------------------------


def test_read_log_reports_repeats_and_gaps_in_any_log() -> None:
    lines = ["Step 1: loss=2.18", "Step 2: loss=2.11", "Step 3: loss=2.04", "Step 2: loss=5.00"]
    log = read_log([*lines, "Step 3: loss=6.00", "Step 5: loss=1.90"])
    assert log.steps.tolist() == [1, 2, 3, 2, 3, 5]  # every line, in log order
    assert (log.repeated_steps, log.gaps, log.missing_steps) == ((2, 3), ((4, 4),), (4,))
    kept = log.deduplicated()
    assert (kept.steps.tolist(), kept.losses.tolist()) == ([1, 2, 3, 5], [2.18, 5.0, 6.0, 1.9])
    with pytest.raises(ValueError, match="read-only"):
        kept.losses[0] = 0.0
    sparse = read_log(["Step 100: loss=1.05", "Step 1: loss=2.18", "Step 300: loss=1.05"])
    assert sparse.gaps == ((2, 99), (101, 299))
    assert len(sparse.missing_steps) == 98 + 199
    assert sparse.deduplicated().steps.tolist() == [1, 100, 300]
    clean = read_log(["Step 1: loss=2.18", "Step 2: loss=2.11"])
    assert (clean.repeated_steps, clean.gaps, clean.deduplicated() is clean) == ((), (), True)


def test_to_curve_points_at_deduplicated_when_steps_repeat() -> None:
    header = "# synthloss run: profile=stable steps=3 start_step=1 lr=None batch_size=None"
    log = read_log([header, "Step 1: loss=2.18", "Step 2: loss=2.11", "Step 2: loss=2.11"])
    with pytest.raises(SynthLossError) as info:
        log.to_curve()
    assert str(info.value) == (
        "the logged steps are not consecutive: step 2 at position 2, expected 3 "
        "(steps 2 repeat; use .deduplicated().to_curve())"
    )
    assert log.deduplicated().to_curve() == make_curve(2)


def test_drop_is_bounded_and_passed_on_as_ranges() -> None:
    assert Faults(drop=(3, 5, 6, 7, 8, 10, 11)).to_args() == ["--drop=3,5..8,10,11"]
    many = Faults(drop=range(2, 2 + MAX_DROPPED_STEPS))
    assert many.to_args() == [f"--drop=2..{1 + MAX_DROPPED_STEPS}"]
    with pytest.raises(SynthLossError) as info:
        Faults(drop=range(2, 10**20))
    assert str(info.value) == "drop lists more than 100000 steps; at most 100000 are allowed"
