"""Sliding-window kernels in O(n): window sums bit for bit as numpy's, window minima, the EMA.

:class:`PairwiseWindows` gives, for every window, the float64 sum ``np.add.reduce`` computes
for that window as a contiguous row: numpy sums a row pairwise (eight running partial sums
for up to 128 values, then halves), a tree that depends on the row length only. So each node
of the tree is itself a sliding sum, computed once for every window at a few additions per
step, a cache-sized block at a time in reused buffers. :func:`tree_sums` sums every window
by a shallow tree of any order (for sums that need a bound, not numpy's bits).
:func:`window_min` is van Herk / Gil-Werman's algorithm (prefix and suffix minima of aligned
blocks). :func:`ema_chain` is :func:`~pytest_synthloss.checks.kernels.ema`'s blocked closed
form with the blocks computed side by side and only the carried state chained by a scalar
loop.
"""

from __future__ import annotations

import numpy as np

from pytest_synthloss.core.parallel import in_spans

__all__ = [
    "BLOCK",
    "MIN_SPAN",
    "PairwiseWindows",
    "ema_chain",
    "pairwise_depth",
    "tree_depth",
    "tree_sums",
    "window_min",
    "window_sums",
]

#: Windows computed per pass (the temporaries of a pass stay in cache).
BLOCK = 1 << 14
#: Passes go to several threads, each at least this many windows
#: (:mod:`pytest_synthloss.core.parallel`).
MIN_SPAN = 1 << 17
#: Values per pass of the EMA's blocks (they stay in cache).
EMA_PASS = 1 << 15
#: numpy's pairwise summation: rows up to this length use eight partial sums.
_PW_BLOCKSIZE = 128
#: Partial sums per chunk of :func:`_lanes` (16 KiB: they stay in the L1 cache).
_LANE_CHUNK = 2048


def _halves(length: int) -> tuple[int, int]:
    """The two parts numpy's pairwise sum splits a row of ``length`` > 128 values into."""
    half = length // 2
    half -= half % 8
    return half, length - half


def pairwise_depth(length: int) -> int:
    """The most additions on one value's way into numpy's pairwise sum of ``length`` values."""
    if length < 8:
        return length
    if length <= _PW_BLOCKSIZE:
        return length // 8 - 1 + 3 + length % 8
    return 1 + max(pairwise_depth(part) for part in _halves(length))


