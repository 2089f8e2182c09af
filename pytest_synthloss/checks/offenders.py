"""Offenders tallied a block at a time: how many, the first few, the worst one, and the
sparkline columns they fall in.

A failing assertion shows a count, at most ``MAX_ROWS`` rows, the worst offender and a
sparkline: a :class:`Tally` keeps exactly that, so a check costs the same memory whether it
finds one offender or one at every step.
"""

from __future__ import annotations

import math

import numpy as np

from pytest_synthloss.checks.messages import MAX_ROWS

__all__ = ["BLOCK", "Tally", "columns_hit"]

#: Steps checked per pass (the temporaries of a pass stay in cache).
BLOCK = 1 << 16


def columns_hit(positions: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Which columns ``[bounds[c], bounds[c + 1])`` hold one of ``positions`` (sorted
    first if they are not ascending)."""
    if positions.size > 1 and not (positions[1:] >= positions[:-1]).all():
        positions = np.sort(positions)
    hit: np.ndarray = np.diff(np.searchsorted(positions, bounds)) > 0
    return hit


class Tally:
    """Offender positions, added in ascending blocks: their count, the first ``keep``,
    the worst (the highest rank, the first on ties; a NaN rank is highest, as
    ``np.argmax`` has it) and the columns of ``bounds`` they fall in."""

    def __init__(self, bounds: np.ndarray, keep: int = MAX_ROWS) -> None:
        self.count = 0
        self.worst = -1
        self._best = -math.inf
        self._nan = False
        self._keep = keep
        self._first: list[np.ndarray] = []
        self._kept = 0
        self._bounds = bounds
        self.columns = np.zeros(max(bounds.size - 1, 0), dtype=bool)

    def add(
        self, positions: np.ndarray, ranks: np.ndarray | None = None, column: int | None = None
    ) -> None:
        """Count ``positions`` (ascending, after any added before), ranked by ``ranks``;
        ``column``: the one column they all fall in, when the caller knows it."""
        if not positions.size:
            return
        self.count += positions.size
        if self._kept < self._keep:
            self._first.append(positions[: self._keep - self._kept])
            self._kept += self._first[-1].size
        if column is None:
            self.columns |= columns_hit(positions, self._bounds)
        else:
            self.columns[column] = True
        if ranks is None or self._nan:
            return
        k = int(np.argmax(ranks))
        value = float(ranks[k])
        if math.isnan(value):
            self.worst, self._nan = int(positions[k]), True
        elif self.worst < 0 or value > self._best:
            self.worst, self._best = int(positions[k]), value

    @property
    def first(self) -> np.ndarray:
        """The first ``keep`` positions (int64)."""
        return np.concatenate(self._first) if self._first else np.empty(0, np.int64)
