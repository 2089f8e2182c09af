"""Validating arrays of steps: ``as_steps`` refuses booleans, floats, NaN, strings and steps < 1."""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import MAX_STEP

__all__ = ["as_steps"]


def as_steps(steps: npt.ArrayLike) -> np.ndarray:
    """Validate an array-like of steps and return it as an int64 (or uint64) array."""
    try:
        # Python containers go through object dtype so that True or "2" is seen, not coerced.
        arr = steps if isinstance(steps, np.ndarray) else np.asarray(steps, dtype=object)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise SynthLossError(f"steps must be an array-like of integers >= 1: {exc}") from None
    kind = arr.dtype.kind
    if arr.size == 0 and kind in "fO":  # np.asarray([]) is float64: no value to refuse
        return arr.astype(np.int64)
    if kind == "O":
        arr = _object_steps(arr)
        kind = arr.dtype.kind
    if kind not in "iu":
        raise SynthLossError(
            f"steps must be integers >= 1, got {_first(arr)} (dtype {arr.dtype}); "
            "floats, booleans, NaN and strings are not steps"
        )
    if arr.size:
        low = arr.min()
        if low < 1:
            where = np.unravel_index(int(np.argmin(arr)), arr.shape)
            raise SynthLossError(
                f"steps must be integers >= 1, got {int(low)} at index {_index(where)}"
            )
        if kind == "u" and arr.max() > MAX_STEP:
            where = np.unravel_index(int(np.argmax(arr)), arr.shape)
            raise SynthLossError(
                f"steps must be <= {MAX_STEP}, got {int(arr.max())} at index {_index(where)}"
            )
    return arr


def _object_steps(arr: np.ndarray) -> np.ndarray:
    flat = arr.ravel()
    for position, item in enumerate(flat):
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            where = np.unravel_index(position, arr.shape)
            raise SynthLossError(
                f"steps must be integers >= 1, got {item!r} ({type(item).__name__}) "
                f"at index {_index(where)}"
            )
        if int(item) > MAX_STEP:
            where = np.unravel_index(position, arr.shape)
            raise SynthLossError(
                f"steps must be <= {MAX_STEP}, got {int(item)} at index {_index(where)}"
            )
    return arr.astype(np.int64)  # values below 1 are reported by the caller


def _first(arr: np.ndarray) -> str:
    if arr.size == 0:
        return "an empty array"
    value = arr.ravel()[0]
    return repr(value.item() if hasattr(value, "item") else value)


def _index(where: tuple[np.intp, ...]) -> str:
    parts = tuple(int(i) for i in where)
    return str(parts[0]) if len(parts) == 1 else str(parts)
