"""Unicode sparklines of loss curves, with optional marks under chosen steps."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["BARS", "sparkline"]

BARS = "▁▂▃▄▅▆▇█"
NON_FINITE = "×"
MARK = "▲"


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
    bad = ~np.logical_and.reduceat(np.isfinite(values), edges[:-1])
    # the largest finite value of each column: NaN and -inf never win under fmax; +inf does,
    # so its (rare) columns are redone one at a time; a column with no finite value is not
    # finite either way (it is drawn as non-finite, and left out of the range)
    with np.errstate(invalid="ignore"):
        peaks = np.fmax.reduceat(values, edges[:-1])
    for column in np.flatnonzero(peaks == np.inf).tolist():
        part = values[edges[column] : edges[column + 1]]
        peaks[column] = np.where(np.isfinite(part), part, -np.inf).max()
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
    positions = sorted({int(m) for m in marks if 0 <= int(m) < count})
    if not positions:
        return line
    columns_marked = set(np.searchsorted(edges, positions, side="right") - 1)
    under = "".join(MARK if c in columns_marked else " " for c in range(columns)).rstrip()
    return f"{line}\n{under}"
