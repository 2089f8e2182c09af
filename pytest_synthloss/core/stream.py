"""A training run, step by step, against a clock you control.

:class:`LossStream` yields ``(step, loss, time)`` one step at a time. Before each step it
"waits" ``interval`` seconds on its clock (plus any extra delay given for that step), so
with a run starting at step 1 the loss of step ``k`` arrives at ``t0 + k * interval``,
where ``t0`` is the clock's time when iteration starts. The default clock is a
:class:`FakeClock`, whose ``sleep`` only moves its time forward: a monitor that reads the
same clock sees minutes pass in microseconds. Pass ``clock=SystemClock()`` for real time.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_float, check_step

if TYPE_CHECKING:
    from pytest_synthloss.core.curve import LossCurve

__all__ = ["Clock", "FakeClock", "LossStream", "SignalStep", "StreamStep", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What a stream (and the monitor under test) needs from a clock."""

    def time(self) -> float:
        """The current time in seconds."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock just advances)."""


def _seconds(value: object, what: str) -> float:
    return check_float(what, value, minimum=0.0, allowed="of seconds >= 0")


class FakeClock:
    """A clock that moves only when told: ``sleep`` and ``advance`` return at once."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = check_float("FakeClock start", start)
        self.sleeps: list[float] = []
        """Every ``sleep`` call's duration, in order."""

    def time(self) -> float:
        """The fake current time."""
        return self._now

    monotonic = time

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds`` (>= 0)."""
        self._now = self._later(_seconds(seconds, "FakeClock.advance() seconds"))

    def sleep(self, seconds: float) -> None:
        """Record the call and advance by ``seconds``, without waiting."""
        duration = _seconds(seconds, "FakeClock.sleep() seconds")
        later = self._later(duration)
        self.sleeps.append(duration)
        self._now = later

    def _later(self, seconds: float) -> float:
        later = self._now + seconds
        if not math.isfinite(later):
            raise SynthLossError(
                f"FakeClock time {self._now!r} + {seconds!r} seconds is past the largest "
                f"finite time ({sys.float_info.max!r})"
            )
        return later

    def __repr__(self) -> str:
        return f"FakeClock(time={self._now!r})"


class SystemClock:
    """Real time: ``time.monotonic()`` and ``time.sleep()``."""

    def time(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``."""
        time.sleep(_seconds(seconds, "SystemClock.sleep() seconds"))


class StreamStep(NamedTuple):
    """One step of a stream: the step number, its loss and the clock time it arrived."""

    step: int
    loss: float
    time: float


class SignalStep(NamedTuple):
    """A step of a stream with ``signals=True``: a :class:`StreamStep` plus the signals.

    ``signals`` maps each name of :data:`~pytest_synthloss.core.signals.SIGNAL_NAMES` to
    the step's value (a float).
    """

    step: int
    loss: float
    time: float
    signals: dict[str, float]


class LossStream:
    """Iterate over ``curve`` one :class:`StreamStep` at a time, sleeping on ``clock``.

    ``interval`` is the seconds each step takes (finite, >= 0); ``delays`` is a mapping
    from a step of the run to extra seconds before it (finite, >= 0: a stalled step, for
    heartbeat and timeout logic). The whole run must last a finite time, and a
    :class:`FakeClock` refuses to move past the largest float. A stream is a one-shot
    iterator, like a training loop; make a new one to replay. ``signals=True`` yields
    :class:`SignalStep` records with the step's linked signals (the profile must declare
    them), computed a chunk at a time.
    """

    def __init__(
        self,
        curve: LossCurve,
        *,
        interval: float = 1.0,
        clock: Clock | None = None,
        delays: Mapping[int, float] | None = None,
        signals: bool = False,
    ) -> None:
        self.curve = curve
        if not isinstance(signals, bool):
            raise SynthLossError(f"signals must be True or False, got {signals!r}")
        if signals and curve.profile.signals is None:
            raise SynthLossError(
                f"signals=True: profile {curve.profile.name!r} declares no signals; "
                "give it signals=Signals(...) or use the 'fp16-overflow' profile"
            )
        self._with_signals = signals
        self.interval = _seconds(interval, "interval")
        if clock is not None and not isinstance(clock, Clock):
            raise SynthLossError(
                f"clock must have time() and sleep() methods, got {clock!r} "
                f"({type(clock).__name__})"
            )
        self.clock: Clock = FakeClock() if clock is None else clock
        if delays is not None and not isinstance(delays, Mapping):
            raise SynthLossError(
                "delays must be a mapping {step: extra seconds >= 0}, "
                f"got {delays!r} ({type(delays).__name__})"
            )
        self.delays: dict[int, float] = {}
        for step, extra in (delays or {}).items():
            checked = check_step(step, "delays step")
            if not curve.start_step <= checked <= curve.last_step:
                raise SynthLossError(
                    f"delays step {checked} is outside the run "
                    f"(steps {curve.start_step}..{curve.last_step})"
                )
            self.delays[checked] = _seconds(extra, f"delays[{checked}]")
        total = self.interval * len(curve) + math.fsum(self.delays.values())
        if not math.isfinite(total):
            raise SynthLossError(
                f"interval={self.interval!r} over {len(curve)} steps plus delays lasts more "
                f"than the largest finite time ({sys.float_info.max!r} seconds)"
            )
        self._pairs: Iterator[tuple[int, float, dict[str, float]]] = _records(curve, signals)
        self._emitted = 0

    def __iter__(self) -> LossStream:
        return self

    def __next__(self) -> StreamStep | SignalStep:
        step, loss, values = next(self._pairs)
        self.clock.sleep(self.interval + self.delays.get(step, 0.0))
        self._emitted += 1
        if self._with_signals:
            return SignalStep(step, loss, self.clock.time(), values)
        return StreamStep(step, loss, self.clock.time())

    def __len__(self) -> int:
        """Steps not yet yielded."""
        return len(self.curve) - self._emitted

    def __repr__(self) -> str:
        return (
            f"<LossStream {self.curve.profile.name} steps {self.curve.start_step}.."
            f"{self.curve.last_step} interval={self.interval!r} at {self._emitted}/"
            f"{len(self.curve)} clock={self.clock!r}>"
        )


def _records(curve: LossCurve, signals: bool) -> Iterator[tuple[int, float, dict[str, float]]]:
    """``(step, loss, signals)`` of every step, a chunk of 4096 steps at a time."""
    for chunk in curve.iter_chunks(4096):
        steps, losses = chunk.steps.tolist(), chunk.losses.tolist()
        if not signals:
            for step, loss in zip(steps, losses, strict=True):
                yield step, loss, {}
            continue
        columns = {name: values.tolist() for name, values in chunk.signals.items()}
        for index, (step, loss) in enumerate(zip(steps, losses, strict=True)):
            yield step, loss, {name: values[index] for name, values in columns.items()}
