"""The spike rules' rolling windows in O(n): their mean bit for bit, their minimum, and a
z-score whose spikes are those of numpy's two-pass std at every step.

Row ``i`` of a rule's windows holds the ``window`` losses before loss ``i`` (the context
first, NaN-padded at the start, NaN for a non-finite loss), as
:func:`~pytest_synthloss.checks.kernels.rolling` builds it; that per-window kernel stays the
reference (and the fallback for the few windows the fast paths cannot settle). The mean and
the z-score are computed a cache-sized block of windows at a time, every step of a block in
one pass over it, into buffers made once.
"""

from __future__ import annotations

import math

import numpy as np

from pytest_synthloss.checks.kernels import ema, exact_std, finite_or_nan
from pytest_synthloss.checks.windows import (
    BLOCK,
    MIN_SPAN,
    PairwiseWindows,
    ema_chain,
    pairwise_depth,
    tree_depth,
    tree_sums,
    window_min,
)
from pytest_synthloss.core.parallel import in_spans

__all__ = [
    "Padded",
    "ema_before",
    "mean_ratio",
    "rolling_mean",
    "rolling_min",
    "rolling_zscore",
]

_EPS = float(np.finfo(np.float64).eps)
#: A fast variance is used when above this many times its error bound (its relative error is
#: then below ``1 / _ROUGH``, its std's and score's below half that).
_ROUGH = float(1 << 20)
_NONE = np.empty(0, np.int64)
#: Windows per block of :func:`rolling_zscore` (its scores depend on it in their last bits:
#: the shift of the squares is taken per block). Larger than :data:`BLOCK`: a block's numpy
#: calls are long enough for threads to overlap (each call takes and drops the GIL).
ZSCORE_BLOCK = 1 << 17


class Padded:
    """The values the ``window`` losses before each loss are taken from, a segment at a time.

    ``values = [NaN padding, context, losses[:-1]]``, :attr:`width` long windows: row ``i``
    is ``values[i : i + width]``, as :func:`~pytest_synthloss.checks.kernels.rolling` builds
    it (a non-finite loss of ``context`` is left out). A segment holds the losses as they
    are (a caller replaces a non-finite one by NaN); only :meth:`values` copies them all.
    """

    def __init__(self, losses: np.ndarray, context: np.ndarray, window: int) -> None:
        ctx = context[-window:]
        if not np.isfinite(ctx).all():
            ctx = context[np.isfinite(context)][-window:]
        self.losses = losses
        #: the row width: a window longer than everything before the last loss is cut
        self.width = min(window, max(ctx.size + losses.size - 1, 1))
        self._head = np.concatenate([np.full(self.width - ctx.size, np.nan), ctx])

    def segment(self, first: int, stop: int) -> np.ndarray:
        """``values[first:stop]`` (a view of the losses past the first ``width`` values)."""
        width = self.width
        if first >= width:
            return self.losses[first - width : stop - width]
        return np.concatenate([self._head[first:stop], self.losses[: max(stop - width, 0)]])

    def values(self) -> np.ndarray:
        """Every value, NaN for a non-finite loss."""
        return np.concatenate([self._head, finite_or_nan(self.losses[:-1])])


def _block_mean(
    seg: np.ndarray, width: int, sums: PairwiseWindows, out: np.ndarray
) -> np.ndarray | None:
    """``out[i]``: ``np.nanmean`` of ``seg[i : i + width]`` bit for bit (warm-up not applied).
    Returns how many numbers each window holds, or ``None`` when every value is finite."""
    with np.errstate(invalid="ignore", over="ignore"):
        sums.into(seg, out)
    low, high = float(out.min()), float(out.max())  # NaN or inf: seg has a non-finite value
    if math.isfinite(low) and math.isfinite(high):
        if low <= 0.0 <= high:  # numpy's 0.0 + sum: only a window of -0.0 changes
            np.add(out, 0.0, out=out)
        _divide(out, width)
        return None
    held = np.isfinite(seg)
    counts = np.zeros(seg.size + 1, np.int64)
    np.cumsum(held, out=counts[1:])
    sums.into(np.where(held, seg, 0.0), out)
    np.add(out, 0.0, out=out)
    held_counts: np.ndarray = counts[width:] - counts[: counts.size - width]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(out, held_counts, out=out)
    return held_counts


def _divide(sums: np.ndarray, width: int) -> None:
    """``sums /= width`` in place: what dividing by the count (width) gives (for a power of
    two, the same as multiplying by its inverse, which is faster)."""
    if width & (width - 1):
        np.divide(sums, float(width), out=sums)
    else:
        np.multiply(sums, 1.0 / width, out=sums)


