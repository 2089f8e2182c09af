"""The spike rules' rolling windows in O(n): their mean bit for bit, their minimum, and a
z-score whose spikes are those of numpy's two-pass std at every step.

Row ``i`` of a rule's windows holds the ``window`` losses before loss ``i`` (the context
first, NaN-padded at the start, NaN for a non-finite loss), as
:func:`~pytest_synthloss.checks.kernels.rolling` builds it; that per-window kernel stays the
reference (and the fallback for the few windows the fast paths cannot settle).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pytest_synthloss.checks.kernels import ema
from pytest_synthloss.checks.windows import ema_chain, window_min, window_sums

__all__ = [
    "certain",
    "ema_before",
    "exact_rows",
    "exact_std",
    "padded_windows",
    "rolling_mean",
    "rolling_min",
    "rolling_std",
    "rolling_zscore",
    "window_counts",
]

#: Cells of the window matrix built per pass of an exact recomputation.
_CELLS = 1 << 22

_EPS = float(np.finfo(np.float64).eps)
#: Windows per pass of the fast standard deviation (its error bound grows with the pass).
_STD_BLOCK = 1 << 14


def padded_windows(
    losses: np.ndarray, context: np.ndarray, window: int
) -> tuple[np.ndarray, int, int, bool]:
    """The values the ``window`` losses before each loss are taken from, the row width, the
    length of the NaN padding and whether that padding is the only NaN.

    Row ``i`` is ``values[i : i + width]``: NaN-padded at the start, NaN for a non-finite
    loss, as :func:`~pytest_synthloss.checks.kernels.rolling` builds it. ``context`` holds
    finite losses only.
    """
    count = losses.size
    ctx = context[-window:]
    width = min(window, max(ctx.size + count - 1, 1))
    finite = np.isfinite(losses)
    clean = bool(finite.all())
    values = losses if clean else np.where(finite, losses, np.nan)
    padded = np.concatenate([np.full(width - ctx.size, np.nan), ctx, values])
    return padded[:-1], width, width - ctx.size, clean


def window_counts(values: np.ndarray, width: int, lead: int, clean: bool) -> np.ndarray:
    """How many numbers (not NaN) each full window of ``values`` holds (``lead`` and
    ``clean`` as :func:`padded_windows` gives them)."""
    rows = values.size - width + 1
    if clean:  # NaN padding only
        counts = np.full(rows, width)
        counts[:lead] = np.arange(width - lead, width)[:rows]
        return counts
    held = np.concatenate(([0], np.cumsum(~np.isnan(values))))
    return held[width:] - held[: held.size - width]


def rolling_mean(
    losses: np.ndarray, context: np.ndarray, window: int, warmup: int, counted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rolling(losses, context, window, warmup, np.nanmean)`` bit for bit, in O(n).

    Also returns the padded values (see :func:`padded_windows`) and the count of numbers in
    each window (whose width is ``values.size - mean.size + 1``; not computed, an empty
    array, for losses that are all finite unless ``counted``).
    """
    if not losses.size:
        return np.empty(0), np.empty(0), np.empty(0, np.int64)
    values, width, lead, clean = padded_windows(losses, context, window)
    rows = values.size - width + 1
    tail = values[lead:]
    if lead < rows and clean:
        # rows >= lead hold numbers only; the ones before see the padding
        mean = np.empty(rows)
        head = values[: lead + width - 1]
        mean[:lead] = window_sums(np.where(np.isnan(head), 0.0, head), width)
        mean[lead:] = window_sums(tail, width)
        mean[lead:] /= float(width)  # what dividing by the count (width) gives
        counts = np.arange(width - lead, width)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:lead] /= counts
        if warmup > width:
            mean[:] = np.nan
        else:
            mean[:lead][counts < warmup] = np.nan
        held = window_counts(values, width, lead, clean) if counted else np.empty(0, np.int64)
        return mean, values, held
    counts = window_counts(values, width, lead, clean)
    mean = window_sums(np.where(np.isnan(values), 0.0, values), width)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean /= counts
    mean[counts < warmup] = np.nan
    return mean, values, counts


def rolling_min(losses: np.ndarray, context: np.ndarray, window: int) -> np.ndarray | None:
    """``rolling(losses, context, window, 1, np.nanmin)`` in O(n); ``None`` when a zero is
    among the values (which of 0.0 and -0.0 is the minimum then depends on the order)."""
    if not losses.size:
        return np.empty(0)
    values, width, _, _ = padded_windows(losses, context, window)
    if (values == 0).any():
        return None
    return window_min(values, width)


