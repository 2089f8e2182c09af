"""Vectorized kernels of the spike rules: running minimum, rolling reductions, the EMA and
numpy's std of chosen windows (the exact fallback of the fast z-score).

Each works on float64 arrays in blocks, so that memory stays bounded for long series and
wide windows; NaN marks a value that does not count (a non-finite loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["ema", "exact_rows", "exact_std", "finite_or_nan", "rolling", "running_min_before"]

#: Rows of the previous-window matrix built per pass (bounds memory for long curves).
_CHUNK_ROWS = 1 << 14
#: Cells of the previous-window matrix per pass (bounds memory for wide windows).
_CHUNK_CELLS = 1 << 22


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    return values if finite.all() else np.where(finite, values, np.nan)


#: Block length of :func:`running_min_before` (fits the L1 cache).
_MIN_BLOCK = 1024
#: Blocks accumulated per pass of :func:`running_min_before`.
_MIN_BLOCKS_PER_PASS = 64


def running_min_before(values: np.ndarray, lead: float) -> np.ndarray:
    """``out[i] = fmin(lead, values[0], ..., values[i - 1])``: NaN is ignored (NaN if none).

    Same values as ``np.fmin.accumulate`` over ``[lead, *values]`` (shifted by one), but in
    blocks: a block that sets no new minimum is one constant fill, and only blocks that do
    are accumulated, a scalar loop. A loss curve sets new minima rarely, so this is a few
    SIMD passes instead of one scalar pass over every step.
    """
    out = np.empty(values.size)
    if values.size == 0:
        return out
    out[0] = lead
    src = values[:-1]  # out[k + 1] is the minimum up to and including src[k]
    count = src.size // _MIN_BLOCK
    head = count * _MIN_BLOCK
    before = np.array([lead])
    if count:
        blocks = src[:head].reshape(count, _MIN_BLOCK)
        lows = np.fmin.reduce(blocks, axis=1)
        before = np.fmin.accumulate(np.concatenate(([lead], lows)))
        dest = out[1 : 1 + head].reshape(count, _MIN_BLOCK)
        dest[:] = before[:-1, None]
        with np.errstate(invalid="ignore"):
            exact = np.flatnonzero(~(lows >= before[:-1]) & ~np.isnan(lows))
        # a few blocks at a time: the temporaries stay small even when every block
        # sets a new minimum (a curve that only falls)
        for first in range(0, exact.size, _MIN_BLOCKS_PER_PASS):
            rows = exact[first : first + _MIN_BLOCKS_PER_PASS]
            running = np.fmin.accumulate(blocks[rows], axis=1)
            dest[rows] = np.fmin(running, before[rows][:, None], out=running)
    if head < src.size:
        out[1 + head :] = np.fmin(np.fmin.accumulate(src[head:]), before[-1])
    return out


def rolling(
    losses: np.ndarray,
    context: np.ndarray,
    window: int,
    warmup: int,
    reduce: Callable[..., np.ndarray],
) -> np.ndarray:
    """``reduce`` over the previous ``window`` finite values of each loss (NaN: too few)."""
    count = losses.size
    out = np.full(count, np.nan)
    if count == 0:
        return out
    ctx = context[-window:]
    # A window longer than everything before the last loss holds NaN padding only beyond
    # that: cut to it, the rows hold the same values (NaN does not count or reduce).
    width = min(window, max(ctx.size + count - 1, 1))
    padded = np.concatenate([np.full(width - ctx.size, np.nan), ctx, finite_or_nan(losses)])
    # Row i of the view holds the ``width`` values before loss i.
    view = np.lib.stride_tricks.sliding_window_view(padded[:-1], width)
    per_pass = max(1, min(_CHUNK_ROWS, _CHUNK_CELLS // width))
    for first in range(0, count, per_pass):
        rows = view[first : first + per_pass]
        enough = np.count_nonzero(~np.isnan(rows), axis=1) >= warmup
        if enough.any():
            out[first : first + rows.shape[0]][enough] = reduce(rows[enough], axis=1)
    return out


def ema(values: np.ndarray, alpha: float) -> np.ndarray:
    """``y[i] = (1 - alpha) * y[i - 1] + alpha * x[i]``, from the first finite value.

    NaN values are skipped (the EMA carries over). Vectorized in blocks short enough that
    ``(1 - alpha) ** -block`` stays far inside float64, carrying the state across blocks.
    """
    out = np.full(values.size, np.nan)
    finite = np.isfinite(values)
    if not finite.any():
        return out
    first = int(np.argmax(finite))
    decay = 1.0 - alpha
    if decay <= 0:  # span 1: the EMA is the last finite value
        index = np.maximum.accumulate(np.where(finite, np.arange(values.size), first))
        out[first:] = values[index[first:]]
        return out
    block = max(1, min(256, int(12.0 / -math.log10(decay))))
    state = float(values[first])
    out[first] = state
    for begin in range(first + 1, values.size, block):
        x = values[begin : begin + block]
        kept = np.isfinite(x)
        count = np.cumsum(kept).astype(np.float64)
        sums = np.cumsum(np.where(kept, x * alpha * decay**-count, 0.0))
        y = decay**count * (state + sums)
        out[begin : begin + x.size] = y
        state = float(y[-1])
    return out


def exact_rows(
    values: np.ndarray, width: int, rows: np.ndarray, reduce: Callable[..., np.ndarray]
) -> np.ndarray:
    """``reduce(values[i : i + width], axis=1)`` for each row ``i`` of ``rows`` (a copy of each
    row, as :func:`~pytest_synthloss.checks.kernels.rolling` reduces them)."""
    view = np.lib.stride_tricks.sliding_window_view(values, width)
    out = np.empty(rows.size)
    step = max(1, _CHUNK_CELLS // width)
    for first in range(0, rows.size, step):
        at = rows[first : first + step]
        out[first : first + at.size] = reduce(view[at], axis=1)
    return out


def exact_std(values: np.ndarray, width: int, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``np.nanstd`` of the windows ``rows`` (holding ``counts`` numbers); windows of one
    repeated value (full ones) are computed once per value."""
    out = np.empty(rows.size)
    full = np.flatnonzero(counts == width)
    flat = np.zeros(rows.size, bool)
    if full.size > 64:
        breaks = np.concatenate(([0], np.cumsum(values[1:] != values[:-1])))
        starts = rows[full]
        flat[full[breaks[starts + width - 1] - breaks[starts] == 0]] = True
    if flat.any():
        levels, which = np.unique(values[rows[flat]], return_inverse=True)
        grid = np.repeat(levels[:, None], width, axis=1)
        out[flat] = exact_rows(grid.ravel(), width, np.arange(levels.size) * width, np.nanstd)[
            which
        ]
    rest = np.flatnonzero(~flat)
    out[rest] = exact_rows(values, width, rows[rest], np.nanstd)
    return out
