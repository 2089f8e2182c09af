"""The OLMo-core presets: ``olmo-skip-step`` and ``olmo-stability`` (ai2-olmo-core 3.0.0).

``olmo-skip-step`` follows ``SkipStepOptimizer.get_step_factor``
(``src/olmo_core/optim/skip_step_optimizer.py``), on the loss only. Every loss enters the
history (the last ``rolling_interval_length + 1`` losses, the current one included). A step
is skipped once ``max(2, rolling_interval_length // 2)`` losses have been seen, when
``(loss - mean) <= sigma_factor * std`` does NOT hold, with ``std, mean =
torch.std_mean(previous losses)`` (unbiased): one-sided, and any NaN/inf in the window (or a
single earlier loss, whose unbiased std is NaN) means a skip. torch accumulates in float64
and rounds the mean and std to the tensor's dtype; a constant window has mean = the value
and std = 0 exactly (Welford).

``olmo-stability`` follows ``StabilityMonitorCallback._is_spike``
(``src/olmo_core/train/callbacks/stability_monitor.py``): only once ``window_size`` earlier
values are held, a value is a spike when ``std >= 1e-10`` and
``value > mean + threshold_std * std``, with ``mean = sum(window) / n`` and the population
variance ``sum((x - mean) ** 2) / n`` in Python floats (``sum`` is sequential before Python
3.12 and compensated from 3.12, as here). Every value, spikes and NaN included, enters the
window.
"""

from __future__ import annotations

import sys
from typing import ClassVar

import numpy as np

from pytest_synthloss.checks.stack_base import StackPreset, finite, integer
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["OlmoSkipStep", "OlmoStability"]

#: Windows computed per pass (bounds memory: rows x window cells).
_CELLS = 1 << 22


def _windows(x: np.ndarray, width: int) -> np.ndarray:
    """Row ``i``: the ``width`` values before ``x[i]``, NaN-padded at the start."""
    padded = np.concatenate([np.full(width, np.nan), x])
    return np.lib.stride_tricks.sliding_window_view(padded[:-1], width)


_EPS = float(np.finfo(np.float64).eps)
#: Windows per pass of the fast path (its error bound grows with the pass length).
ROWS = 1 << 15


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
    shift = float(clean.mean())
    centred = clean - shift
    c1 = np.concatenate(([0.0], np.cumsum(centred)))
    c2 = np.concatenate(([0.0], np.cumsum(centred * centred)))
    s1 = c1[size : size + width] - c1[:width]
    s2 = c2[size : size + width] - c2[:width]
    top = float(np.abs(centred).max())
    bound = 8 * _EPS * (seg.size + size)
    mean = np.where(flat, seg[:width], shift + s1 / size)
    m2 = np.where(flat, 0.0, np.maximum(s2 - s1 * s1 / size, 0.0))
    return {
        "mean": mean,
        "m2": m2,
        "m2_err": np.full(width, bound * top * top),
        "mean_err": np.full(width, bound * top / size + 4 * _EPS * abs(shift)),
        "flat": flat,
        "bad": bad,
    }


