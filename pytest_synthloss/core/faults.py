"""Emulator-level faults: what a run *logs* goes wrong, never the loss of a step.

A :class:`Faults` declares, for ``synthloss train`` and ``synthloss_run``:

=============================  ==================================================================
fault                          what the run does
=============================  ==================================================================
``stall=(k, S)``               hangs ``S`` seconds after the line before step ``k`` (the hung
                               job): no output for at least ``S`` seconds, then step ``k``
                               takes its usual time
``restart=(k, r)``             after logging step ``k`` it resumes from the checkpoint of step
                               ``k - r``: steps ``k - r + 1 .. k`` are logged again (``r`` repeated
                               steps), then the run goes on to its last step; ``resume=``
                               says what the data loader does then (replay seen batches, skip
                               ahead, reset the step counter: ``core/resumes.py``)
``drop=(a, b, ...)``           never logs these steps (also not when a restart repeats them)
``crash=(k, code)``            exits with ``code`` (default 1) right after logging step ``k``
=============================  ==================================================================

Each fault happens the first time its step comes up. The ground truth is derived:
:attr:`~Faults.repeated_steps`, :attr:`~Faults.missing_steps`, :attr:`~Faults.stall_step`,
:attr:`~Faults.crash_step`, :attr:`~Faults.exit_code` and, for a run of ``steps`` steps
from ``start_step``, :meth:`~Faults.logged_steps` (every line, in order).

Imports no numpy: :class:`~pytest_synthloss.runner.TrainingRun` uses it at plugin load time.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.resumes import Resume, resumed_pass
from pytest_synthloss.core.validation import MAX_STEP, check_float, check_step, show

__all__ = ["MAX_DROPPED_STEPS", "MAX_STALL_SECONDS", "RESERVED_EXIT_CODES", "Faults", "Segment"]

#: Longest stall accepted: a day (``time.sleep`` overflows past ~9e9 s).
MAX_STALL_SECONDS = 86_400.0
#: Most steps one run may drop (``drop`` is held as a tuple and passed on the command line).
MAX_DROPPED_STEPS = 100_000
#: Exit codes a crash may not use: the CLI gives them their own meaning.
RESERVED_EXIT_CODES = {2: "bad input", 130: "SIGINT", 141: "a closed pipe", 143: "SIGTERM"}


class Segment(NamedTuple):
    """Consecutive steps ``first .. last`` logged one after the other, after ``pause`` seconds.

    Logged step ``s`` shows ``scale`` times the loss of step ``s - shift`` (a resume's data
    effect; 0 and 1.0 otherwise).
    """

    first: int
    last: int
    pause: float = 0.0
    shift: int = 0
    scale: float = 1.0

    @property
    def size(self) -> int:
        """How many steps the segment logs."""
        return self.last - self.first + 1


@dataclass(frozen=True, init=False)
class Faults:
    """Declared faults of an emulated run (all optional); frozen, hashable, validated.

    ``stall`` is ``(step, seconds)``, ``restart`` is ``(step, back)``, ``drop`` a sequence
    of steps, ``crash`` is ``(step, exit_code)`` or just ``step`` (exit code 1), ``resume``
    the restart's data effect (a :class:`~pytest_synthloss.core.resumes.Resume`). Everything
    that can be checked without the run's length is checked here; :meth:`check_run`
    checks the rest. Contradictory faults are refused with a ``SynthLossError``.
    """

    stall: tuple[int, float] | None = None
    restart: tuple[int, int] | None = None
    drop: tuple[int, ...] = ()
    crash: tuple[int, int] | None = None
    resume: Resume | None = None

    def __init__(
        self,
        stall: tuple[int, float] | None = None,
        restart: tuple[int, int] | None = None,
        drop: Iterable[int] = (),
        crash: int | tuple[int, int] | None = None,
        resume: Resume | None = None,
    ) -> None:
        object.__setattr__(self, "stall", _checked_stall(stall))
        object.__setattr__(self, "restart", _checked_restart(restart))
        object.__setattr__(self, "drop", _checked_drop(drop))
        object.__setattr__(self, "crash", _checked_crash(crash))
        if resume is not None and not isinstance(resume, Resume):
            raise SynthLossError(f"resume must be a Resume or None, got {resume!r}")
        if resume is not None and restart is None:
            raise SynthLossError("resume describes a restart's data: give restart=(step, back)")
        if resume is not None and resume.mode in ("skip", "reset") and crash is not None:
            raise SynthLossError(f"a crash after a {resume.mode} resume is not supported")
        object.__setattr__(self, "resume", resume)
        self._check_consistent()

    def __repr__(self) -> str:
        data = "" if self.resume is None else f", resume={self.resume!r}"
        return (
            f"Faults(stall={self.stall!r}, restart={self.restart!r}, drop={self.drop!r}, "
            f"crash={self.crash!r}{data})"
        )

    def _check_consistent(self) -> None:
        for what, step in (
            ("stall", self.stall_step),
            ("restart", self.restart_step),
            ("crash", self.crash_step),
        ):
            if step is not None and step in self.drop:
                raise SynthLossError(
                    f"step {step} is both dropped and the {what} step; the {what} step "
                    "must be logged"
                )
        crash = self.crash_step
        if crash is None:
            return
        if self.restart_step is not None and crash <= self.restart_step:
            raise SynthLossError(
                f"the crash at step {crash} comes before the restart after step "
                f"{self.restart_step}, which would never happen; crash at a later step"
            )
        if self.stall_step is not None and self.stall_step > crash:
            raise SynthLossError(
                f"the stall at step {self.stall_step} comes after the crash at step {crash}, "
                "which would never happen; stall at or before the crash step"
            )
        late = [step for step in self.drop if step > crash]
        if late:
            raise SynthLossError(
                f"dropped step {late[0]} comes after the crash at step {crash}; "
                "a run logs nothing after it crashes"
            )

    # -- ground truth that does not depend on the run -----------------------------------

    @property
    def stall_step(self) -> int | None:
        """The step logged right after the stall (``None`` without a stall)."""
        return None if self.stall is None else self.stall[0]

    @property
    def stall_seconds(self) -> float:
        """How long the run hangs (0.0 without a stall)."""
        return 0.0 if self.stall is None else self.stall[1]

    @property
    def restart_step(self) -> int | None:
        """The step after which the run restarts (``None`` without a restart)."""
        return None if self.restart is None else self.restart[0]

    @property
    def resume_step(self) -> int | None:
        """The model's first step after the restart, ``step - back + 1`` (the first step
        logged after it, unless the :attr:`resume` skips ahead or resets the counter)."""
        return None if self.restart is None else self.restart[0] - self.restart[1] + 1

    @property
    def repeated_steps(self) -> tuple[int, ...]:
        """The steps logged twice: ``resume_step .. restart_step`` except dropped ones (from
        ``resume_step + batches`` on a skip; a reset's depend on the run: ``resume_truth``)."""
        if self.restart is None:
            return ()
        first = self.restart[0] - self.restart[1] + 1
        if self.resume is not None and self.resume.mode == "reset":
            raise SynthLossError(
                "a reset resume's repeated steps depend on the run's length; use "
                "resume_truth(faults, steps, start_step).repeated"
            )
        if self.resume is not None and self.resume.mode == "skip":
            first += self.resume.batches
        dropped = set(self.drop)
        return tuple(s for s in range(first, self.restart[0] + 1) if s not in dropped)

    @property
    def missing_steps(self) -> tuple[int, ...]:
        """The steps never logged (the dropped ones), ascending."""
        return self.drop

    @property
    def crash_step(self) -> int | None:
        """The step after which the run crashes: its last line (``None`` without a crash)."""
        return None if self.crash is None else self.crash[0]

    @property
    def exit_code(self) -> int:
        """The run's exit code: the crash's, else 0."""
        return 0 if self.crash is None else self.crash[1]

    def __bool__(self) -> bool:
        """Whether any fault is declared."""
        return bool(self.stall or self.restart or self.drop or self.crash)

    # -- a run of ``steps`` steps from ``start_step`` -------------------------------------

    def check_run(self, steps: int, start_step: int = 1) -> Faults:
        """Check the faults fit a run of ``steps`` steps from ``start_step``; return ``self``.

        Every fault step must lie within the run, a restart must resume at or after the
        first step, and a dropped step must lie strictly between the first and the last
        logged step (so that it is missing from the logged range).
        """
        first, last = _run_range(steps, start_step)
        span = f"the run's steps are {first}..{last}"
        for what, step in (
            ("stall", self.stall_step),
            ("restart", self.restart_step),
            ("crash", self.crash_step),
            *(("dropped", s) for s in self.drop),
        ):
            if step is not None and not first <= step <= last:
                raise SynthLossError(f"{what} step {step} is outside the run; {span}")
        resume = self.resume_step
        if resume is not None and resume < first:
            assert self.restart is not None
            raise SynthLossError(
                f"a restart after step {self.restart[0]} going back {self.restart[1]} steps "
                f"would resume at step {resume}, before the run's first step {first}; "
                f"go back at most {self.restart[0] - first + 1} steps"
            )
        end = self.crash_step if self.crash_step is not None else last
        for step in self.drop:
            if not first < step < end:
                raise SynthLossError(
                    f"dropped step {step} is the run's first or last logged step, so it would "
                    f"not be missing from the log; drop steps strictly between {first} and {end}"
                )
        return self

    def segments(self, steps: int, start_step: int = 1) -> tuple[Segment, ...]:
        """The run's log as :class:`Segment` s of consecutive steps, in the order logged."""
        self.check_run(steps, start_step)
        first, last = _run_range(steps, start_step)
        end = self.crash_step if self.crash_step is not None else last
        passes = [(first, end, 0, 1.0)]
        if self.restart is not None:
            after = resumed_pass(self.resume, *self.restart, end)
            passes = [(first, self.restart[0], 0, 1.0), *after]
        stall = self.stall_step
        result: list[Segment] = []
        for low, high, shift, scale in passes:
            cuts = sorted({s for s in self.drop if low <= s <= high})
            start = low
            for cut in [*cuts, high + 1]:
                pieces = [(start, cut - 1)]
                if stall is not None and start < stall <= cut - 1:
                    pieces = [(start, stall - 1), (stall, cut - 1)]
                for a, b in pieces:
                    if a <= b:
                        pause = 0.0
                        if stall is not None and a == stall:
                            pause, stall = self.stall_seconds, None  # first time only
                        result.append(Segment(a, b, pause, shift, scale))
                start = cut + 1
        return tuple(result)

    def logged_steps(self, steps: int, start_step: int = 1) -> tuple[int, ...]:
        """Every step the run logs, in order, one per line (repeats and gaps included)."""
        return tuple(_iter_steps(self.segments(steps, start_step)))

    def lines_logged(self, steps: int, start_step: int = 1) -> int:
        """How many step lines the run logs."""
        return sum(segment.size for segment in self.segments(steps, start_step))

    def merged(self, override: Faults | None) -> Faults:
        """These faults with each kind ``override`` declares replaced by ``override``'s."""
        if override is None:
            return self
        return Faults(
            stall=override.stall if override.stall is not None else self.stall,
            restart=override.restart if override.restart is not None else self.restart,
            drop=override.drop or self.drop,
            crash=override.crash if override.crash is not None else self.crash,
            resume=override.resume if override.restart is not None else self.resume,
        )

    def to_args(self) -> list[str]:
        """The ``synthloss train`` options declaring these faults."""
        args: list[str] = []
        if self.stall is not None:
            args.append(f"--stall={self.stall[0]}:{self.stall[1]!r}")
        if self.restart is not None:
            data = "" if self.resume is None else f":{self.resume.text()}"
            args.append(f"--restart={self.restart[0]}:{self.restart[1]}{data}")
        if self.drop:
            args.append(f"--drop={_ranges_text(self.drop)}")
        if self.crash is not None:
            args.append(f"--crash={self.crash[0]}:{self.crash[1]}")
        return args

    def describe(self) -> str:
        """A one-line summary, e.g. ``stall 0.5 s before step 6; drop 7, 8``."""
        parts: list[str] = []
        if self.stall is not None:
            parts.append(f"stall {self.stall[1]:g} s before step {self.stall[0]}")
        if self.restart is not None:
            data = "" if self.resume is None else f" ({self.resume.describe()})"
            parts.append(f"restart after step {self.restart[0]} from step {self.resume_step}{data}")
        if self.drop:
            parts.append(f"drop {', '.join(map(str, self.drop))}")
        if self.crash is not None:
            parts.append(f"crash after step {self.crash[0]} (exit {self.crash[1]})")
        return "; ".join(parts) or "no faults"


def _ranges_text(steps: tuple[int, ...]) -> str:
    """Ascending steps as ``--drop`` text, runs of three or more as ``A..B``: ``3,5..9``."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(steps) + 1):
        if i == len(steps) or steps[i] != steps[i - 1] + 1:
            run = steps[start:i]
            parts += [f"{run[0]}..{run[-1]}"] if len(run) >= 3 else [str(s) for s in run]
            start = i
    return ",".join(parts)


def _iter_steps(segments: Iterable[Segment]) -> Iterator[int]:
    for segment in segments:
        yield from range(segment.first, segment.last + 1)


def _run_range(steps: int, start_step: int) -> tuple[int, int]:
    count = check_step(steps, "steps")
    first = check_step(start_step, "start_step")
    if first + count - 1 > MAX_STEP:
        raise SynthLossError(f"the run ends past the last step {MAX_STEP}")
    return first, first + count - 1


def _pair(value: object, what: str, form: str) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise SynthLossError(f"{what} must be a pair {form}, got {value!r}")
    pair = tuple(value)
    if len(pair) != 2:
        raise SynthLossError(f"{what} must be a pair {form}, got {value!r}")
    return pair[0], pair[1]


def _checked_stall(value: object) -> tuple[int, float] | None:
    if value is None:
        return None
    raw_step, raw_seconds = _pair(value, "stall", "(step, seconds)")
    step = check_step(raw_step, "stall step")
    seconds = check_float(
        "stall seconds",
        raw_seconds,
        positive=True,
        maximum=MAX_STALL_SECONDS,
        allowed=f"> 0 and <= {MAX_STALL_SECONDS:g}",
    )
    return step, seconds


def _checked_restart(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    raw_step, raw_back = _pair(value, "restart", "(step, back)")
    step = check_step(raw_step, "restart step")
    back = check_step(raw_back, "restart back (steps to repeat)")
    if back > step:
        raise SynthLossError(
            f"a restart after step {step} going back {back} steps would resume at step "
            f"{step - back + 1}, a step < 1; go back at most {step} steps"
        )
    return step, back


def _checked_drop(value: object) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise SynthLossError(f"drop must be a sequence of steps, got {value!r}")
    steps: set[int] = set()
    for raw in value:
        if len(steps) == MAX_DROPPED_STEPS:
            raise SynthLossError(
                f"drop lists more than {MAX_DROPPED_STEPS} steps; at most {MAX_DROPPED_STEPS} "
                "are allowed"
            )
        step = check_step(raw, "dropped step")
        if step in steps:
            raise SynthLossError(f"dropped step {step} is listed twice")
        steps.add(step)
    return tuple(sorted(steps))


def _checked_crash(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        raw_step, raw_code = value, 1
    else:
        raw_step, raw_code = _pair(value, "crash", "(step, exit_code) or a step")
    step = check_step(raw_step, "crash step")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    if code is None or not 1 <= code <= 255 or code in RESERVED_EXIT_CODES:
        reserved = ", ".join(f"{c} ({why})" for c, why in RESERVED_EXIT_CODES.items())
        raise SynthLossError(
            f"crash exit code must be an integer from 1 to 255 except {reserved}, "
            f"got {show(raw_code)}"
        )
    return step, code
