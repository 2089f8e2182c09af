"""The result of :func:`~pytest_synthloss.emulation.logreader.read_log`: :class:`ParsedLog`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from pytest_synthloss.core.curve import LossCurve, make_curve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_float

__all__ = [
    "MAX_MISSING_STEPS",
    "STALL_FACTOR",
    "ParsedLog",
    "Stall",
    "repeats_and_gaps",
    "resumes_of",
    "step_list",
]

#: Most steps :attr:`ParsedLog.missing_steps` lists; beyond, use :attr:`ParsedLog.gaps`.
MAX_MISSING_STEPS = 1_000_000
#: A gap between two lines is a stall when it exceeds this many typical (median) step times.
STALL_FACTOR = 5.0


class Stall(NamedTuple):
    """A quiet gap in a timed log: no line for ``seconds`` before the line of ``step``.

    ``after_step`` is the step of the line before; ``seconds`` is the difference of the
    two lines' logged times.
    """

    after_step: int
    step: int
    seconds: float


@dataclass(frozen=True)
class ParsedLog:
    """A training log read back by :func:`read_log`: LossCurve-like, with what the log says.

    ``steps`` (int64) and ``losses`` (float64) are read-only arrays with one entry per
    logged line, in log order: a step logged twice (after a restart) appears twice.
    ``repeated_steps`` are the steps logged more than once and ``gaps`` the ``(first, last)``
    windows of steps never logged between the lowest and highest logged step (expanded by
    :attr:`missing_steps`); :meth:`deduplicated` keeps one line per step, the last.
    ``resumes`` are the ``(before, after)`` steps of each place where the log goes back
    (``after <= before``): a restart from an older checkpoint or a step counter reset.
    ``profile`` is the logged profile *name* (``None`` if the log does not say, as in a
    text log without its header). ``skipped`` holds ``(line_number, line)`` of malformed
    lines skipped with ``skip_malformed=True``.

    What a timed log (``synthloss train``'s JSONL and CSV) adds, and a text log's header:

    - ``times``: each line's ``time`` (seconds since the run started; read-only float64),
      ``None`` for a log without times (text, older logs, :func:`write_log`'s);
    - ``planned_last_step``: the last step the run planned to log (``final_step`` on timed
      lines, ``start_step + steps - 1`` from a text header), ``None`` if the log does not
      say; :attr:`missing_tail` compares it with what was logged (a crash);
    - :attr:`stalls`: the gaps between lines far longer than the typical step time;
    - ``signals``: the linked signals of a run that logs them (``grad_norm``,
      ``learning_rate``, ``loss_scale``, ``step_time``; read-only float64 arrays, one
      entry per line), empty otherwise.
    """

    steps: np.ndarray
    losses: np.ndarray
    profile: str | None
    lr: float | None
    batch_size: int | None
    format: str | None
    skipped: tuple[tuple[int, str], ...] = field(default=())
    repeated_steps: tuple[int, ...] = field(default=())
    gaps: tuple[tuple[int, int], ...] = field(default=())
    times: np.ndarray | None = field(default=None)
    planned_last_step: int | None = field(default=None)
    signals: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    resumes: tuple[tuple[int, int], ...] = field(default=())

    def __len__(self) -> int:
        return int(self.steps.size)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        """Iterate over ``(step, loss)`` pairs as Python ints and floats."""
        return zip(self.steps.tolist(), self.losses.tolist(), strict=True)

    @property
    def last_step(self) -> int | None:
        """The last logged step (``None`` for an empty log)."""
        return int(self.steps[-1]) if self.steps.size else None

    @property
    def final_loss(self) -> float | None:
        """The last logged loss (``None`` for an empty log)."""
        return float(self.losses[-1]) if self.losses.size else None

    @property
    def missing_tail(self) -> tuple[int, int] | None:
        """The ``(first, last)`` steps the run planned but never logged after its highest.

        Set when the run ended early (a crash, a kill, a stop); ``None`` when it reached
        :attr:`planned_last_step`, or when the log does not say which step was planned
        last (or logs no step at all). Not counted in :attr:`gaps`.
        """
        if self.planned_last_step is None or not self.steps.size:
            return None
        highest = int(self.steps.max())
        if highest >= self.planned_last_step:
            return None
        return (highest + 1, self.planned_last_step)

    @property
    def stalls(self) -> tuple[Stall, ...]:
        """The gaps over :data:`STALL_FACTOR` typical step times (see :meth:`find_stalls`)."""
        return self.find_stalls()

    def find_stalls(
        self, factor: float = STALL_FACTOR, min_seconds: float = 0.0
    ) -> tuple[Stall, ...]:
        """The gaps between consecutive lines longer than ``factor`` typical step times.

        The typical step time is the median of the differences between consecutive
        lines' times. A gap is a stall when it is longer than ``factor`` times that and
        longer than ``min_seconds`` (raise it for a log written in bulk, whose lines share
        a time and whose chunk boundaries are short gaps). Empty for a log without times.
        """
        check_float("factor", factor, minimum=1.0, allowed=">= 1")
        check_float("min_seconds", min_seconds, minimum=0.0, allowed="of seconds >= 0")
        if self.times is None or self.times.size < 2:
            return ()
        gaps = np.diff(self.times)
        limit = max(factor * float(np.median(gaps)), min_seconds)
        found = np.flatnonzero(gaps > limit).tolist()
        return tuple(
            Stall(int(self.steps[i]), int(self.steps[i + 1]), float(gaps[i])) for i in found
        )

    @property
    def missing_count(self) -> int:
        """How many steps :attr:`gaps` hold."""
        return sum(last - first + 1 for first, last in self.gaps)

    @property
    def missing_steps(self) -> tuple[int, ...]:
        """Every step in :attr:`gaps`, ascending (large for a log of every 100th step).

        Raises ``SynthLossError`` beyond :data:`MAX_MISSING_STEPS` steps: use :attr:`gaps`.
        """
        count = self.missing_count
        if count > MAX_MISSING_STEPS:
            raise SynthLossError(
                f"the log misses {count} steps, more than missing_steps lists "
                f"({MAX_MISSING_STEPS}); use .gaps, the (first, last) windows of missing steps"
            )
        return tuple(step for first, last in self.gaps for step in range(first, last + 1))

    def deduplicated(self) -> ParsedLog:
        """One line per step in step order, keeping each step's *last* logged loss.

        What a monitor that overwrites by step (a dashboard, a metrics store) holds after
        a restart. ``repeated_steps`` is empty; ``gaps`` are unchanged.
        """
        if not self.repeated_steps and bool(np.all(np.diff(self.steps) > 0)):
            return self
        backwards = self.steps[::-1]
        steps, index = np.unique(backwards, return_index=True)
        losses = self.losses[::-1][index]
        times = None if self.times is None else self.times[::-1][index]
        signals = {name: values[::-1][index] for name, values in self.signals.items()}
        for array in (steps, losses, times, *signals.values()):
            if array is not None:
                array.flags.writeable = False
        return dataclasses.replace(
            self,
            steps=steps,
            losses=losses,
            times=times,
            signals=MappingProxyType(signals),
            repeated_steps=(),
            resumes=(),
        )

    def to_curve(self) -> LossCurve:
        """The :class:`LossCurve` this log is a run of (its ground truth).

        Needs a known, registered profile and consecutive steps; compare with ``==`` or
        check ``.losses`` against the curve's (text logs hold rounded values). For a log
        with repeated steps use ``log.deduplicated().to_curve()``.
        """
        if self.profile is None:
            raise SynthLossError("this log does not name its profile; cannot rebuild its curve")
        if not self.steps.size:
            raise SynthLossError("this log has no steps; cannot rebuild its curve")
        first = int(self.steps[0])
        expected = np.arange(first, first + self.steps.size, dtype=np.int64)
        if not np.array_equal(self.steps, expected):
            index = int(np.argmax(self.steps != expected))
            hint = ""
            if self.repeated_steps:
                hint = (
                    f" (steps {step_list(self.repeated_steps)} repeat; "
                    "use .deduplicated().to_curve())"
                )
            raise SynthLossError(
                f"the logged steps are not consecutive: step {int(self.steps[index])} "
                f"at position {index}, expected {int(expected[index])}{hint}"
            )
        return make_curve(
            int(self.steps.size),
            self.profile,
            start_step=first,
            lr=self.lr,
            batch_size=self.batch_size,
        )


def step_list(steps: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, steps[:limit]))
    return shown + (f", ... ({len(steps)} steps)" if len(steps) > limit else "")


def repeats_and_gaps(
    steps: np.ndarray,
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """The steps logged more than once, and the windows of unlogged steps within the range."""
    if steps.size and bool(np.all(np.diff(steps) == 1)):
        return (), ()  # the usual log: one line per step, in order
    unique, counts = np.unique(steps, return_counts=True)
    repeated = tuple(unique[counts > 1].tolist())
    jumps = np.flatnonzero(np.diff(unique) > 1)
    gaps = tuple((int(unique[i]) + 1, int(unique[i + 1]) - 1) for i in jumps.tolist())
    return repeated, gaps


def resumes_of(steps: np.ndarray) -> tuple[tuple[int, int], ...]:
    """``(before, after)`` wherever the logged step does not grow: the log goes back."""
    back = np.flatnonzero(np.diff(steps) <= 0)
    return tuple((int(steps[i]), int(steps[i + 1])) for i in back.tolist())
