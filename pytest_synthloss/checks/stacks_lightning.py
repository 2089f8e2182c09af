"""The ``lightning`` preset: Lightning Fabric's ``SpikeDetection``, step for step.

Follows ``lightning/fabric/utilities/spike.py`` (lightning 2.6.6) and the torchmetrics
``Running(MeanMetric(), window)`` it keeps (torchmetrics 1.9). Step ``k`` of a run is
``batch_idx = k - 1``. For each loss:

1. before ``warmup`` (``batch_idx < warmup``) nothing is a spike;
2. with ``finite_only`` a NaN/inf loss is a spike;
3. a loss no worse than the last *accepted* loss (``loss - last <= 0`` in mode ``min``,
   ``>= 0`` in ``max``; the first comparison is with 0.0) is never a spike;
4. otherwise it is a spike when ``|loss - mean| >= |atol|`` (if ``atol`` is set) and
   ``|loss - mean| >= |rtol * mean|`` (if ``rtol`` is set).

Lightning raises before it updates its statistics, so a spike never enters the running mean
and the last accepted loss stays put: every step of a multi-step spike is flagged. A loss
that is not a spike is accepted when ``finite_only`` is set (a non-finite one too, during
the warm-up) or when it is finite. The mean is torchmetrics': float32, the ``window`` slots
summed in slot order (slot ``count % window`` is overwritten), a NaN slot weighing 0.

Vectorised: a stretch of steps is computed as if none were a spike (the mean only where a
loss is not an improvement), up to the first spike; a spike freezes the state, so the steps
after it are compared with the same mean until one is not a spike. A chunk of finite losses
after a history without NaN takes every step's slot-order total from
:func:`~pytest_synthloss.checks.float32_windows.slot_totals` (the same float32 additions in
the same order); any other chunk gathers the slots of the steps that need a mean
(:func:`ring_means`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pytest_synthloss.checks.float32_windows import slot_scratch, slot_totals
from pytest_synthloss.checks.stack_base import StackPreset, integer, number, ratio
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["LightningSpikeDetection"]

#: Steps per chunk: the first after a spike (then doubling), and at most: ``_BLOCK``, or
#: ``_BLOCK_ROWS`` rounds of a wide window, up to ``_MAX_BLOCK``.
_FIRST_CHUNK = 1 << 12
_BLOCK = 1 << 16
_BLOCK_ROWS = 512
_MAX_BLOCK = 1 << 20
#: The largest window the preset accepts (torchmetrics keeps one state per slot).
MAX_SLOTS = 1 << 16


def ring_means(
    values: np.ndarray, weights: np.ndarray, count: np.ndarray, base: int, window: int
) -> np.ndarray:
    """``Running(MeanMetric(), window).compute()`` after ``count`` updates (float32).

    ``values[i]``/``weights[i]`` are update ``base + i`` (float32); the slots are summed in
    slot order from 0.0, as torchmetrics reduces them, then divided by the summed weights.
    """
    total = np.zeros(count.size, np.float32)
    weight = np.zeros(count.size, np.float32)
    if values.size == 0:
        values = weights = np.zeros(1, np.float32)
    last = count - 1
    zero = np.float32(0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for slot in range(window):
            update = last - np.mod(last - slot, window)
            held = update >= 0
            index = np.where(held, update - base, 0)
            total += np.where(held, values[index], zero)
            weight += np.where(held, weights[index], zero)
        return total / weight


def _finite(values: np.ndarray) -> bool:
    """Whether every value is finite."""
    return bool(np.isfinite(values).all())


class _Work:
    """:meth:`LightningSpikeDetection._dense`'s temporaries, reused from chunk to chunk."""

    def __init__(self, size: int, window: int, dtype: np.dtype) -> None:
        self.gap = np.empty(size, dtype)
        self.limit = np.empty(size, dtype)
        self.single = np.empty(size, np.float32)
        self.maybe = np.empty(size, bool)
        self.far = np.empty(size, bool)
        self.near = np.empty(size, bool)
        self.slots = slot_scratch(size, window)


