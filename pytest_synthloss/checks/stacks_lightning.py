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
after it are compared with the same mean until one is not a spike.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pytest_synthloss.checks.stack_base import StackPreset, integer, number, ratio
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["LightningSpikeDetection"]

_FIRST_CHUNK = 1 << 12
_MAX_CHUNK = 1 << 20
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
        p = self.params
        atol, rtol = p["atol"], p["rtol"]
        wide = x.dtype == np.float64
        with np.errstate(invalid="ignore", over="ignore"):
            diff = x - last
            better = diff <= 0 if p["mode"] == "min" else diff >= 0
            gap = np.abs(x - mean.astype(np.float64)) if wide else np.abs(x - mean)
            ok = np.ones(x.size, bool)
            if atol is not None:
                ok &= gap >= x.dtype.type(abs(float(atol)))
            if rtol is not None:
                limit = np.abs(np.float32(rtol) * mean)
                ok &= gap >= (limit.astype(np.float64) if wide else limit)
            spike: np.ndarray = ~better & ok
        if p["finite_only"]:
            spike |= ~np.isfinite(x)
        return spike

    def settle(self, start: int) -> int:
        """In a constant tail its first loss is a spike (the state freezes: so is every
        later one) or is accepted (every later one is no worse: never a spike, no mean)."""
        return 2

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The running mean before each step, ``loss / mean``, and the spikes."""
        x = losses
        n = x.size
        window = int(self.params["window"])
        warmup = int(self.params["warmup"])
        finite_only = bool(self.params["finite_only"])
        spikes = np.zeros(n, bool)
        means = np.full(n, np.nan)
        hist_v = np.zeros(0, np.float32)  # the last `window` updates: value, weight
        hist_w = np.zeros(0, np.float32)
        count = 0
        last = np.zeros(1, x.dtype)
        pos, chunk = 0, _FIRST_CHUNK
        while pos < n:
            end = min(n, pos + chunk)
            xs = x[pos:end]
            size = end - pos
            upd: np.ndarray | None = None
            if finite_only:  # every non-spike is accepted
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
                if finite_only and not np.isfinite(np.add.reduce(xs, dtype=np.float64)):
                    maybe |= ~np.isfinite(xs)
            if warmup - pos > 0:
                maybe[: warmup - pos] = False
            where = np.flatnonzero(maybe)
            hit = -1
            if where.size:
                new_v = (xs if upd is None else xs[upd]).astype(np.float32)
                nan = np.isnan(new_v)
                new_w = np.where(nan, np.float32(0), np.float32(1))
                new_v = np.where(nan, np.float32(0), new_v)
                mean = ring_means(
                    np.concatenate((hist_v, new_v)),
                    np.concatenate((hist_w, new_w)),
                    count + before[where],
                    count - hist_v.size,
                    window,
                )
                means[pos + where] = mean
                flagged = np.flatnonzero(self._decide(xs[where], lasts[where], mean))
                if flagged.size:
                    hit = int(where[flagged[0]])
            stop = size if hit < 0 else hit
            accepted = np.arange(stop) if upd is None else np.flatnonzero(upd[:stop])
            if accepted.size:
                taken = xs[accepted[-window:]].astype(np.float32)
                nan = np.isnan(taken)
                hist_v = np.concatenate((hist_v, np.where(nan, np.float32(0), taken)))[-window:]
                hist_w = np.concatenate((hist_w, np.where(nan, 0, 1).astype(np.float32)))
                hist_w = hist_w[-window:]
                count += accepted.size
                last = xs[accepted[-1] : accepted[-1] + 1].copy()
            if hit < 0:
                pos, chunk = end, min(_MAX_CHUNK, chunk * 2)
                continue
            # A spike: the state is frozen until a loss is not a spike.
            chunk = _FIRST_CHUNK
            frozen = ring_means(hist_v, hist_w, np.array([count]), count - hist_v.size, window)
            start = pos + stop
            tail = x[start : min(n, start + chunk)]
            flags = self._decide(tail, np.repeat(last, tail.size), np.repeat(frozen, tail.size))
            calm = np.flatnonzero(~flags)
            run_end = start + (tail.size if calm.size == 0 else int(calm[0]))
            spikes[start:run_end] = True
            means[start:run_end] = frozen[0]
            pos = run_end
        return means, ratio(x, means), spikes
