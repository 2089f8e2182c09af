"""Failure-message building blocks shared by the assertions: numbers, counts, bounded tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_synthloss.errors import LossAssertionError

__all__ = ["MAX_ROWS", "SPARK_WIDTH", "fail", "num", "percent", "table"]

#: Offending steps listed in a failure message before "... N more".
MAX_ROWS = 10
#: Columns of the sparkline in failure messages.
SPARK_WIDTH = 60


def num(value: float) -> str:
    """A loss as shown in messages (6 significant digits)."""
    return f"{value:.6g}"


def percent(part: int, whole: int) -> str:
    """E.g. ``2 / 20 steps (10.0%)``."""
    share = 100.0 * part / whole
    shown = "<0.1" if 0 < share < 0.05 else f"{share:.1f}"
    return f"{part} / {whole} steps ({shown}%)"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], total: int) -> list[str]:
    """Columns padded to their widest cell; step column right-aligned; bounded rows."""
    shown = list(rows[:MAX_ROWS])
    widths = [max(len(r[i]) for r in [header, *shown]) for i in range(len(header))]
    lines = []
    for row in [header, *shown]:
        cells = [row[0].rjust(widths[0])]
        cells += [cell.ljust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append(" " + "  ".join(cells).rstrip())
    if total > len(shown):
        lines.append(f" ... {total - len(shown)} more")
    return lines


def fail(lines: Iterable[str]) -> None:
    """Raise :class:`LossAssertionError` with ``lines``; hidden from pytest tracebacks."""
    __tracebackhide__ = True
    raise LossAssertionError("\n".join(lines))