def rolling_std(
    values: np.ndarray, counts: np.ndarray, width: int, warmup: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The population std of each window from running sums (NaN below ``warmup``).

    Also returns, per block of :data:`_STD_BLOCK` windows, the two terms of a bound on the
    error of the variance (``|var - numpy's var| <= a / count + b * var``, ``a`` per block,
    ``b`` per block) so that a caller can tell where the std is certain enough; ``inf``
    means never (recompute numpy's std there, e.g. a window of one repeated value).
    """
    rows = counts.size
    std = np.empty(rows)
    terms = np.full((-(-rows // _STD_BLOCK), 2), np.inf)
    low: list[np.ndarray] = []
    c1 = np.zeros(_STD_BLOCK + width)
    c2 = np.zeros(_STD_BLOCK + width)
    for index, first in enumerate(range(0, rows, _STD_BLOCK)):
        end = min(rows, first + _STD_BLOCK)
        seg = values[first : end + width - 1]
        held = ~np.isnan(seg)
        some = bool(held.any())
        whole = some and bool(held.all())
        shift = (
            float(seg[(end - first) // 2])
            if whole
            else (float(np.mean(seg[held])) if some else 0.0)
        )
        centred = seg - shift
        if not whole:
            centred[~held] = 0.0
        top = max(float(centred.max()), -float(centred.min()))
        big = max(abs(shift), abs(shift + top))
        np.cumsum(centred, out=c1[1 : seg.size + 1])
        centred *= centred
        np.cumsum(centred, out=c2[1 : seg.size + 1])
        span = end - first
        s1 = c1[width : width + span] - c1[:span]
        s2 = c2[width : width + span] - c2[:span]
        n = counts[first:end]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if whole and n[0] == width:
                var = s2 - s1 * s1 / width
                var /= width
            else:
                var = (s2 - s1 * s1 / n) / n
            np.maximum(var, 0.0, out=var)
            length = float(seg.size)
            a = 4.0 * (8.0 * _EPS * length * length * top * top + width * (width * _EPS * big) ** 2)
            b = 4.0 * (width + 8.0) * _EPS
            terms[index] = (a, b)
            # var <= 4 * (a / n + b * var): the std may be 0, or too rough to use
            if whole and n[0] == width:
                low.append(first + np.flatnonzero(~(var * (1.0 - 4.0 * b) > 4.0 * a / width)))
            else:
                low.append(first + np.flatnonzero(~(var * (1.0 - 4.0 * b) > 4.0 * a / n)))
            np.sqrt(var, out=std[first:end])
        if not whole or n[0] < warmup:
            std[first:end][n < warmup] = np.nan
    return std, terms, np.concatenate(low) if low else np.empty(0, np.int64)


def certain(
    rows: np.ndarray,
    z: np.ndarray,
    std: np.ndarray,
    counts: np.ndarray,
    terms: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Which of ``rows`` have a score ``z = diff / std`` (std from :func:`rolling_std`) that
    is certainly on the same side of ``threshold`` as with numpy's std."""
    a, b = terms[rows // _STD_BLOCK].T
    var = std[rows] ** 2
    score = z[rows]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        relative = (a / counts[rows] + b * var) / var  # of the variance: the std's is half
        gap = np.abs(score - threshold)
        sure = gap > (relative + 8.0 * _EPS) * np.abs(score) + 1e-300
    result: np.ndarray = sure | ~np.isfinite(score)
    return result


def exact_rows(
    values: np.ndarray, width: int, rows: np.ndarray, reduce: Callable[..., np.ndarray]
) -> np.ndarray:
    """``reduce(values[i : i + width], axis=1)`` for each row ``i`` of ``rows`` (a copy of each
    row, as :func:`~pytest_synthloss.checks.kernels.rolling` reduces them)."""
    view = np.lib.stride_tricks.sliding_window_view(values, width)
    out = np.empty(rows.size)
    step = max(1, _CELLS // width)
    for first in range(0, rows.size, step):
        at = rows[first : first + step]
        out[first : first + at.size] = reduce(view[at], axis=1)
    return out


def exact_std(values: np.ndarray, width: int, counts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``np.nanstd`` of the windows ``rows``; windows of one repeated value (full ones) are
    computed once per value."""
    out = np.empty(rows.size)
    full = np.flatnonzero(counts[rows] == width)
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


def rolling_zscore(
    losses: np.ndarray, context: np.ndarray, window: int, warmup: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The window mean (numpy's ``np.nanmean`` bit for bit) and ``(loss - mean) / std``.

    The std comes from running sums with an error bound, and is numpy's ``np.nanstd`` of
    the window wherever that bound cannot tell which side of ``threshold`` the score is on,
    or the std may be 0: the spikes (``z > threshold``) are those of the two-pass std at
    every step; the other scores agree with it to within the bound (about 1e-9 relative on
    a noisy curve, never as far as the 3 digits the messages show).
    """
    if not losses.size:
        return np.empty(0), np.empty(0)
    mean, values, counts = rolling_mean(losses, context, window, warmup, counted=True)
    width = values.size - mean.size + 1
    with np.errstate(invalid="ignore"):
        diff = losses - mean
    std, terms, low = rolling_std(values, counts, width, warmup)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / std
        near = np.flatnonzero(~(np.abs(z - threshold) > 1e-6 * np.abs(z)))
    near = near[counts[near] >= warmup]
    redo = np.union1d(near[~certain(near, z, std, counts, terms, threshold)], low)
    redo = redo[counts[redo] >= warmup]
    if redo.size:
        std[redo] = exact_std(values, width, counts, redo)
        with np.errstate(divide="ignore", invalid="ignore"):
            z[redo] = diff[redo] / std[redo]
    flat = std == 0
    z[flat] = np.where(diff[flat] > 0, np.inf, 0.0)
    return mean, z


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
