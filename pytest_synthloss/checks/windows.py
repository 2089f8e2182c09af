"""Sliding-window kernels in O(n): window sums bit for bit as numpy's, window minima, the EMA.

:func:`window_sums` gives, for every window, the float64 sum ``np.add.reduce`` computes for
that window as a contiguous row: numpy sums a row pairwise (eight running partial sums for
up to 128 values, then halves), a tree that depends on the row length only. So each node of
the tree is itself a sliding sum, computed once for every window at a few additions per
step, in cache-sized blocks. :func:`window_min` is van Herk / Gil-Werman's algorithm (prefix
and suffix minima of aligned blocks). :func:`ema_chain` is
:func:`~pytest_synthloss.checks.kernels.ema`'s blocked closed form with the blocks computed
side by side and only the carried state chained by a scalar loop.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ema_chain", "window_min", "window_sums"]

#: Windows computed per pass (the temporaries of a pass stay in cache).
_BLOCK = 1 << 15
#: numpy's pairwise summation: rows up to this length use eight partial sums.
_PW_BLOCKSIZE = 128


def window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """``out[i] = np.add.reduce(values[i : i + width])``, bit for bit, for every full window.

    ``values`` must be finite or zero where a value does not count (NaN is not skipped).
    """
    count = values.size - width + 1
    out = np.empty(max(count, 0))
    step = max(_BLOCK, 2 * width)
    for first in range(0, count, step):
        rows = min(step, count - first)
        segment = values[first : first + rows + width - 1]
        nodes: dict[int, np.ndarray] = {}
        np.add(0.0, _node(segment, width, nodes)[:rows], out=out[first : first + rows])
    return out


def _node(seg: np.ndarray, length: int, nodes: dict[int, np.ndarray]) -> np.ndarray:
    """numpy's pairwise sum of ``seg[i : i + length]`` for every ``i`` where it fits."""
    if length in nodes:
        return nodes[length]
    count = seg.size - length + 1
    if length < 8:  # res = 0.0; res += a[i] for each i
        res = 0.0 + seg[:count]
        for j in range(1, length):
            res += seg[j : j + count]
    elif length <= _PW_BLOCKSIZE:
        whole = length - length % 8
        # r[j] = a[j] + a[j + 8] + ...: the same sequence from every start, shifted by j
        partial = seg[: count + 7].copy()
        for offset in range(8, whole, 8):
            partial += seg[offset : offset + count + 7]
        pairs = partial[:-1] + partial[1:]  # r0 + r1, r2 + r3, ...
        quads = pairs[: count + 4] + pairs[2 : count + 6]
        res = quads[:count] + quads[4 : count + 4]
        for j in range(whole, length):
            res += seg[j : j + count]
    else:
        half = length // 2
        half -= half % 8
        left = _node(seg, half, nodes)
        right = _node(seg, length - half, nodes)
        res = left[:count] + right[half : half + count]
    nodes[length] = res
    return res


def window_min(values: np.ndarray, width: int) -> np.ndarray:
    """``out[i] = np.fmin.reduce(values[i : i + width])`` for every full window (NaN skipped;
    NaN if the window holds no number)."""
    count = values.size - width + 1
    if count <= 0:
        return np.empty(0)
    blocks = -(-values.size // width)
    padded = np.full(blocks * width, np.nan)
    padded[: values.size] = values
    grid = padded.reshape(blocks, width)
    prefix = np.fmin.accumulate(grid, axis=1).ravel()
    suffix = np.fmin.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    # window i spans the end of i's block (suffix) and the start of the next (prefix)
    return np.fmin(suffix[:count], prefix[width - 1 : width - 1 + count])


def ema_chain(values: np.ndarray, first: int, alpha: float, block: int) -> np.ndarray:
    """:func:`~pytest_synthloss.checks.kernels.ema` from ``first`` (a finite value) on, for
    ``0 < 1 - alpha``, shifted by one: ``out[i]`` is the EMA up to ``values[i - 1]`` (NaN for
    ``i = 0``). The same operations on the same numbers, the blocks side by side."""
    decay = 1.0 - alpha
    whole = np.empty(values.size + 1)
    whole[: first + 1] = np.nan
    out = whole[1:]
    state = float(values[first])
    out[first] = state
    rest = values[first + 1 :]
    if not rest.size:
        return whole[:-1]
    # decay ** -count and decay ** count for the integer counts 0..block, as numpy computes
    # them for an array of counts (count is a float array in the block-by-block kernel)
    counts = np.arange(block + 1, dtype=np.float64)
    grow, shrink = decay**-counts, decay**counts
    if np.isfinite(rest).all():  # every value kept: the count is 1..block in every block
        _ema_finite(rest, out[first + 1 :], state, alpha, block, grow[1:], shrink[1:])
        return whole[:-1]
    rows = -(-rest.size // block)
    grid = np.full(rows * block, np.nan)  # padding after the values
    grid[: rest.size] = rest
    x = grid.reshape(rows, block)
    kept = np.isfinite(x)
    count = np.cumsum(kept, axis=1)
    sums = np.cumsum(np.where(kept, x * alpha * grow[count], 0.0), axis=1)
    scale = shrink[count]
    starts = np.empty(rows)
    for row, (last_scale, last_sum) in enumerate(
        zip(scale[:, -1].tolist(), sums[:, -1].tolist(), strict=True)
    ):
        starts[row] = state
        state = last_scale * (state + last_sum)
    y = scale * (starts[:, None] + sums)
    out[first + 1 :] = y.ravel()[: rest.size]
    return whole[:-1]


def _ema_finite(
    values: np.ndarray,
    out: np.ndarray,
    state: float,
    alpha: float,
    block: int,
    grow: np.ndarray,
    shrink: np.ndarray,
) -> None:
    """:func:`ema_chain`'s blocks of finite ``values`` into ``out``, some at a time (in cache)."""
    per_pass = max(1, (1 << 15) // block) * block
    step = float(shrink[-1])
    for begin in range(0, values.size, per_pass):
        x = values[begin : begin + per_pass]
        size = x.size
        if size % block:  # the last, partial block: padded (the padding is never used)
            x = np.concatenate([x, np.zeros(block - size % block)])
        work = x.reshape(-1, block) * alpha
        work *= grow
        np.cumsum(work, axis=1, out=work)
        starts = []
        for last_sum in work[:, -1].tolist():
            starts.append(state)
            state = step * (state + last_sum)
        work += np.array(starts)[:, None]
        work *= shrink
        out[begin : begin + size] = work.ravel()[:size]