def _warm(mean: np.ndarray, counts: np.ndarray | None, width: int, warmup: int) -> None:
    """NaN for the windows holding fewer than ``warmup`` numbers."""
    if counts is not None:
        mean[counts < warmup] = np.nan
    elif warmup > width:
        mean[:] = np.nan


def rolling_mean(losses: np.ndarray, context: np.ndarray, window: int, warmup: int) -> np.ndarray:
    """``rolling(losses, context, window, warmup, np.nanmean)`` bit for bit, in O(n)."""
    return _mean_blocks(losses, context, window, warmup, None)[0]


def mean_ratio(
    losses: np.ndarray, context: np.ndarray, window: int, warmup: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`rolling_mean`, ``ratio = losses / mean`` and ``ratio >= threshold``, each block
    of windows in one pass."""
    return _mean_blocks(losses, context, window, warmup, threshold)


def _mean_blocks(
    losses: np.ndarray, context: np.ndarray, window: int, warmup: int, threshold: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.empty(losses.size)
    ratio, spikes = (np.empty(0), np.empty(0, bool))
    if threshold is not None:
        ratio, spikes = np.empty(losses.size), np.empty(losses.size, bool)
    if not losses.size:
        return mean, ratio, spikes
    padded = Padded(losses, context, window)
    width = padded.width
    step = max(BLOCK, 2 * width)
    sums = PairwiseWindows(width, min(step, losses.size) + width - 1)
    for first in range(0, losses.size, step):
        end = min(losses.size, first + step)
        out = mean[first:end]
        counts = _block_mean(padded.segment(first, end + width - 1), width, sums, out)
        _warm(out, counts, width, warmup)
        if threshold is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(losses[first:end], out, out=ratio[first:end])
                np.greater_equal(ratio[first:end], threshold, out=spikes[first:end])
    return mean, ratio, spikes


def rolling_min(losses: np.ndarray, context: np.ndarray, window: int) -> np.ndarray | None:
    """``rolling(losses, context, window, 1, np.nanmin)`` in O(n); ``None`` when a zero is
    among the values (which of 0.0 and -0.0 is the minimum then depends on the order)."""
    if not losses.size:
        return np.empty(0)
    padded = Padded(losses, context, window)
    values = padded.values()
    if (values == 0).any():
        return None
    return window_min(values, padded.width)


class _ZScoreBlocks:
    """:func:`rolling_zscore` one block of windows at a time, in buffers made once.

    The variance of a window is ``sum((x - shift)**2) / n - (mean - shift)**2``: the exact
    mean, a ``shift`` near the block's values and the squares summed by :func:`tree_sums`.
    Its distance from numpy's two-pass variance is at most ``a + b * var`` (:meth:`terms`,
    from the rounding of each of those steps and of numpy's own), so a caller can tell
    where the std is certain enough; elsewhere it is numpy's ``np.nanstd`` of the window.
    """

    def __init__(self, width: int, warmup: int, threshold: float, capacity: int) -> None:
        self.width, self.warmup, self.threshold = width, warmup, threshold
        self.sums = PairwiseWindows(width, capacity)
        self._centred, self._var = np.empty(capacity), np.empty(capacity)
        self._work = np.empty(capacity)
        depth = pairwise_depth(width)  # numpy's sum of a window (the mean's and the var's)
        self._mean_error = (depth + 2) * _EPS  # relative to the largest |value|
        self._square_error = (tree_depth(width) + 5) * _EPS  # of sum((x - shift)**2) / n
        self._centred_error = (tree_depth(width) + 4) * _EPS  # of sum(x - shift) / n, by top
        self._numpy_error = (depth + 4) * _EPS  # of numpy's var, relative
        self._tiny = (width + 8) * 2.0**-1070  # underflow
        # A std not redone is off by less than 1 / _ROUGH (relative), its score too: only a
        # score that close to the threshold can be on the wrong side (``_uncertain`` tells).
        spread, t = 1e-4, threshold
        lo, hi = (
            (t * (1 - spread), t * (1 + spread)) if t > 0 else (t * (1 + spread), t * (1 - spread))
        )
        self._lo, self._hi = lo - 1e-12 * abs(lo) - 1e-300, hi + 1e-12 * abs(hi) + 1e-300

    def terms(self, top: float, big: float, centred: bool) -> tuple[float, float]:
        """``a`` and ``b`` of the bound, for values at most ``top`` from the shift and ``big``
        in magnitude (NaN or inf: no bound); ``centred``: the distance of the mean from the
        shift is the sum of the shifted values over ``n`` (see :meth:`centred_var`)."""
        top, big = top * (1 + 4 * _EPS), big * (1 + 4 * _EPS)
        mean = self._mean_error * big  # |mean - exact mean|
        # |(mean - shift) - exact|
        dev = self._centred_error * top if centred else mean + _EPS * (top + mean)
        square = 2 * top * dev + dev * dev + _EPS * (top + dev) * (top + dev)
        a = (1 + _EPS) * (self._square_error * top * top + square) + 1.01 * mean * mean
        return 2 * (a + self._tiny), 2 * (self._square_error + self._numpy_error + _EPS)

    def block(
        self, seg: np.ndarray, loss: np.ndarray, out: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``mean``, ``z`` and ``z > threshold`` (``out``) of the windows of ``seg``;
        returns the rows (of the block) whose std must be numpy's, and how many numbers
        their windows hold."""
        mean, z, spikes = out
        width, rows = self.width, mean.size
        high, low = float(np.maximum.reduce(seg)), float(np.minimum.reduce(seg))  # NaN: not finite
        centred = self._centred[: seg.size]
        counts: np.ndarray | None = None
        held: np.ndarray | None = None
        if math.isfinite(high) and math.isfinite(low):
            self.sums.into(seg, mean)
            if low <= 0.0 <= high:  # numpy's 0.0 + sum: only a window of -0.0 changes
                np.add(mean, 0.0, out=mean)
            _divide(mean, width)
            shift = float(seg[rows // 2])
            top, big = max(high - shift, shift - low), max(abs(high), abs(low))
            np.subtract(seg, shift, out=centred)
        else:
            counts = _block_mean(seg, width, self.sums, mean)
            held = np.isfinite(seg)
            shift = float(np.mean(seg[held])) if held.any() else 0.0
            self._shifted(seg, shift, held)
            top = max(float(centred.max()), -float(centred.min()))
            big = abs(shift) + top
        _warm(mean, counts, width, self.warmup)
        var, work = self._var[:rows], self._work[:rows]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            np.multiply(centred, centred, out=centred)
            tree_sums(centred, width, var, self.sums.lanes)
            self._per_window(var, counts)
            np.subtract(mean, shift, out=work)
            np.multiply(work, work, out=work)
            np.subtract(var, work, out=var)  # sum((x - shift)**2) / n - (mean - shift)**2
            a, b = self.terms(top, big, centred=False)
            limit = _ROUGH * a / (1.0 - _ROUGH * b)
            floor = float(np.minimum.reduce(var))
            if not floor > limit:  # rough somewhere (or NaN): the error of the mean grows
                # with the level of the values, that of their shifted sum with the spread
                self.centred_var(seg, shift, held, counts, var)
                a, b = self.terms(top, big, centred=True)
                limit = _ROUGH * a / (1.0 - _ROUGH * b)
                floor = float(np.minimum.reduce(var))
            # the std may be 0, or too rough (NaN: see each)
            low_rows = _NONE if floor > limit else np.flatnonzero(~(var > limit))
            np.sqrt(var, out=var)
            np.subtract(loss, mean, out=work)
            np.divide(work, var, out=z)
            np.greater(z, self.threshold, out=spikes)
            near = self._uncertain(z, var, a, b)
            redo = np.union1d(low_rows, near) if near.size else low_rows
        if counts is None:
            held_counts = np.full(redo.size if width >= self.warmup else 0, width)
            return redo[: held_counts.size], held_counts
        redo = redo[counts[redo] >= self.warmup]
        return redo, counts[redo]

    def _shifted(self, seg: np.ndarray, shift: float, held: np.ndarray | None) -> np.ndarray:
        """``seg - shift`` (0 where a value is not ``held``) in the centred values' buffer."""
        centred = self._centred[: seg.size]
        with np.errstate(invalid="ignore", over="ignore"):
            np.subtract(seg, shift, out=centred)
        if held is not None:
            centred[~held] = 0.0
        return centred

    def _per_window(self, sums: np.ndarray, counts: np.ndarray | None) -> None:
        """``sums /= n`` (each window's count of numbers)."""
        if counts is None:
            np.multiply(sums, 1.0 / self.width, out=sums)
        else:
            np.divide(sums, counts, out=sums)

    def centred_var(
        self,
        seg: np.ndarray,
        shift: float,
        held: np.ndarray | None,
        counts: np.ndarray | None,
        var: np.ndarray,
    ) -> None:
        """``var = sum((x - shift)**2) / n - (sum(x - shift) / n)**2``: both sums by
        :func:`tree_sums`, so the error grows with the values' spread, not their level."""
        centred = self._shifted(seg, shift, held)
        distance = self._work[: var.size]
        tree_sums(centred, self.width, distance, self.sums.lanes)
        np.multiply(centred, centred, out=centred)
        tree_sums(centred, self.width, var, self.sums.lanes)
        self._per_window(var, counts)
        self._per_window(distance, counts)
        np.multiply(distance, distance, out=distance)
        np.subtract(var, distance, out=var)

    def _uncertain(self, z: np.ndarray, std: np.ndarray, a: float, b: float) -> np.ndarray:
        """The rows whose score ``z`` might be on the other side of the threshold with
        numpy's std (NaN and infinite scores are on the same side)."""
        if (self._lo > 0 and z.max() < self._lo) or (self._hi < 0 and z.min() > self._hi):
            return _NONE
        if self._lo > 0:
            near = np.flatnonzero(z >= self._lo)
            near = near[z[near] <= self._hi]
        elif self._hi < 0:
            near = np.flatnonzero(z <= self._hi)
            near = near[z[near] >= self._lo]
        else:
            near = np.flatnonzero((z >= self._lo) & (z <= self._hi))
        var = std[near] ** 2
        score = z[near]
        relative = (a + b * var) / var  # of the variance: the std's is half
        gap = np.abs(score - self.threshold)
        sure = gap > (relative + 8.0 * _EPS) * np.abs(score) + 1e-300
        result: np.ndarray = near[~(sure | ~np.isfinite(score))]
        return result


def rolling_zscore(
    losses: np.ndarray, context: np.ndarray, window: int, warmup: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The window mean (numpy's ``np.nanmean`` bit for bit), ``z = (loss - mean) / std`` and
    the spikes, ``z > threshold``.

    The std comes from sums of squares with an error bound (see :class:`_ZScoreBlocks`),
    and is numpy's ``np.nanstd`` of the window wherever that bound cannot tell which side of
    ``threshold`` the score is on, or the std may be 0: the spikes (``z > threshold``) are
    those of the two-pass std at every step; the other scores agree with it to within the
    bound: 2**-20 relative at worst (1e-13 on the noisy built-in curve), far from the 3
    digits the messages show.
    """
    mean, z, spikes = np.empty(losses.size), np.empty(losses.size), np.empty(losses.size, bool)
    if not losses.size:
        return mean, z, spikes
    padded = Padded(losses, context, window)
    width = padded.width
    step = max(ZSCORE_BLOCK, 2 * width)

    def span(begin: int, stop: int) -> list[tuple[np.ndarray, np.ndarray]]:
        blocks = _ZScoreBlocks(width, warmup, threshold, min(step, losses.size) + width - 1)
        found = []
        for first in range(begin, stop, step):
            end = min(stop, first + step)
            seg = padded.segment(first, end + width - 1)
            out = mean[first:end], z[first:end], spikes[first:end]
            rows, counts = blocks.block(seg, losses[first:end], out)
            found.append((first + rows, counts))
        return found

    found = [pair for part in in_spans(span, losses.size, step, MIN_SPAN) for pair in part]
    at = np.concatenate([rows for rows, _ in found])
    if at.size:
        std = exact_std(padded.values(), width, at, np.concatenate([n for _, n in found]))
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = losses[at] - mean[at]
            z[at] = diff / std
        # only a recomputed std can be 0: an approximate variance of 0 is redone
        flat = std == 0
        z[at[flat]] = np.where(diff[flat] > 0, np.inf, 0.0)
        spikes[at] = z[at] > threshold
    return mean, z, spikes


def ema_before(values: np.ndarray, alpha: float) -> np.ndarray:
    """``out[i]``: :func:`~pytest_synthloss.checks.kernels.ema` up to ``values[i - 1]`` (NaN
    for ``i = 0``), the same values, its blocks side by side."""
    decay = 1.0 - alpha
    first = 0 if values.size and math.isfinite(values[0]) else -1
    if first < 0 and values.size:
        finite = np.isfinite(values)
        first = int(np.argmax(finite)) if finite.any() else -1
    if decay <= 0 or first < 0:
        return np.concatenate([[np.nan], ema(values, alpha)[:-1]])
    block = max(1, min(256, int(12.0 / -math.log10(decay))))
    return ema_chain(values, first, alpha, block)
