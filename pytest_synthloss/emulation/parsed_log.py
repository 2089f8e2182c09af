"""The result of :func:`~pytest_synthloss.emulation.logreader.read_log`: :class:`ParsedLog`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from pytest_synthloss.core.curve import LossCurve, make_curve
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["MAX_MISSING_STEPS", "ParsedLog", "step_list"]

#: Most steps :attr:`ParsedLog.missing_steps` lists; beyond, use :attr:`ParsedLog.gaps`.
MAX_MISSING_STEPS = 1_000_000


@dataclass(frozen=True)
class ParsedLog:
    """A training log read back by :func:`read_log`: LossCurve-like, with what the log says.

    ``steps`` (int64) and ``losses`` (float64) are read-only arrays with one entry per
    logged line, in log order: a step logged twice (after a restart) appears twice.
    ``repeated_steps`` are the steps logged more than once and ``gaps`` the ``(first, last)``
    windows of steps never logged between the lowest and highest logged step (expanded by
    :attr:`missing_steps`); :meth:`deduplicated` keeps one line per step, the last.
    ``profile`` is the logged profile *name* (``None`` if the log does not say, as in a
    text log without its header). ``skipped`` holds ``(line_number, line)`` of malformed
    lines skipped with ``skip_malformed=True``.
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
        steps.flags.writeable = False
        losses.flags.writeable = False
        return dataclasses.replace(self, steps=steps, losses=losses, repeated_steps=())

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
