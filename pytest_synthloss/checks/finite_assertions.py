"""Non-finite losses: :func:`assert_all_finite`, and the details every check shows of them.

A failing check names how many losses are NaN, inf and -inf, the first rows (each with the
last finite loss before it), and a sparkline with ``×`` for them and ``▲`` under them. The
series is scanned a block at a time (a plain long series, a sparkline column at a time,
each column's peak taken while it is in cache): the cost does not grow with the number of
non-finite losses.
"""

from __future__ import annotations

import itertools

import numpy as np

from pytest_synthloss.checks.messages import fail, num, percent, table
from pytest_synthloss.checks.offenders import BLOCK, Tally
from pytest_synthloss.checks.series import LossSeries, Series, as_series
from pytest_synthloss.core.sparklines import column_peak

__all__ = ["assert_all_finite", "nonfinite_details"]


def nonfinite_details(series: Series) -> tuple[int, str, list[str]] | None:
    """The first non-finite position, a count summary, and the table, sparkline and
    reproduce lines; ``None`` when every loss is finite. A block at a time: the cost does
    not grow with the number of non-finite losses."""
    losses = series.losses
    bounds = series.spark_bounds()
    bad = Tally(bounds)
    # a plain series' long sparkline columns are the blocks: each column's peak is taken
    # while it is in cache, and only once a non-finite loss means it will be drawn
    by_column = series.draws_columns
    edges = bounds if by_column else [*range(0, losses.size, BLOCK), losses.size]
    peaks = np.full(len(edges) - 1, np.nan)
    nonfinite = np.zeros(len(edges) - 1, dtype=bool)
    nan = pos = neg = 0
    for column, (first, end) in enumerate(itertools.pairwise(edges)):
        part = losses[first:end]
        at = np.flatnonzero(~np.isfinite(part))
        if at.size:
            values = part[at]
            infinite = int(np.isinf(values).sum())
            nan += at.size - infinite
            if infinite:
                up = int((values == np.inf).sum())
                pos, neg = pos + up, neg + infinite - up
            bad.add(at + first, column=column if by_column else None)
        if by_column and bad.count:
            peaks[column], nonfinite[column] = column_peak(part, bool(at.size))
    if not bad.count:
        return None
    if by_column:
        for column in np.flatnonzero(np.isnan(peaks)).tolist():  # before the first one
            peaks[column] = column_peak(losses[edges[column] : edges[column + 1]], False)[0]
        spark = series.spark_columns(peaks, nonfinite, bad.columns)
    else:
        spark = series.spark_hit(bad.columns)
    kinds = [f"{n} {name}" for name, n in (("nan", nan), ("inf", pos), ("-inf", neg)) if n]
    summary = f"{percent(bad.count, losses.size)}: {', '.join(kinds)}"
    shown = bad.first.tolist()
    rows = [
        [
            str(series.step_at(i)),
            num(losses[i]),
            "none" if j < 0 else f"{num(losses[j])} (step {series.step_at(j)})",
        ]
        for i, j in zip(shown, _last_finite(losses, shown), strict=True)
    ]  # only the rows shown
    return (
        shown[0],
        summary,
        [
            *table(["step", "loss", "last finite loss"], rows, bad.count),
            spark,
            *series.reproduce(),
        ],
    )


def _last_finite(losses: np.ndarray, positions: list[int]) -> list[int]:
    """The last finite loss before each of the ascending ``positions`` (-1: none), looking
    back only as far as the previous position (no array of the series' size is built)."""
    found, before, previous = [], -1, 0
    for position in positions:
        gap = np.isfinite(losses[previous:position])[::-1]
        if gap.any():
            before = position - 1 - int(np.argmax(gap))
        found.append(before)
        previous = position
    return found


def assert_all_finite(curve: LossSeries) -> None:
    """Assert that no loss is NaN, inf or -inf.

    The failure lists the non-finite steps (how many of each kind, each with its value and
    the last finite loss before it), with ``×`` in the sparkline and ``▲`` under them.
    """
    __tracebackhide__ = True
    series = as_series(curve, copy=False)
    details = nonfinite_details(series)
    if details is None:
        return
    first, summary, rest = details
    fail(
        [
            f"Non-finite losses found: {summary} ({series.where})",
            f"First: step {series.step_at(first)} loss={num(series.losses[first])}",
            *rest,
        ]
    )