class PairwiseWindows:
    """numpy's pairwise sum of every ``width``-long window of a segment, block by block.

    The partial sums of the eight lanes are kept in buffers made once for segments of up to
    ``capacity`` values; the result leaves out the ``0.0 +`` that starts numpy's reduction
    (it turns a sum of -0.0 only into 0.0: add ``0.0`` where that can happen).
    """

    def __init__(self, width: int, capacity: int) -> None:
        self.width = width
        #: the lanes' buffers, free for other uses between calls of :meth:`into`
        self.lanes = (np.empty(capacity), np.empty(capacity))
        order: dict[int, tuple[int, int] | None] = {}
        todo = [width]
        while todo:
            length = todo.pop()
            if length not in order:
                parts = _halves(length) if length > _PW_BLOCKSIZE else None
                order[length] = parts
                todo.extend(parts or ())
        #: the tree's row lengths, shortest first, with their two parts (None: a leaf)
        self._order = sorted(order.items())
        #: the longest row each length is a part of (its node can be dropped after that one)
        self._last = {part: length for length, parts in self._order for part in parts or ()}

    def into(self, seg: np.ndarray, out: np.ndarray) -> None:
        """``out[i]`` = numpy's pairwise sum of ``seg[i : i + width]`` for every full window."""
        nodes: dict[int, np.ndarray] = {}
        for length, parts in self._order:
            count = seg.size - length + 1
            dest = out if length == self.width else np.empty(count)
            if parts is None:
                self._leaf(seg, length, dest)
            else:
                left, right = nodes[parts[0]], nodes[parts[1]]
                np.add(left[:count], right[parts[0] : parts[0] + count], out=dest)
                for part in parts:
                    if self._last[part] == length:
                        nodes.pop(part, None)
            nodes[length] = dest

    def _leaf(self, seg: np.ndarray, length: int, dest: np.ndarray) -> None:
        """numpy's sum of up to 128 values for every window of ``length`` in ``seg``."""
        count = dest.size
        if length < 8:  # res = 0.0; res += a[i] for each i
            np.add(seg[:count], 0.0, out=dest)
            for j in range(1, length):
                np.add(dest, seg[j : j + count], out=dest)
            return
        whole = length - length % 8
        # r[j] = a[j] + a[j + 8] + ...: the same sequence from every start, shifted by j
        wide = count + 7
        partial = seg[:wide] if whole == 8 else _lanes(seg, whole // 8, self.lanes[0][:wide])
        pairs = np.add(partial[:-1], partial[1:], out=self.lanes[1][: wide - 1])  # r0 + r1, ...
        quads = np.add(pairs[: count + 4], pairs[2 : count + 6], out=self.lanes[0][: count + 4])
        np.add(quads[:count], quads[4 : count + 4], out=dest)
        for j in range(whole, length):
            np.add(dest, seg[j : j + count], out=dest)


def _lanes(seg: np.ndarray, terms: int, out: np.ndarray) -> np.ndarray:
    """``out[k] = seg[k] + seg[k + 8] + ... + seg[k + 8 * (terms - 1)]``, left to right.

    One reduction over a strided view (chunks, terms, _LANE_CHUNK): numpy adds the terms
    in order, a chunk at a time, so each chunk of ``out`` stays in the L1 cache.
    """
    seg = np.ascontiguousarray(seg)  # a view of it (below) needs its buffer
    wide, step = out.size, seg.itemsize
    chunk = min(_LANE_CHUNK, wide)
    chunks = wide // chunk
    head = chunks * chunk
    shape, strides = (chunks, terms, chunk), (chunk * step, 8 * step, step)
    view = np.ndarray(shape, seg.dtype, seg, 0, strides)
    np.add.reduce(view, axis=1, out=out[:head].reshape(chunks, chunk))
    if head < wide:
        rest = np.ndarray((terms, wide - head), seg.dtype, seg[head:], 0, strides[1:])
        np.add.reduce(rest, axis=0, out=out[head:])
    return out


def window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """``out[i] = np.add.reduce(values[i : i + width])``, bit for bit, for every full window.

    ``values`` must be finite or zero where a value does not count (NaN is not skipped).
    """
    count = values.size - width + 1
    out = np.empty(max(count, 0))
    step = max(BLOCK, 2 * width)
    sums = PairwiseWindows(width, min(step, max(count, 0)) + width - 1)
    for first in range(0, count, step):
        rows = min(step, count - first)
        block = out[first : first + rows]
        sums.into(values[first : first + rows + width - 1], block)
        np.add(block, 0.0, out=block)
    return out


def tree_depth(width: int) -> int:
    """The most additions on one value's way into a sum of :func:`tree_sums`."""
    return width.bit_length() - 1 + bin(width).count("1") - 1


def tree_sums(
    seg: np.ndarray, width: int, out: np.ndarray, spare: tuple[np.ndarray, np.ndarray]
) -> None:
    """``out[i]`` = a sum of ``seg[i : i + width]`` by a tree of depth :func:`tree_depth`:
    sums of 2, 4, 8, ... values side by side, those of ``width``'s bits added up.

    ``spare``: two buffers of at least ``seg.size`` values (overwritten).
    """
    rows = out.size
    level, span, offset, started = seg, 1, 0, False
    while True:
        if width & span:
            piece = level[offset : offset + rows]
            if started:
                np.add(out, piece, out=out)
            else:
                np.copyto(out, piece)
            started = True
            offset += span
        if 2 * span > width:
            return
        size = level.size - span
        if width == 2 * span:  # a power of two: its last level is the sum itself
            np.add(level[:size], level[span : span + size], out=out)
            return
        target = spare[span.bit_length() % 2][:size]
        np.add(level[:size], level[span : span + size], out=target)
        level, span = target, 2 * span


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
    """:func:`ema_chain`'s blocks of finite ``values`` into ``out`` (not overlapping them):
    each block's scaled cumulative sums, then the chain of the blocks' starts (in order),
    then each block's start added and scaled. The first and last steps go through the
    blocks some at a time (in cache), in spans on several threads."""
    rows = values.size // block
    grid = out[: rows * block].reshape(rows, block)
    source = values[: rows * block].reshape(rows, block)
    per_pass = max(1, EMA_PASS // block)

    lasts = np.empty(rows)  # each block's last sum, gathered while it is in cache

    def sums(first: int, stop: int) -> None:
        for begin in range(first, stop, per_pass):
            work = grid[begin : min(stop, begin + per_pass)]
            np.multiply(source[begin : begin + work.shape[0]], alpha, out=work)
            work *= grow
            np.cumsum(work, axis=1, out=work)
            lasts[begin : begin + work.shape[0]] = work[:, -1]

    def finish(first: int, stop: int) -> None:
        for begin in range(first, stop, per_pass):
            work = grid[begin : min(stop, begin + per_pass)]
            work += starts[begin : begin + work.shape[0], None]
            work *= shrink

    span = max(1, MIN_SPAN // block)
    in_spans(sums, rows, per_pass, span)
    step = float(shrink[-1])
    chain = []
    for last_sum in lasts.tolist():
        chain.append(state)
        state = step * (state + last_sum)
    starts = np.array(chain)
    in_spans(finish, rows, per_pass, span)
    if values.size % block:  # the last, partial block: padded (the padding is never used)
        tail = np.zeros(block)
        tail[: values.size % block] = values[rows * block :]
        work = tail * alpha
        work *= grow
        np.cumsum(work, out=work)
        work += state
        work *= shrink
        out[rows * block :] = work[: values.size % block]
