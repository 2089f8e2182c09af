"""What an importer reads from a log: :class:`RecordedLog` (steps, values, where they came from)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import MAX_STEP, parse_float, show

__all__ = ["RecordedLog", "column_step", "column_value", "pick_column"]


@dataclass(frozen=True)
class RecordedLog:
    """The recorded series of one log, before it becomes a curve.

    ``steps`` (int64) and ``values`` (float64) hold one entry per record kept, in log
    order (repeats and gaps as logged). ``format`` is the format read, ``step_column`` and
    ``value_column`` the column, key or tag read, ``skipped`` how many records were left out
    because they lack a value (an eval-only entry, another metric's row) and ``columns``
    every column, key or tag the log offers.
    """

    steps: np.ndarray
    values: np.ndarray
    format: str
    step_column: str
    value_column: str
    columns: tuple[str, ...] = ()
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.steps.size)


def make_log(
    steps: list[int],
    values: list[float],
    fmt: str,
    step_column: str,
    value_column: str,
    columns: tuple[str, ...],
    skipped: int = 0,
) -> RecordedLog:
    """A :class:`RecordedLog` with read-only arrays."""
    step_array = np.array(steps, dtype=np.int64)
    value_array = np.array(values, dtype=np.float64)
    step_array.flags.writeable = False
    value_array.flags.writeable = False
    return RecordedLog(step_array, value_array, fmt, step_column, value_column, columns, skipped)


def pick_column(
    columns: tuple[str, ...],
    wanted: str | None,
    candidates: tuple[str, ...],
    what: str,
    origin: str,
    option: str,
) -> str:
    """The column named ``wanted``, else the first of ``candidates`` the log has.

    A W&B chart export names its columns ``"<run> - train/loss"``: a single column ending
    in ``" - <candidate>"`` also matches. Raises naming the columns found.
    """
    found = ", ".join(repr(c) for c in columns) or "none"
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise SynthLossError(f"{origin}: no {what} column {wanted!r}; columns found: {found}")
    for candidate in candidates:
        if candidate in columns:
            return candidate
    for candidate in candidates:
        suffixed = [c for c in columns if c.endswith(f" - {candidate}")]
        if len(suffixed) == 1:
            return suffixed[0]
    raise SynthLossError(
        f"{origin}: no usable {what} column (tried {', '.join(candidates)}); columns found: "
        f"{found}; pass {option}"
    )


def column_step(raw: object, where: str) -> int:
    """A step from a cell or JSON value: an integer >= 0 (``12``, ``"12"``, ``12.0``)."""
    value: object = raw
    if isinstance(raw, str):
        text = raw.strip()
        try:
            value = int(text) if text.isdigit() and text.isascii() else parse_float(text, "step")
        except SynthLossError:
            value = None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEP:
        raise SynthLossError(f"{where}: step must be an integer >= 0, got {show(raw)}")
    return value


_NONFINITE_TEXT = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf}


def column_value(raw: object, where: str) -> float | None:
    """A value from a cell or JSON value; ``None`` for an empty cell or ``null``."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        text = raw.strip()
        special = _NONFINITE_TEXT.get(text.lower())
        if special is not None:
            return special
        try:
            return parse_float(text, "value")
        except SynthLossError:
            raise SynthLossError(
                f"{where}: value must be a number (or NaN, inf, -inf), got {show(raw)}"
            ) from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise SynthLossError(f"{where}: value must be a number, got {show(raw)}")
    try:
        return float(raw)
    except OverflowError:
        raise SynthLossError(f"{where}: value {show(raw)} is too large for a float") from None
