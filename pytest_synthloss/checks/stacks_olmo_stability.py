"""The OLMo-core ``olmo-stability`` preset (ai2-olmo-core 3.0.0).

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
from pytest_synthloss.checks.window_sums import (
    CELLS,
    FastWindows,
    PassSums,
    divide_by,
    each_pass,
    full_windows,
    near_line,
)
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["OlmoStability"]


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
        if not self.params["enabled"] or n <= size:
            return np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
        out = (np.empty(n), np.empty(n), np.empty(n, bool))  # mean, z, spike
        out[0][:size] = out[1][:size] = np.nan
        out[2][:size] = False

        def visit(sums: PassSums, work: np.ndarray, begin: int, end: int) -> None:
            rows = slice(size + begin, size + end)
            self._rows(x, limit, sums, work, begin, end, [a[rows] for a in out])

        each_pass(n - size, size, True, 3, visit)
        return out

    def _rows(
        self,
        x: np.ndarray,
        limit: float,
        sums: PassSums,
        work: np.ndarray,
        begin: int,
        end: int,
        out: list[np.ndarray],
    ) -> None:
        """Mean, z and spike for the windows ``begin..end-1`` (the values after them)."""
        size = sums.size
        mean, z, spike = out
        fast = sums.common(x, begin, end, mean)
        if fast is None:
            mean[:], z[:], spike[:] = self._general(x, size, limit, begin, end)
            return
        assert fast.m2 is not None
        value = x[size + begin : size + end]
        std, line, gap = (row[: end - begin] for row in work)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            divide_by(fast.m2, size, std)
            np.sqrt(std, out=std)
            np.multiply(std, limit, out=line)
            np.add(line, mean, out=line)
            np.greater(value, line, out=spike)
            if not np.sqrt(fast.low_m2 / size) >= 1e-10:
                spike &= std >= 1e-10
            np.subtract(value, mean, out=gap)
            np.divide(gap, std, out=z)
            np.subtract(value, line, out=gap)
        redo = _unsure(fast, value, std, line, gap, limit, size)
        if redo.size:
            _patch(value, redo, *self._exact(x, size, begin + redo), limit, out)

    def _general(
        self, x: np.ndarray, size: int, limit: float, begin: int, end: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_rows` for any pass (NaN/inf, constant windows)."""
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
        m = m.copy()
        _patch(value, redo, exact_m, exact_sd, limit, [m, z_all, hit])
        return np.where(stats["bad"], np.nan, m), z_all, hit & ~stats["bad"]

    @staticmethod
    def _exact(x: np.ndarray, size: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Python's own mean and population std of the windows starting at ``rows``."""
        windows = np.lib.stride_tricks.sliding_window_view(x[:-1], size)
        mean = np.empty(rows.size)
        std = np.empty(rows.size)
        step = max(1, CELLS // size)
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


def _patch(
    value: np.ndarray,
    redo: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    limit: float,
    out: list[np.ndarray],
) -> None:
    """Windows ``redo`` of a pass get their exact ``mean`` and ``std``: mean, z and spike."""
    if not redo.size:
        return
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        val = value[redo]
        out[0][redo] = mean
        out[1][redo] = (val - mean) / std
        out[2][redo] = ~(std < 1e-10) & (val > mean + limit * std)


def _unsure(
    fast: FastWindows,
    value: np.ndarray,
    std: np.ndarray,
    line: np.ndarray,
    gap: np.ndarray,
    limit: float,
    size: int,
) -> np.ndarray:
    """The windows of a common pass that :meth:`OlmoStability._general` finds too close to
    call (``line``: ``mean + limit * std``, ``gap``: ``value - line``), each test worked out
    only where a bound over the whole pass cannot rule it out (rounding is monotonic: a
    test's right-hand side with the pass's extremes is at least that of every window)."""
    assert fast.m2 is not None
    found = []
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        high, low = float(line.max()), float(line.min())
        if not (np.isfinite(high) and np.isfinite(low)):
            found.append(np.flatnonzero(~np.isfinite(line)))
        if not fast.low_m2 > 1e6 * fast.m2_err:
            found.append(np.flatnonzero(fast.m2 <= 1e6 * fast.m2_err))
        scale = fast.m2_err / size
        low_std = float(np.sqrt(fast.low_m2 / size))
        std_err = scale / max(low_std, 1e-300)  # NaN when low_std is: no shortcut
        if not low_std - 1e-10 > (2 * std_err + 1e-20) * (1 + 1e-9):
            found.append(
                np.flatnonzero(np.abs(std - 1e-10) <= 2 * (scale / np.maximum(std, 1e-300)) + 1e-20)
            )
        widest = 2 * (fast.mean_err + abs(limit) * std_err) + 1e-12 * (
            fast.top_value + max(abs(high), abs(low))
        )
        near = near_line(gap, widest * (1 + 1e-9))
        if near.size:
            line_err = fast.mean_err + abs(limit) * (scale / np.maximum(std[near], 1e-300))
            edge = 2 * line_err + 1e-12 * (np.abs(value[near]) + np.abs(line[near]))
            found.append(near[gap[near] <= edge])
    return np.unique(np.concatenate(found)) if found else np.empty(0, np.intp)
