"""What the assertions accept, normalised: a LossCurve, 1-D losses or a ``(steps, losses)`` pair.

A :class:`Series` keeps the steps, the losses and (for a curve) the curve itself, and knows
how to describe its span, draw its sparkline with marked steps and say how to reproduce it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from pytest_synthloss.checks.messages import SPARK_WIDTH
from pytest_synthloss.checks.offenders import columns_hit
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import as_steps
from pytest_synthloss.core.recorded import RecordedCurve
from pytest_synthloss.core.sparklines import LONG_COLUMN, draw_columns, sparkline
from pytest_synthloss.core.validation import as_numeric_array

__all__ = ["LossSeries", "Series", "as_series", "is_pair", "span"]

#: What the assertions accept: a curve, 1-D losses (steps 1..n), or ``(steps, losses)``.
LossSeries = LossCurve | npt.ArrayLike | tuple[npt.ArrayLike, npt.ArrayLike]


class Series:
    """Steps and losses to check, and the curve they come from (``None`` for raw data).

    Steps ``first, first + 1, ...`` (a curve's, or ``1..n`` for plain losses) are implicit:
    ``steps`` is built only when read, and :meth:`step_at`, :meth:`steps_at` and
    :meth:`position` answer without it, so a check costs no step array of its own.
    """

    __slots__ = ("_given", "_steps", "curve", "first", "losses")

    def __init__(
        self,
        steps: np.ndarray | None,
        losses: np.ndarray,
        curve: LossCurve | None,
        first: int = 1,
    ) -> None:
        self._given = steps
        self._steps: np.ndarray | None = steps
        self.losses = losses
        self.curve = curve
        self.first = int(steps[0]) if steps is not None and steps.size else first

    @property
    def steps(self) -> np.ndarray:
        """Every step (int64), made on first read when they are implicit."""
        if self._steps is None:
            if self.curve is not None:  # the curve's own (cached on it, read-only)
                self._steps = self.curve.steps
            else:
                self._steps = np.arange(self.first, self.first + self.count, dtype=np.int64)
        return self._steps

    @property
    def count(self) -> int:
        """How many steps."""
        return int(self.losses.size)

    def step_at(self, index: int) -> int:
        """The step at ``index`` (negative counts from the end)."""
        if self._given is not None:
            return int(self._given[index])
        return self.first + (index if index >= 0 else self.count + index)

    def steps_at(self, indices: np.ndarray) -> np.ndarray:
        """The steps at ``indices`` (int64)."""
        if self._given is not None:
            picked: np.ndarray = self._given[indices]
            return picked
        return np.asarray(indices, dtype=np.int64) + self.first

    def positions(self, steps: np.ndarray) -> np.ndarray:
        """Where each of ``steps`` is, or would be inserted (``np.searchsorted``)."""
        if self._given is not None:
            found: np.ndarray = np.searchsorted(self._given, steps)
            return found
        return np.clip(np.asarray(steps, dtype=np.int64) - self.first, 0, self.count)

    def same_steps(self, other: Series) -> bool:
        """Whether ``other`` has exactly these steps."""
        if self.count != other.count:
            return False
        if self._given is None and other._given is None:
            return self.first == other.first
        return bool((self.steps == other.steps).all())

    @property
    def where(self) -> str:
        span = f"steps {self.step_at(0)}..{self.step_at(-1)}"
        return f"profile {self.curve.profile.name!r}, {span}" if self.curve else span

    def position(self, step: int) -> int:
        return int(self.positions(np.array([step], dtype=np.int64))[0])

    def spark(self, marks: Iterable[int] | np.ndarray = ()) -> str:
        """The sparkline with ``marks`` (steps) marked under it.

        Many marks are first reduced to one per column (all a sparkline can show), so the
        cost does not grow with the number of offenders.
        """
        given = marks if isinstance(marks, np.ndarray) else list(marks)
        marked = np.asarray(given, dtype=np.int64).ravel()
        return self.spark_at(self.positions(marked))

    @property
    def _preview(self) -> bool:
        """Whether the sparkline is the curve's own preview (a synthetic curve's)."""
        return self.curve is not None and not isinstance(self.curve, RecordedCurve)

    def spark_bounds(self) -> np.ndarray:
        """The first position of each sparkline column, then the step count (int64)."""
        count = self.count
        width = min(count, SPARK_WIDTH)
        column = np.arange(width + 1, dtype=np.int64)
        if self._preview:  # position p is in column p * width // count (LossCurve.preview)
            return (column * count + width - 1) // width
        return (column * count) // width  # the columns of ``sparkline``

    def spark_hit(self, hit: np.ndarray) -> str:
        """The sparkline with the columns ``hit`` (see :meth:`spark_bounds`) marked."""
        starts = self.spark_bounds()[:-1][hit]
        if self.curve is not None and self._preview:
            return self.curve.preview(SPARK_WIDTH, marks=tuple((self.first + starts).tolist()))
        return sparkline(self.losses, width=SPARK_WIDTH, marks=starts.tolist())

    @property
    def draws_columns(self) -> bool:
        """Whether the sparkline can be drawn from its columns' peaks (:meth:`spark_columns`):
        a plain series, with long columns."""
        return not self._preview and self.count // SPARK_WIDTH >= LONG_COLUMN

    def spark_columns(self, peaks: np.ndarray, bad: np.ndarray, hit: np.ndarray) -> str:
        """The sparkline from each column's largest finite loss and whether it holds a
        non-finite one (the columns of :meth:`spark_bounds`), ``hit`` columns marked."""
        return draw_columns(peaks, bad, hit)

    def spark_at(self, positions: np.ndarray) -> str:
        """The sparkline with the steps at ``positions`` marked (one mark per column)."""
        return self.spark_hit(columns_hit(positions, self.spark_bounds()))

    def reproduce(self) -> list[str]:
        curve = self.curve
        if curve is None:
            return []
        if isinstance(curve, RecordedCurve):
            origin = f" ({curve.source})" if curve.source else ""
            return [f"Reproduce: the recorded run {curve.name!r}{origin}"]
        name, count, first = curve.profile.name, len(curve), curve.start_step
        if first != 1:
            return [f"Reproduce: make_curve({count}, {name!r}, start_step={first})"]
        return [
            f"Reproduce: make_curve({count}, {name!r}) / "
            f"pytest --synthloss-profile {name} --synthloss-steps {count}"
        ]


def as_series(data: LossSeries, what: str = "losses", *, copy: bool = True) -> Series:
    """Normalise ``data``; bad input raises ``SynthLossError`` naming ``what``.

    ``copy=False`` keeps float64 losses given as an array as they are (for a check that
    only reads them and returns nothing of them); by default they are copied.
    """
    if isinstance(data, RecordedCurve):  # its steps may have gaps
        return Series(data.steps, data.losses, data)
    if isinstance(data, LossCurve):
        return Series(None, data.losses, data, data.start_step)
    steps: np.ndarray | None = None
    raw: object = data
    if is_pair(data):
        assert isinstance(data, tuple)
        steps = as_steps(data[0])
        raw = data[1]
    arr = as_numeric_array(what, raw)  # names the first non-number and its index
    if arr.ndim != 1:
        raise SynthLossError(
            f"{what} must be a LossCurve, 1-D losses or a (steps, losses) pair, "
            f"got an array of shape {arr.shape}"
        )
    if arr.size == 0:
        raise SynthLossError(f"{what} is empty: there is no step to check")
    losses = arr.astype(np.float64, copy=copy)
    if steps is None:
        return Series(None, losses, None)
    if steps.shape != losses.shape:
        raise SynthLossError(
            f"{what}: steps and losses differ in length ({steps.size} steps, {losses.size} losses)"
        )
    steps = steps.astype(np.int64)
    back = np.flatnonzero(np.diff(steps) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise SynthLossError(
            f"{what}: steps must be strictly increasing, got {int(steps[i])} "
            f"after {int(steps[i - 1])} at index {i}"
        )
    return Series(steps, losses, None)


def is_pair(data: object) -> bool:
    """A ``(steps, losses)`` pair: a 2-tuple of 1-D sequences (not two scalar losses)."""
    if not (isinstance(data, tuple) and len(data) == 2):
        return False
    try:
        return all(np.ndim(part) == 1 for part in data)
    except ValueError:  # ragged
        return False


def span(series: Series) -> str:
    """E.g. ``steps 1..20 (20 steps)``."""
    return f"steps {series.step_at(0)}..{series.step_at(-1)} ({series.count} steps)"
