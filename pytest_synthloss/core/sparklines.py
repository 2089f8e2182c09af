"""Unicode sparklines of loss curves, with optional marks under chosen steps."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["BARS", "LONG_COLUMN", "column_peak", "draw_columns", "sparkline"]

BARS = "▁▂▃▄▅▆▇█"
NON_FINITE = "×"
MARK = "▲"


#: Values per column from which :func:`sparkline` goes column by column.
LONG_COLUMN = 1 << 12


def _column_peaks(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's largest finite value (-inf if none) and whether it holds a non-finite
    one, a column at a time (in cache): its max and min are finite only if all of it is."""
    peaks = np.empty(edges.size - 1)
    bad = np.zeros(edges.size - 1, dtype=bool)
    for column in range(edges.size - 1):
        peaks[column], bad[column] = column_peak(values[edges[column] : edges[column + 1]])
    return peaks, bad


def column_peak(part: np.ndarray, bad: bool | None = None) -> tuple[float, bool]:
    """A column's largest finite value (-inf if none) and whether it holds a non-finite
    value (``bad``, when the caller knows it already): its max and min are finite only if
    all of it is."""
    if bad is None or not bad:
        high = float(part.max())  # NaN if a NaN is in the column
        if math.isfinite(high):
            return high, (not math.isfinite(float(part.min()))) if bad is None else False
    with np.errstate(invalid="ignore"):
        peak = float(np.fmax.reduce(part))  # NaN is skipped, +inf wins
    if peak == math.inf:  # the largest finite value, by hand
        peak = float(np.where(np.isfinite(part), part, -np.inf).max())
    elif math.isnan(peak):  # no number at all
        peak = -math.inf
    return peak, True


def sparkline(
    losses: npt.ArrayLike,
    *,
    width: int = 60,
    marks: Iterable[int] = (),
) -> str:
    """A one-line sparkline of ``losses``; with ``marks``, a second line of ``▲`` under them.

    ``marks`` are 0-based positions into ``losses``. Curves longer than ``width`` are cut
    into ``width`` buckets; each bucket shows its largest value (so spikes stay visible)
    and is marked if any position in it is. Non-finite values show as ``×``.
    """
    values = np.asarray(losses, dtype=np.float64).ravel()
    count = values.size
    if count == 0:
        return ""
    columns = min(count, max(1, width))
    edges = (np.arange(columns + 1, dtype=np.int64) * count) // columns
    if count // columns >= LONG_COLUMN:
        peaks, bad = _column_peaks(values, edges)
    else:
        bad = ~np.logical_and.reduceat(np.isfinite(values), edges[:-1])
        # the largest finite value of each column: NaN and -inf never win under fmax; +inf
        # does, so its (rare) columns are redone one at a time; a column with no finite
        # value is not finite either way (drawn as non-finite, left out of the range)
        with np.errstate(invalid="ignore"):
            peaks = np.fmax.reduceat(values, edges[:-1])
        for column in np.flatnonzero(peaks == np.inf).tolist():
            part = values[edges[column] : edges[column + 1]]
            peaks[column] = np.where(np.isfinite(part), part, -np.inf).max()
    positions = sorted({int(m) for m in marks if 0 <= int(m) < count})
    marked = np.zeros(columns, dtype=bool)
    if positions:
        marked[np.searchsorted(edges, positions, side="right") - 1] = True
    return draw_columns(peaks, bad, marked)


def draw_columns(peaks: np.ndarray, bad: np.ndarray, marked: np.ndarray) -> str:
    """The sparkline of columns given by their largest finite value and whether they hold
    a non-finite one, with ``▲`` under the ``marked`` columns (boolean arrays)."""
    good = peaks[np.isfinite(peaks)]
    low, high = (float(good.min()), float(good.max())) if good.size else (0.0, 0.0)
    span = high - low
    chars = []
    for peak, broken in zip(peaks.tolist(), bad.tolist(), strict=True):
        if broken:
            chars.append(NON_FINITE)
        elif span == 0:
            chars.append(BARS[0])
        else:
            chars.append(BARS[min(len(BARS) - 1, int((peak - low) / span * len(BARS)))])
    line = "".join(chars)
    if not marked.any():
        return line
    under = "".join(MARK if hit else " " for hit in marked.tolist()).rstrip()
    return f"{line}\n{under}"
