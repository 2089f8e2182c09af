"""Window sums over the full windows of a run, for the ``olmo-*`` and ``llm-foundry`` presets.

The windows ``x[r:r + size]`` are taken :data:`ROWS` at a time. In each pass the values
minus a shift (the pass's mean) are summed window by window by a shallow tree
(:func:`~pytest_synthloss.checks.windows.tree_sums`: each value goes through at most
``tree_depth(size)`` additions), and so are their squares; the presets report the mean and
spread these give, with a rigorous error bound (:func:`bounds`), and recompute exactly where
the bound cannot settle a decision.

:func:`full_windows` handles any pass (NaN/inf, constant windows). :class:`PassSums`
does the common pass (every value finite, no constant window) with the same operations on
reused buffers, writing the means straight into the caller's output: the same numbers bit
for bit, fewer passes over memory. It returns ``None`` for any other pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeVar

import numpy as np

from pytest_synthloss.checks.windows import MIN_SPAN, tree_depth, tree_sums
from pytest_synthloss.core.parallel import in_spans

__all__ = [
    "CELLS",
    "ROWS",
    "FastWindows",
    "PassSums",
    "bounds",
    "divide_by",
    "each_pass",
    "full_windows",
    "near_line",
]

_EPS = float(np.finfo(np.float64).eps)
#: Windows per pass (the error bound grows with the pass length; the results depend on it).
#: Long enough for threads to overlap: each numpy call takes and drops the GIL.
ROWS = 1 << 17
#: Cells (windows x values) per pass of the presets' exact recomputations (bounds memory).
CELLS = 1 << 22

_T = TypeVar("_T")


def bounds(size: int, top: float, shift: float) -> tuple[float, float]:
    """Bounds on the errors of a window's ``m2`` and ``mean`` as computed here, for values at
    most ``top`` from ``shift`` (``u`` is taken as ``eps``, twice the unit roundoff).

    A value ``c = fl(x - shift)`` is off by at most ``u|c|``, its square by ``3u`` (relative);
    a tree of depth ``d`` sums ``n = size`` of them to within ``g = d u / (1 - d u)`` of the
    sum of their magnitudes. So ``|s1 - S1| <= a1 n top`` with ``a1 = (g + u)(1 + u)`` and
    ``|s2 - S2| <= a2 n top**2`` with ``a2 = (g + 4u)(1 + 4u)``; ``s1**2 / n`` adds at most
    ``a1 (2 + a1) n top**2`` and its two roundings ``2u (1 + a1)**2 n top**2``; the
    subtraction ``u m2 <= u n top**2``. The mean ``shift + s1 / n`` is off by at most
    ``a1 top`` plus its two roundings. Both bounds add what roundings below the normal
    range can lose (``2**-1075`` each, whatever the values).
    """
    u = _EPS
    depth = tree_depth(size)
    g = depth * u / (1 - depth * u)
    a1 = (g + u) * (1 + u)
    a2 = (g + 4 * u) * (1 + 4 * u)
    top = top * (1 + 4 * u)
    scale = (1 + 16 * u) * size * top * top
    # below the normal range a rounding is off by up to 2**-1075 whatever the values
    tiny = (depth + 8) * size * 2.0**-1074
    m2_err = scale * (a2 + a1 * (2 + a1) + 2 * u * (1 + a1) ** 2 + u) + tiny
    mean_err = (1 + 16 * u) * (top * (a1 + 2 * u * (1 + a1) * (1 + u)) + u * abs(shift)) + tiny
    return m2_err, mean_err


def full_windows(x: np.ndarray, size: int, begin: int, end: int) -> dict[str, np.ndarray]:
    """Approximate statistics of the full windows ``x[r:r + size]``, ``r = begin..end-1``.

    ``mean`` and ``m2`` (sum of squared deviations) from running sums of the values minus a
    shift, with ``m2_err``/``mean_err`` bounding their error; ``flat``: the window holds one
    value (exact: ``mean`` is it, ``m2`` is 0); ``bad``: a NaN/inf in the window. Callers
    decide with these where the bounds allow it and recompute the rest exactly; they pass
    at most :data:`ROWS` windows at a time, so every temporary stays small.
    """
    seg = x[begin : end + size - 1]
    width = end - begin
    finite = np.isfinite(seg)
    clean = seg if finite.all() else np.where(finite, seg, 0.0)
    count_bad = np.concatenate(([0], np.cumsum(~finite)))
    bad = count_bad[size : size + width] - count_bad[:width] > 0
    changes = np.concatenate(([0, 0], np.cumsum(seg[1:] != seg[:-1])))
    flat = changes[size : size + width] - changes[1 : 1 + width] == 0
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf/NaN sums
        shift = float(clean.mean())
        centred = clean - shift
        spare = (np.empty(seg.size), np.empty(seg.size))
        s1, s2 = np.empty(width), np.empty(width)
        tree_sums(centred, size, s1, spare)
        tree_sums(centred * centred, size, s2, spare)
        top = float(np.abs(centred).max())
        m2_err, mean_err = bounds(size, top, shift)
        mean = np.where(flat, seg[:width], shift + s1 / size)
        m2 = np.where(flat, 0.0, np.maximum(s2 - s1 * s1 / size, 0.0))
    return {
        "mean": mean,
        "m2": m2,
        "m2_err": np.full(width, m2_err),
        "mean_err": np.full(width, mean_err),
        "flat": flat,
        "bad": bad,
    }


class FastWindows(NamedTuple):
    """One common pass: what :func:`full_windows` gives when no window is bad or flat."""

    #: The window means (a view of the caller's output).
    mean: np.ndarray
    #: Sums of squared deviations (a view of a reused buffer; ``None`` without squares).
    m2: np.ndarray | None
    #: The error bounds, the same for every window of the pass.
    m2_err: float
    mean_err: float
    #: The largest ``|value|`` in the pass's windows and the values after them (NaN left out:
    #: a comparison with NaN is false whatever the bound).
    top_value: float
    #: The least and largest ``m2`` before clipping at 0 (0.0 without squares).
    low_m2: float
    high_m2: float
    #: The largest value in the pass's windows.
    high: float


class PassSums:
    """Reused buffers for the common passes of one run with windows of ``size`` values."""

    def __init__(self, size: int, squares: bool) -> None:
        self.size = size
        self.squares = squares
        length = ROWS + size  # the longest pass
        self._centred = np.empty(length)
        self._square = np.empty(length if squares else 1)
        self._spare = (np.empty(length), np.empty(length))
        self._s1 = np.empty(ROWS)
        self._s2 = np.empty(ROWS if squares else 1)

    def common(self, x: np.ndarray, begin: int, end: int, mean: np.ndarray) -> FastWindows | None:
        """:func:`full_windows` of a pass in which every value is finite and no window holds
        one value, writing the means into ``mean``; ``None`` for any other pass. ``x`` holds
        the value after the last window (``end + size - 1 < x.size``)."""
        size = self.size
        seg = x[begin : end + size - 1]
        width = end - begin
        high, low = float(seg.max()), float(seg.min())  # NaN propagates
        if not (np.isfinite(high) and np.isfinite(low)):
            return None
        # a flat window needs size - 1 equal neighbours in a row
        if size < 2 or np.count_nonzero(seg[1:] == seg[:-1]) >= size - 1:
            return None
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf/NaN sums
            length = seg.size
            shift = float(seg.mean())
            centred = np.subtract(seg, shift, out=self._centred[:length])
            # |value - shift| is largest at an extreme: rounding is monotonic
            top = max(abs(high - shift), abs(low - shift))
            s1 = self._s1[:width]
            tree_sums(centred, size, s1, self._spare)
            divide_by(s1, size, mean)
            np.add(mean, shift, out=mean)
            m2 = None
            low_m2 = high_m2 = 0.0
            if self.squares:
                square = np.multiply(centred, centred, out=self._square[:length])
                s2 = self._s2[:width]
                tree_sums(square, size, s2, self._spare)
                np.multiply(s1, s1, out=s1)
                divide_by(s1, size, s1)
                m2 = np.subtract(s2, s1, out=s2)
                low_m2, high_m2 = float(m2.min()), float(m2.max())
                if not low_m2 > 0:  # NaN, or sums to clip at 0
                    np.maximum(m2, 0.0, out=m2)
        m2_err, mean_err = bounds(size, top, shift)
        return FastWindows(
            mean,
            m2,
            m2_err,
            mean_err,
            max(abs(high), abs(low), _magnitude(x[end + size - 1])),
            low_m2,
            high_m2,
            high,
        )


def each_pass(
    total: int,
    size: int,
    squares: bool,
    lines: int,
    visit: Callable[[PassSums, np.ndarray, int, int], _T],
) -> list[_T]:
    """``visit(sums, work, begin, end)`` for each pass of the windows ``0..total-1`` in order
    (:data:`ROWS` at a time), with :class:`PassSums` and ``lines`` rows of work space made
    once per thread: spans of passes go to threads of their own
    (:func:`~pytest_synthloss.core.parallel.in_spans`). Their results, in order."""

    def span(first: int, stop: int) -> list[_T]:
        sums, work = PassSums(size, squares), np.empty((lines, ROWS))
        return [visit(sums, work, at, min(stop, at + ROWS)) for at in range(first, stop, ROWS)]

    return [result for part in in_spans(span, total, ROWS, MIN_SPAN) for result in part]


def divide_by(values: np.ndarray, size: int, out: np.ndarray) -> None:
    """``values / size`` into ``out``; by a power of two as a product (the same numbers:
    both are the exact quotient rounded once)."""
    if size & (size - 1):
        np.divide(values, size, out=out)
    else:
        np.multiply(values, 1.0 / size, out=out)


def _magnitude(value: float) -> float:
    """``|value|``, 0 for NaN."""
    return abs(value) if value == value else 0.0


def near_line(gap: np.ndarray, widest: float) -> np.ndarray:
    """The rows where ``|gap| <= widest`` may hold (NaN included: no bound rules it out);
    ``gap`` becomes ``|gap|``. Most passes are settled by ``gap``'s extremes alone."""
    if gap.max() < -widest or gap.min() > widest:
        return np.empty(0, np.intp)
    np.abs(gap, out=gap)
    if gap.min() > widest:
        return np.empty(0, np.intp)
    return np.flatnonzero(~(gap > widest))
