"""Failure-message building blocks shared by the assertions: numbers, counts, bounded tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_synthloss.core.errors import LossAssertionError
from pytest_synthloss.core.text import align_columns

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
    lines = [" " + line for line in align_columns([header, *shown], right=(0,))]
    if total > len(shown):
        lines.append(f" ... {total - len(shown)} more")
    return lines


def fail(lines: Iterable[str]) -> None:
    """Raise :class:`LossAssertionError` with ``lines``; hidden from pytest tracebacks."""
    __tracebackhide__ = True
    raise LossAssertionError("\n".join(lines))