class LightningSpikeDetection(StackPreset):
    """Lightning ``SpikeDetection(mode, window, warmup, atol, rtol, finite_only)``."""

    name: ClassVar[str] = "lightning"
    source: ClassVar[str] = "lightning/fabric/utilities/spike.py"
    version: ClassVar[str] = "lightning 2.6.6, torchmetrics 1.9.0"
    PARAMS: ClassVar[dict[str, object]] = {
        "mode": "min",
        "window": 10,
        "warmup": 1,
        "atol": None,
        "rtol": 2.0,
        "exclude_batches_path": None,
        "finite_only": True,
    }

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """Lightning's rules: mode min/max, a positive integer window, numbers or None."""
        if params["mode"] not in ("min", "max"):
            raise SynthLossError(
                f"lightning: Invalid mode. Has to be min or max, found {params['mode']!r}"
            )
        params["window"] = integer("lightning", "window", params["window"], low=1, high=MAX_SLOTS)
        params["warmup"] = integer(
            "lightning", "warmup", params["warmup"], low=-MAX_SLOTS, high=1 << 40
        )
        for key in ("atol", "rtol"):
            params[key] = number("lightning", key, params[key], optional=True)
        if not isinstance(params["finite_only"], bool):
            raise SynthLossError(
                f"lightning: finite_only must be True or False, got {params['finite_only']!r}"
            )
        return params

    def _decide(self, x: np.ndarray, last: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """``SpikeDetection._is_spike`` for each loss, its last accepted loss and mean."""
        with np.errstate(invalid="ignore", over="ignore"):
            diff = x - last
            better = diff <= 0 if self.params["mode"] == "min" else diff >= 0
        spike: np.ndarray = ~better & self._far(x, mean)
        if self.params["finite_only"]:
            spike |= ~np.isfinite(x)
        return spike

    def _far(self, x: np.ndarray, mean: np.ndarray, wide: np.ndarray | None = None) -> np.ndarray:
        """``_check_atol and _check_rtol``: ``|loss - mean|`` at least ``|atol|`` and at least
        ``|rtol * mean|`` (float32; ``wide``: the mean as float64, if at hand)."""
        atol, rtol = self.params["atol"], self.params["rtol"]
        f64 = x.dtype == np.float64
        far: np.ndarray | None = None
        with np.errstate(invalid="ignore", over="ignore"):
            if f64:
                gap = np.subtract(x, mean.astype(np.float64) if wide is None else wide)
            else:
                gap = np.subtract(x, mean)
            np.abs(gap, out=gap)
            if atol is not None:
                far = gap >= x.dtype.type(abs(float(atol)))
            if rtol is not None:
                limit = np.abs(np.float32(rtol) * mean)
                outside = gap >= (limit.astype(np.float64) if f64 else limit)
                far = outside if far is None else far & outside
        return np.ones(x.size, bool) if far is None else far

    def settle(self, start: int) -> int:
        """In a constant tail its first loss is a spike (the state freezes: so is every
        later one) or is accepted (every later one is no worse: never a spike, no mean)."""
        return 2

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The running mean before each step, ``loss / mean``, and the spikes.

        In chunks: :meth:`_dense` for finite losses after a history without NaN (every
        non-spike is then accepted), :meth:`_sparse` otherwise. A chunk stops at its first
        spike; the steps after it are compared with the frozen state until one is not a
        spike, and the next chunk starts there.
        """
        x = losses
        n = x.size
        window = int(self.params["window"])
        spikes = np.zeros(n, bool)
        means = np.empty(n)
        scores = np.empty(n)
        hist_v = np.zeros(0, np.float32)  # the last `window` updates: value, weight
        hist_w = np.zeros(0, np.float32)
        count = 0
        last = np.zeros(1, x.dtype)
        block = min(n, max(_BLOCK, min(_BLOCK_ROWS * window, _MAX_BLOCK)))
        work = _Work(block, window, x.dtype)
        pos, chunk = 0, block
        while pos < n:
            end = min(n, pos + chunk)
            xs = x[pos:end]
            upd: np.ndarray | None = None
            if hist_w.all() and _finite(xs):
                hit = self._dense(xs, pos, count, last, hist_v, work, means, scores)
            else:
                hit, upd = self._sparse(xs, pos, count, last, hist_v, hist_w, means[pos:end])
                done = end if hit < 0 else pos + hit + 1
                scores[pos:done] = ratio(x[pos:done], means[pos:done])
            stop = xs.size if hit < 0 else hit
            if upd is None:  # every step before the spike is accepted
                added, taken_at = stop, np.arange(max(0, stop - window), stop)
            else:
                accepted = np.flatnonzero(upd[:stop])
                added, taken_at = accepted.size, accepted[-window:]
            if added:
                with np.errstate(over="ignore"):  # beyond float32: inf, as torch casts it
                    taken = xs[taken_at].astype(np.float32)
                nan = np.isnan(taken)
                hist_v = np.concatenate((hist_v, np.where(nan, np.float32(0), taken)))[-window:]
                hist_w = np.concatenate((hist_w, np.where(nan, 0, 1).astype(np.float32)))
                hist_w = hist_w[-window:]
                count += added
                last = xs[taken_at[-1] : taken_at[-1] + 1].copy()
            if hit < 0:
                pos, chunk = end, min(block, 2 * chunk)
                continue
            # A spike: the state is frozen until a loss is not a spike.
            frozen = ring_means(hist_v, hist_w, np.array([count]), count - hist_v.size, window)
            start = pos + stop
            tail = x[start : min(n, start + _FIRST_CHUNK)]
            flags = self._decide(tail, np.repeat(last, tail.size), np.repeat(frozen, tail.size))
            calm = np.flatnonzero(~flags)
            pos = start + (tail.size if calm.size == 0 else int(calm[0]))
            spikes[start:pos] = True
            means[start:pos] = frozen[0]
            scores[start:pos] = ratio(x[start:pos], means[start:pos])
            chunk = min(block, _FIRST_CHUNK)
        return means, scores, spikes

    def _sparse(
        self,
        xs: np.ndarray,
        pos: int,
        count: int,
        last: np.ndarray,
        hist_v: np.ndarray,
        hist_w: np.ndarray,
        means: np.ndarray,
    ) -> tuple[int, np.ndarray | None]:
        """Any chunk (from run index ``pos``): its means up to the first spike, where a step
        could be a spike (gathered slot by slot; NaN elsewhere), that spike (-1: none) and
        the accepted steps (``None``: every step before the spike)."""
        size = xs.size
        upd: np.ndarray | None = None
        if self.params["finite_only"]:  # every non-spike is accepted
            before = np.arange(size)
            lasts = np.concatenate((last, xs[:-1]))
        else:
            upd = np.isfinite(xs)
            before = np.concatenate(([0], np.cumsum(upd)[:-1]))
            latest = np.maximum.accumulate(np.where(upd, np.arange(size), -1))
            prev = np.concatenate(([-1], latest[:-1]))
            lasts = np.where(prev >= 0, xs[np.maximum(prev, 0)], last[0])
        with np.errstate(invalid="ignore", over="ignore"):
            diff = xs - lasts
            maybe = ~(diff <= 0) if self.params["mode"] == "min" else ~(diff >= 0)
            if self.params["finite_only"] and not _finite(xs):
                maybe |= ~np.isfinite(xs)
        maybe[: max(0, int(self.params["warmup"]) - pos)] = False
        where = np.flatnonzero(maybe)
        means[:] = np.nan
        if not where.size:
            return -1, upd
        with np.errstate(over="ignore"):
            new_v = (xs if upd is None else xs[upd]).astype(np.float32)
        nan = np.isnan(new_v)
        new_w = np.where(nan, np.float32(0), np.float32(1))
        new_v = np.where(nan, np.float32(0), new_v)
        mean = ring_means(
            np.concatenate((hist_v, new_v)),
            np.concatenate((hist_w, new_w)),
            count + before[where],
            count - hist_v.size,
            int(self.params["window"]),
        )
        flagged = np.flatnonzero(self._decide(xs[where], lasts[where], mean))
        keep = where.size if not flagged.size else int(flagged[0]) + 1
        means[where[:keep]] = mean[:keep]
        return (int(where[flagged[0]]) if flagged.size else -1), upd

    def _dense(
        self,
        xs: np.ndarray,
        pos: int,
        count: int,
        last: np.ndarray,
        hist_v: np.ndarray,
        work: _Work,
        means: np.ndarray,
        scores: np.ndarray,
    ) -> int:
        """A chunk of finite losses (from run index ``pos``) after ``count`` updates of weight
        1 (the last ones in ``hist_v``): every non-spike is accepted, so the mean before step
        ``k`` is the slot-order total of ``count + k`` updates (:func:`slot_totals`) over
        ``min(count + k, window)``. Writes the chunk's means and scores (NaN where a step is
        no worse than the last accepted loss, or in the warm-up; those after the first spike
        are overwritten later) and returns that spike (-1: none)."""
        size = xs.size
        p = self.params
        window = int(p["window"])
        gap, limit, single = work.gap[:size], work.limit[:size], work.single[:size]
        maybe, far, near = work.maybe[:size], work.far[:size], work.near[:size]
        out, score = means[pos : pos + size], scores[pos : pos + size]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # not better than the last loss: loss - last > 0 (< 0 in mode max), that is
            # loss > last for these finite losses (a difference of two floats is 0 only
            # when they are equal); the last accepted loss is not NaN (a NaN weighs 0)
            worse = np.greater if p["mode"] == "min" else np.less
            maybe[0] = worse(xs[0] - last[0], 0)
            worse(xs[1:], xs[:-1], out=maybe[1:])
            maybe[: max(0, int(p["warmup"]) - pos)] = False
            mean = slot_totals(hist_v, xs, count, size, window, work.slots)
            if count >= window:
                np.divide(mean, np.float32(window), out=mean)
            else:
                weight = np.minimum(np.arange(count, count + size), window)
                np.divide(mean, weight.astype(np.float32), out=mean)
            np.copyto(single, maybe)
            np.divide(single, single, out=single)  # 1.0, or NaN where no mean is wanted
            np.multiply(mean, single, out=mean)
            np.copyto(out, mean)
            np.subtract(xs, out if xs.dtype == np.float64 else mean, out=gap)
            np.abs(gap, out=gap)
            np.copyto(far, maybe)
            if p["atol"] is not None:
                np.greater_equal(gap, xs.dtype.type(abs(float(p["atol"]))), out=near)
                np.logical_and(far, near, out=far)
            if p["rtol"] is not None:
                np.multiply(mean, np.float32(p["rtol"]), out=single)
                np.abs(single, out=single)
                np.copyto(limit, single)
                np.greater_equal(gap, limit, out=near)
                np.logical_and(far, near, out=far)
            np.divide(xs, out, out=score)
        return int(np.argmax(far)) if far.any() else -1
