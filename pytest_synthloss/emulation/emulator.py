"""The training-run emulator: writes a :class:`LossCurve` as a live log, one step at a time.

Each step "computes" for ``sleep_seconds`` and then logs its line, so a run of ``n`` steps
takes about ``n * sleep_seconds`` and its lines arrive spread over that time. Pacing
follows deadlines (step ``k`` is logged at ``start + k * sleep_seconds``), so slow writes
do not add up. ``clock`` and ``sleep`` are injectable for tests.

SIGINT and SIGTERM (with :class:`StopSignals`) stop the run at a line boundary: a signal
interrupts only the sleep, never a write, so every line written is complete. The run
reports the signal and the caller exits with ``128 + signum`` (130, 143).

Declared :class:`~pytest_synthloss.faults.Faults` change what is logged and when: a stall
sleeps its seconds after the last line written, then its step takes the usual time (later
deadlines move with it), a restart logs steps again, dropped steps
are skipped, and a crash ends the run after its step's line with the crash's exit code.

A timed writer (``LogWriter(..., timed=True)``, what ``synthloss train`` uses) logs each
line's ``time``: ``clock()`` when the line is written minus ``clock()`` when the run
started (after the header). Under a :class:`~pytest_synthloss.FakeClock` those are exact:
with ``sleep_seconds=0.25`` the lines say 0.25, 0.5, 0.75, ... and a stall adds its seconds.
Without sleeping, every line of a chunk of :data:`BULK_CHUNK` carries the chunk's time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TextIO

from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.faults import Faults, Segment
from pytest_synthloss.core.recorded import RecordedCurve, require_consecutive
from pytest_synthloss.emulation.logwriter import LogWriter
from pytest_synthloss.emulation.sink import StopWriting

__all__ = ["Progress", "RunResult", "StopSignals", "emulate"]

#: Steps written per ``write`` when the run does not sleep (``synthloss curve``).
BULK_CHUNK = 4096

Clock = Callable[[], float]
Sleep = Callable[[float], None]
#: Called with the last ``(step, loss)`` of every write (a live metrics gauge, say), and
#: for a profile with linked signals also with that step's ``{signal: value}``.
Observer = Callable[..., None]


class _SleepInterruptedError(Exception):
    """Raised by the signal handler, only ever inside a sleep."""


class StopSignals:
    """Context manager: SIGINT and SIGTERM request a clean stop instead of killing the run.

    The first signal is kept in ``signum``. It cuts short a :meth:`pause` in progress;
    outside a pause (while a line is written) it is only recorded, and the run stops at
    the next line boundary. Outside the main thread no handler can be installed and
    signals keep their previous behaviour.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, sleep: Sleep = time.sleep) -> None:
        self.signum: int | None = None
        self._sleep = sleep
        self._sleeping = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self._sleeping:
            self._sleeping = False  # at most one raise per pause
            raise _SleepInterruptedError

    @property
    def stopped(self) -> bool:
        """Whether a stop was requested."""
        return self.signum is not None

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless a stop is (or gets) requested."""
        try:
            self._sleeping = True
            if self.signum is None and seconds > 0:
                self._sleep(seconds)
            self._sleeping = False
        except _SleepInterruptedError:
            pass


class Progress:
    """A one-line progress display (``\\r``-rewritten) for a person watching a terminal.

    Written to its own stream (stderr), never to the data stream, at most every
    ``interval`` seconds plus the last step.
    """

    def __init__(self, stream: TextIO, clock: Clock = time.monotonic, interval: float = 0.1):
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self._started = clock()
        self._shown_at: float | None = None
        self._width = 0
        self._broken = False

    def update(self, done: int, total: int, step: int, loss: float) -> None:
        """Show that ``done`` of ``total`` steps are logged, the last being ``step``."""
        now = self.clock()
        if done < total and self._shown_at is not None and now - self._shown_at < self.interval:
            return
        self._shown_at = now
        elapsed = now - self._started
        eta = elapsed / done * (total - done) if done else 0.0
        text = (
            f"step {step} ({done}/{total}, {100 * done // total}%) loss={loss:.4g} "
            f"elapsed {elapsed:.1f}s eta {eta:.1f}s"
        )
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        self._show(f"\r{text}{padding}")

    def close(self) -> None:
        """End the progress line."""
        if self._shown_at is not None:
            self._show("\n")

    def _show(self, text: str) -> None:
        """Write to the progress stream; if that fails (stderr on a full disk), stop showing.

        Progress is a courtesy: a failing stderr never fails the run or its log.
        """
        if self._broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self._broken = True


@dataclass(frozen=True)
class RunResult:
    """How an emulated run ended: lines written, the signal that stopped it, a crash.

    ``total_steps`` counts the lines the run would log in full (faults included);
    ``crash_code`` is set when the run reached its declared crash.
    """

    steps_written: int
    total_steps: int
    signum: int | None = None
    crash_code: int | None = None

    @property
    def exit_code(self) -> int:
        """0 for a finished run, ``128 + signum`` if stopped by a signal, else the crash's."""
        if self.signum is not None:
            return 128 + self.signum
        return 0 if self.crash_code is None else self.crash_code


