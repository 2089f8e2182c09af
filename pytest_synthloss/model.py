"""The loss model: the spec's scalar formula and its bit-identical vectorized engine.

``synthetic_loss`` is the spec's function, written as the spec writes it.
``synthetic_losses`` evaluates the same IEEE-754 operations element-wise with numpy
(``max(floor, start - (decay * step))``, then the spikes), so every value is ``==`` to the
scalar one. ``range_losses`` is the fast path for a contiguous run of steps: past the
floor step the baseline is constant, so only the steps before it are computed.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

from pytest_synthloss.errors import SynthLossError
from pytest_synthloss.profiles import MAX_STEP, Profile, check_step
from pytest_synthloss.registry import resolve_profile

__all__ = ["range_losses", "synthetic_loss", "synthetic_losses"]


def synthetic_loss(step: int, profile: Profile | str = "stable") -> float:
    """The loss at ``step`` (an integer >= 1) for ``profile`` (a Profile or a registered name).

    Exactly the spec's function::

        baseline = max(floor, start - (decay * step))
        return spikes[step] if step in spikes else baseline
    """
    checked = check_step(step)
    prof = resolve_profile(profile)
    baseline = max(prof.floor, prof.start - (prof.decay * checked))
    if checked in prof.spikes:
        return prof.spikes[checked]
    return baseline


def synthetic_losses(steps: npt.ArrayLike, profile: Profile | str = "stable") -> np.ndarray:
    """The loss at every step of ``steps`` (any shape of integers >= 1), as float64.

    Each value is bit-identical (``==``) to ``synthetic_loss(step, profile)``.
    Booleans, floats, NaN and strings are refused with ``SynthLossError``.
    """
    prof = resolve_profile(profile)
    arr = as_steps(steps)
    out = arr.astype(np.float64)
    np.multiply(out, prof.decay, out=out)
    np.subtract(prof.start, out, out=out)
    np.maximum(prof.floor, out, out=out)
    if prof.spikes and arr.size:
        keys = np.fromiter(prof.spikes.keys(), dtype=np.int64, count=len(prof.spikes))
        values = np.fromiter(prof.spikes.values(), dtype=np.float64, count=len(prof.spikes))
        flat_steps = arr.reshape(-1)
        flat_out = out.reshape(-1)  # a view: ``out`` is freshly allocated, so contiguous
        index = np.searchsorted(keys, flat_steps)
        np.minimum(index, keys.size - 1, out=index)
        hit = keys[index] == flat_steps
        flat_out[hit] = values[index[hit]]
    return out


def range_losses(
    profile: Profile, start_step: int, count: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Losses of the ``count`` consecutive steps from ``start_step``, into ``out`` if given.

    Same values as ``synthetic_losses(np.arange(start_step, start_step + count))``, in about
    one write pass: only the steps before the floor step are computed, the rest is filled.
    """
    if out is None:
        out = np.empty(count, dtype=np.float64)
    floor_step = profile.floor_step
    before = count if floor_step is None else min(count, max(0, floor_step - start_step))
    if before:
        head = out[:before]
        np.multiply(
            np.arange(start_step, start_step + before, dtype=np.int64), profile.decay, out=head
        )
        np.subtract(profile.start, head, out=head)
        np.maximum(profile.floor, head, out=head)
    if before < count:
        out[before:] = profile.floor
    if profile.spikes:
        stop = start_step + count
        for step, loss in profile.spikes.items():
            if start_step <= step < stop:
                out[step - start_step] = loss
    return out


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