class OlmoSkipStep(StackPreset):
    """OLMo-core ``SkipStepOptimizer(rolling_interval_length, sigma_factor)``, loss only."""

    name: ClassVar[str] = "olmo-skip-step"
    source: ClassVar[str] = "src/olmo_core/optim/skip_step_optimizer.py"
    version: ClassVar[str] = "ai2-olmo-core 3.0.0"
    score_label: ClassVar[str] = "z"
    PARAMS: ClassVar[dict[str, object]] = {"rolling_interval_length": 128, "sigma_factor": 6}

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """A positive integer window; a finite sigma factor."""
        params["rolling_interval_length"] = integer(
            self.name, "rolling_interval_length", params["rolling_interval_length"], low=1
        )
        factor = params["sigma_factor"]
        params["sigma_factor"] = finite(self.name, "sigma_factor", factor)
        if isinstance(factor, int):
            params["sigma_factor"] = factor
        return params

    def format_score(self, value: float) -> str:
        """E.g. ``z=7.12``."""
        return f"z={value:.3g}"

    def settle(self, start: int) -> int:
        """A step's outcome depends only on the losses in its window and the loss itself."""
        return int(self.params["rolling_interval_length"])

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window mean, ``(loss - mean) / std`` and the skipped steps.

        Windows still filling up, and windows whose fast statistics are too close to call
        (see :func:`full_windows`), get the two-pass float64 mean and std; flat windows are
        exact (mean = the value, std = 0, as Welford gives).
        """
        x = losses
        n = x.size
        size = int(self.params["rolling_interval_length"])
        first = max(2, size // 2) - 1  # index of the first step that is checked
        mean = np.full(n, np.nan)
        std = np.full(n, np.nan)
        wide = x.astype(np.float64, copy=False)
        factor = self.params["sigma_factor"]
        kind = x.dtype.type
        redo = np.arange(first, min(size, n))
        if n > size and size >= 2:
            parts = [redo]
            for begin in range(0, n - size, ROWS):
                end = min(n - size, begin + ROWS)
                m, sd, unsure = self._fast(wide, size, begin, end, kind)
                mean[size + begin : size + end] = m
                std[size + begin : size + end] = sd
                parts.append(size + begin + np.flatnonzero(unsure))
            redo = np.concatenate(parts)
        if redo.size:
            mean[redo], std[redo] = self._two_pass(wide, size, redo)
        mean_t = mean.astype(x.dtype, copy=False)
        std_t = std.astype(x.dtype, copy=False)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            keep = (x - mean_t) <= kind(factor) * std_t
            skip = ~keep
            skip[:first] = False
            z = (wide - mean) / std
        return mean, z, skip

    def _fast(
        self, wide: np.ndarray, size: int, begin: int, end: int, kind: type
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, std and "too close to call" of the full windows ``begin..end-1``."""
        factor = abs(float(self.params["sigma_factor"]))
        stats = full_windows(wide, size, begin, end)
        value = wide[size + begin : size + end]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            m = stats["mean"]
            sd = np.sqrt(stats["m2"] / (size - 1))
            sd_err = stats["m2_err"] / (size - 1) / np.maximum(sd, 1e-300)
            m_err = stats["mean_err"]
            gap = (value - m) - factor * sd
            unsure = (stats["m2"] <= 1e6 * stats["m2_err"]) | (
                np.abs(gap)
                <= 2 * (m_err + factor * sd_err) + 1e-12 * (np.abs(value) + np.abs(m) + factor * sd)
            )
            if kind is np.float32:  # the rounding to float32 must be certain
                for stat, err in ((m, m_err), (sd, sd_err)):
                    low, high = (stat - err).astype(np.float32), (stat + err).astype(np.float32)
                    unsure |= low != high
            unsure &= ~stats["flat"] & ~stats["bad"]
            m = np.where(stats["bad"], np.nan, m)
            sd = np.where(stats["bad"], np.nan, sd)
        return m, sd, unsure

    @staticmethod
    def _two_pass(wide: np.ndarray, size: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased std of the (up to) ``size`` losses before each of ``index``."""
        rows = _windows(wide, size)
        mean = np.empty(index.size)
        std = np.empty(index.size)
        step = max(1, _CELLS // size)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for begin in range(0, index.size, step):
                at = index[begin : begin + step]
                block = rows[at]
                count = np.minimum(at, size)
                held = np.arange(size) >= size - count[:, None]
                bad = ~np.isfinite(np.where(held, block, 0.0)).all(axis=1)
                m = np.where(held, block, 0.0).sum(axis=1) / count
                dev = np.where(held, block - m[:, None], 0.0)
                var = (dev * dev).sum(axis=1) / (count - 1)
                low = np.where(held, block, np.inf).min(axis=1)
                high = np.where(held, block, -np.inf).max(axis=1)
                flat = (low == high) & (count >= 2)
                m = np.where(flat, low, m)
                var = np.where(flat, 0.0, var)
                m[bad] = np.nan
                var[bad] = np.nan
                mean[begin : begin + at.size] = m
                std[begin : begin + at.size] = np.sqrt(var)
        return mean, std


def _python_sum(rows: np.ndarray) -> np.ndarray:
    """Python's ``sum()`` of each row of floats (compensated from Python 3.12)."""
    total = np.zeros(rows.shape[0])
    if sys.version_info < (3, 12):
        for column in range(rows.shape[1]):
            total = total + rows[:, column]
        return total
    carry = np.zeros(rows.shape[0])
    for column in range(rows.shape[1]):
        value = rows[:, column]
        new = total + value
        carry += np.where(
            np.abs(total) >= np.abs(value), (total - new) + value, (value - new) + total
        )
        total = new
    return np.where(np.isfinite(carry), total + carry, total)


class OlmoStability(StackPreset):
    """OLMo-core ``StabilityMonitorCallback(window_size, rolling_window, threshold_std)``."""

    name: ClassVar[str] = "olmo-stability"
    source: ClassVar[str] = "src/olmo_core/train/callbacks/stability_monitor.py"
    version: ClassVar[str] = "ai2-olmo-core 3.0.0"
    score_label: ClassVar[str] = "z"
    PARAMS: ClassVar[dict[str, object]] = {
        "window_size": 128,
        "rolling_window": 10000,
        "threshold_std": 6.0,
        "enabled": True,
    }

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """Positive integer windows, a finite threshold, ``enabled`` a bool."""
        for key in ("window_size", "rolling_window"):
            params[key] = integer(self.name, key, params[key], low=1)
        params["threshold_std"] = finite(self.name, "threshold_std", params["threshold_std"])
        if not isinstance(params["enabled"], bool):
            raise SynthLossError(
                f"{self.name}: enabled must be True or False, got {params['enabled']!r}"
            )
        return params

    def format_score(self, value: float) -> str:
        """E.g. ``z=7.12``."""
        return f"z={value:.3g}"

    def settle(self, start: int) -> int:
        """A step's outcome depends only on the values in its window and the value itself."""
        return int(self.params["window_size"])

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window mean, ``(value - mean) / std`` and the spikes."""
        x = losses.astype(np.float64, copy=False)
        n = x.size
        size = int(self.params["window_size"])
        limit = float(self.params["threshold_std"])
        mean = np.full(n, np.nan)
        z = np.full(n, np.nan)
        spike = np.zeros(n, bool)
        if not self.params["enabled"] or n <= size:
            return mean, z, spike
        for begin in range(0, n - size, ROWS):
            end = min(n - size, begin + ROWS)
            m, score, hit = self._rows(x, size, limit, begin, end)
            mean[size + begin : size + end] = m
            z[size + begin : size + end] = score
            spike[size + begin : size + end] = hit
        return mean, z, spike

    def _rows(
        self, x: np.ndarray, size: int, limit: float, begin: int, end: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, z and spike for the windows ``begin..end-1`` (the values after them)."""
        stats = full_windows(x, size, begin, end)
        value = x[size + begin : size + end]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            m, std = stats["mean"], np.sqrt(stats["m2"] / size)
            std_err = stats["m2_err"] / size / np.maximum(std, 1e-300)
            line = m + limit * std
            line_err = stats["mean_err"] + abs(limit) * std_err
            unsure = (
                ~stats["bad"]
                & ~stats["flat"]
                & (
                    ~np.isfinite(line)
                    | (stats["m2"] <= 1e6 * stats["m2_err"])
                    | (
                        np.abs(value - line)
                        <= 2 * line_err + 1e-12 * (np.abs(value) + np.abs(line))
                    )
                    | (np.abs(std - 1e-10) <= 2 * std_err + 1e-20)
                )
            )
            hit = ~stats["bad"] & ~stats["flat"] & (std >= 1e-10) & (value > line)
            z_all = (value - m) / std
        redo = np.flatnonzero(unsure)
        exact_m, exact_sd = self._exact(x, size, begin + redo)
        flat = np.flatnonzero(stats["flat"] & ~stats["bad"])
        if flat.size:  # a constant window's statistics depend on its value alone
            held = x[begin + flat]
            starts = np.flatnonzero(np.concatenate(([True], held[1:] != held[:-1])))
            which = np.cumsum(np.concatenate(([True], held[1:] != held[:-1]))) - 1
            levels = held[starts]
            level_m, level_sd = _population(np.repeat(levels[:, None], size, axis=1))
            redo = np.concatenate([redo, flat])
            exact_m = np.concatenate([exact_m, level_m[which]])
            exact_sd = np.concatenate([exact_sd, level_sd[which]])
        if redo.size:
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                val = value[redo]
                hit[redo] = ~(exact_sd < 1e-10) & (val > exact_m + limit * exact_sd)
                m = m.copy()
                m[redo] = exact_m
                z_all[redo] = (val - exact_m) / exact_sd
        return np.where(stats["bad"], np.nan, m), z_all, hit & ~stats["bad"]

    @staticmethod
    def _exact(x: np.ndarray, size: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Python's own mean and population std of the windows starting at ``rows``."""
        windows = np.lib.stride_tricks.sliding_window_view(x[:-1], size)
        mean = np.empty(rows.size)
        std = np.empty(rows.size)
        step = max(1, _CELLS // size)
        for begin in range(0, rows.size, step):
            m, sd = _population(windows[rows[begin : begin + step]])
            mean[begin : begin + m.size] = m
            std[begin : begin + m.size] = sd
        return mean, std


def _population(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum(w) / n`` and ``sqrt(sum((x - mean) ** 2) / n)`` of each row, as Python does."""
    size = block.shape[1]
    with np.errstate(invalid="ignore", over="ignore"):
        mean = _python_sum(block) / size
        return mean, np.sqrt(_python_sum((block - mean[:, None]) ** 2) / size)
