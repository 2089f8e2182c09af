"""What the assertions accept, normalised: a LossCurve, 1-D losses or a ``(steps, losses)`` pair.

A :class:`Series` keeps the steps, the losses and (for a curve) the curve itself, and knows
how to describe its span, draw its sparkline with marked steps and say how to reproduce it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pytest_synthloss.checks.messages import SPARK_WIDTH
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import as_steps
from pytest_synthloss.core.recorded import RecordedCurve
from pytest_synthloss.core.sparklines import sparkline
from pytest_synthloss.core.validation import as_numeric_array

__all__ = ["LossSeries", "Series", "as_series", "is_pair", "span"]

#: What the assertions accept: a curve, 1-D losses (steps 1..n), or ``(steps, losses)``.
LossSeries = LossCurve | npt.ArrayLike | tuple[npt.ArrayLike, npt.ArrayLike]


@dataclass(frozen=True)
class Series:
    """Steps and losses to check, and the curve they come from (``None`` for raw data)."""

    steps: np.ndarray
    losses: np.ndarray
    curve: LossCurve | None

    @property
    def where(self) -> str:
        span = f"steps {int(self.steps[0])}..{int(self.steps[-1])}"
        return f"profile {self.curve.profile.name!r}, {span}" if self.curve else span

    def position(self, step: int) -> int:
        return int(np.searchsorted(self.steps, step))

    def spark(self, marks: Iterable[int] | np.ndarray = ()) -> str:
        """The sparkline with ``marks`` (steps) marked under it.

        Many marks are first reduced to one per column (all a sparkline can show), so the
        cost does not grow with the number of offenders.
        """
        given = marks if isinstance(marks, np.ndarray) else list(marks)
        marked = np.asarray(given, dtype=np.int64).ravel()
        count = self.steps.size
        width = min(count, SPARK_WIDTH)
        if self.curve is not None and not isinstance(self.curve, RecordedCurve):
            if marked.size > SPARK_WIDTH:  # columns as LossCurve.preview computes them
                hit = np.zeros(width, dtype=bool)
                hit[(marked - self.curve.start_step) * width // count] = True
                columns = np.flatnonzero(hit)
                marked = self.curve.start_step + (columns * count + width - 1) // width
            return self.curve.preview(SPARK_WIDTH, marks=tuple(marked.tolist()))
        if marked.size > SPARK_WIDTH:  # columns as sparkline computes them
            edges = (np.arange(width + 1, dtype=np.int64) * count) // width
            # a marked step's column from each column's first step (the steps ascend): a
            # search among the columns, not among all the steps
            column = np.searchsorted(self.steps[edges[:-1]], marked, side="right") - 1
            hit = np.zeros(width, dtype=bool)
            hit[np.maximum(column, 0)] = True
            positions = edges[:-1][hit]
        else:
            positions = np.searchsorted(self.steps, marked)
        return sparkline(self.losses, width=SPARK_WIDTH, marks=positions.tolist())

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
    if isinstance(data, LossCurve):
        return Series(data.steps, data.losses, data)
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
        steps = np.arange(1, losses.size + 1, dtype=np.int64)
    elif steps.shape != losses.shape:
        raise SynthLossError(
            f"{what}: steps and losses differ in length ({steps.size} steps, {losses.size} losses)"
        )
    else:
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
    count = series.steps.size
    return f"steps {int(series.steps[0])}..{int(series.steps[-1])} ({count} steps)"