def emulate(
    curve: LossCurve,
    writer: LogWriter,
    *,
    sleep_seconds: float = 0.0,
    clock: Clock = time.monotonic,
    stop: StopSignals | None = None,
    progress: Progress | None = None,
    faults: Faults | None = None,
    observer: Observer | None = None,
) -> RunResult:
    """Write ``curve`` through ``writer`` as a live run: a line per step, each after a sleep.

    With ``sleep_seconds == 0`` the lines are written in chunks of :data:`BULK_CHUNK`
    (still whole lines per write). ``stop`` (a :class:`StopSignals`, which also does the
    sleeping) ends the run early at a line boundary. ``faults`` are checked against the
    run first; ``observer`` sees the last step and loss of every write.
    """
    require_consecutive(curve, "an emulated run")
    stop = stop if stop is not None else StopSignals()
    if faults is None:
        segments: tuple[Segment, ...] = (Segment(curve.start_step, curve.last_step),)
    else:
        segments = faults.segments(len(curve), curve.start_step)
    total = sum(segment.size for segment in segments)
    try:
        done = _write_segments(
            curve, writer, segments, total, sleep_seconds, clock, stop, progress, observer
        )
    except _Stopped as exc:
        done = exc.done
    if progress is not None:
        progress.close()
    crash_code = None
    if faults is not None and faults.crash is not None and not stop.stopped:
        crash_code = faults.crash[1]
    return RunResult(done, total, stop.signum, crash_code)


class _Stopped(Exception):  # noqa: N818 - control flow
    def __init__(self, done: int) -> None:
        super().__init__(done)
        self.done = done


def _write(
    writer: LogWriter,
    steps: list[int],
    losses: list[float],
    done: int,
    time: float,
    signals: dict[str, list[float]] | None = None,
) -> int:
    """Write these lines; on a stop during the write, end the run after the lines delivered."""
    try:
        writer.write(steps, losses, time, signals)
    except StopWriting as exc:
        raise _Stopped(done + exc.lines) from None
    return done + len(steps)


def _part(curve: LossCurve, segment: Segment) -> LossCurve:
    """The model's steps of ``segment`` (logged step minus the resume's shift): a recorded
    run replays its own values."""
    first = segment.first - segment.shift
    if isinstance(curve, RecordedCurve):
        return curve.window(first - curve.start_step, segment.size)
    return LossCurve(curve.profile, segment.size, first, curve.lr, curve.batch_size)


def _write_segments(
    curve: LossCurve,
    writer: LogWriter,
    segments: tuple[Segment, ...],
    total: int,
    sleep_seconds: float,
    clock: Clock,
    stop: StopSignals,
    progress: Progress | None,
    observer: Observer | None,
) -> int:
    done = 0
    try:
        writer.write_header()
    except StopWriting:
        raise _Stopped(0) from None
    started = run_started = clock()
    for segment in segments:
        part, shift, scale = _part(curve, segment), segment.shift, segment.scale
        if sleep_seconds > 0:
            if segment.pause:
                # The stall counts from the last line written, whatever the pacing's slack:
                # no output for at least ``pause`` seconds, then the usual step time.
                stop.pause(segment.pause)
                started = clock() - done * sleep_seconds
            for model_step, model_loss, values in _step_records(part):
                step, loss = model_step + shift, model_loss * scale if scale != 1.0 else model_loss
                stop.pause(started + (done + 1) * sleep_seconds - clock())
                if stop.stopped:
                    break
                row = None if values is None else {k: [v] for k, v in values.items()}
                done = _write(writer, [step], [loss], done, clock() - run_started, row)
                _observe(observer, step, loss, values)
                if progress is not None:
                    progress.update(done, total, step, loss)
        else:
            stop.pause(segment.pause)
            for chunk in part.iter_chunks(BULK_CHUNK):
                if stop.stopped:
                    break
                steps = (chunk.steps + shift if shift else chunk.steps).tolist()
                losses = (chunk.losses * scale if scale != 1.0 else chunk.losses).tolist()
                columns = {name: array.tolist() for name, array in chunk.signals.items()}
                done = _write(writer, steps, losses, done, clock() - run_started, columns or None)
                last = {name: values[-1] for name, values in columns.items()} or None
                _observe(observer, steps[-1], losses[-1], last)
                if progress is not None:
                    progress.update(done, total, steps[-1], losses[-1])
        if stop.stopped:
            break
    return done


def _step_records(part: LossCurve) -> Iterator[tuple[int, float, dict[str, float] | None]]:
    """``(step, loss, signals)`` of every step (signals ``None`` without), by chunks."""
    for chunk in part.iter_chunks(BULK_CHUNK):
        steps, losses = chunk.steps.tolist(), chunk.losses.tolist()
        if not chunk.signals:
            for step, loss in zip(steps, losses, strict=True):
                yield step, loss, None
            continue
        columns = {name: array.tolist() for name, array in chunk.signals.items()}
        for index, (step, loss) in enumerate(zip(steps, losses, strict=True)):
            yield step, loss, {name: values[index] for name, values in columns.items()}


def _observe(
    observer: Observer | None, step: int, loss: float, signals: dict[str, float] | None
) -> None:
    if observer is None:
        return
    if signals is None:
        observer(step, loss)
    else:
        observer(step, loss, signals)
