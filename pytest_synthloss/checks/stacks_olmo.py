"""The OLMo-core ``olmo-skip-step`` preset (ai2-olmo-core 3.0.0).

``olmo-skip-step`` follows ``SkipStepOptimizer.get_step_factor``
(``src/olmo_core/optim/skip_step_optimizer.py``), on the loss only. Every loss enters the
history (the last ``rolling_interval_length + 1`` losses, the current one included). A step
is skipped once ``max(2, rolling_interval_length // 2)`` losses have been seen, when
``(loss - mean) <= sigma_factor * std`` does NOT hold, with ``std, mean =
torch.std_mean(previous losses)`` (unbiased): one-sided, and any NaN/inf in the window (or a
single earlier loss, whose unbiased std is NaN) means a skip. torch accumulates in float64
and rounds the mean and std to the tensor's dtype; a constant window has mean = the value
and std = 0 exactly (Welford).

``olmo-stability`` is in :mod:`pytest_synthloss.checks.stacks_olmo_stability`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pytest_synthloss.checks.stack_base import StackPreset, finite, integer
from pytest_synthloss.checks.window_sums import (
    CELLS,
    FastWindows,
    PassSums,
    each_pass,
    full_windows,
    near_line,
)

__all__ = ["OlmoSkipStep"]


def _before(x: np.ndarray, size: int, at: np.ndarray) -> np.ndarray:
    """Row ``k``: the ``size`` values before ``x[at[k]]``, NaN-padded at the start."""
    head = np.concatenate([np.full(size, np.nan), x[:size]])
    early = at < size
    rows = np.empty((at.size, size))
    rows[early] = np.lib.stride_tricks.sliding_window_view(head, size)[at[early]]
    if not early.all():
        rows[~early] = np.lib.stride_tricks.sliding_window_view(x, size)[at[~early] - size]
    return rows


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
        n = losses.size
        size = int(self.params["rolling_interval_length"])
        first = max(2, size // 2) - 1  # index of the first step that is checked
        out = (np.empty(n), np.empty(n), np.empty(n, bool))  # mean, z, skip
        wide = losses.astype(np.float64, copy=False)
        blocks = n > size and size >= 2
        head = np.arange(size if blocks else n)
        unknown = np.full(head.size, np.nan)
        self._settle(losses, wide, out, head, unknown, unknown)
        redo = [np.arange(first, min(size, n))]
        if blocks:

            def visit(sums: PassSums, work: np.ndarray, begin: int, end: int) -> np.ndarray:
                rows = slice(size + begin, size + end)
                unsure = self._block(losses, wide, sums, work, begin, end, [a[rows] for a in out])
                return size + begin + unsure

            redo.extend(each_pass(n - size, size, True, 3, visit))
        index = np.concatenate(redo)
        if index.size:
            self._settle(losses, wide, out, index, *self._two_pass(wide, size, index))
        out[2][:first] = False
        return out

    def _settle(
        self,
        x: np.ndarray,
        wide: np.ndarray,
        out: tuple[np.ndarray, np.ndarray, np.ndarray],
        index: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
    ) -> None:
        """Steps ``index`` get the window mean ``mean`` and std ``std``: their mean, z and skip."""
        out[0][index] = mean
        out[1][index], out[2][index] = self._outcome(x[index], wide[index], mean, std)

    def _outcome(
        self, x: np.ndarray, wide: np.ndarray, mean: np.ndarray, std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """z and the skip decision (in the tensor's dtype) given the window's mean and std."""
        kind = x.dtype.type
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            mean_t = mean.astype(x.dtype, copy=False)
            std_t = std.astype(x.dtype, copy=False)
            keep = (x - mean_t) <= kind(self.params["sigma_factor"]) * std_t
            return (wide - mean) / std, ~keep

    def _block(
        self,
        x: np.ndarray,
        wide: np.ndarray,
        sums: PassSums,
        work: np.ndarray,
        begin: int,
        end: int,
        out: list[np.ndarray],
    ) -> np.ndarray:
        """Mean, z and skip of the full windows ``begin..end-1`` into ``out``; returns the
        windows too close to call (recomputed by the caller)."""
        size = sums.size
        width = end - begin
        mean, z, skip = out
        fast = sums.common(wide, begin, end, mean) if x.dtype == np.float64 else None
        if fast is None:
            m, sd, unsure = self._fast(wide, size, begin, end, x.dtype.type)
            mean[:] = m
            rows = slice(size + begin, size + end)
            z[:], skip[:] = self._outcome(x[rows], wide[rows], m, sd)
            return np.flatnonzero(unsure)
        assert fast.m2 is not None
        value = wide[size + begin : size + end]
        sigma = float(self.params["sigma_factor"])
        factor = abs(sigma)
        sd, diff, line = (row[:width] for row in work)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            np.divide(fast.m2, size - 1, out=sd)
            np.sqrt(sd, out=sd)
            np.subtract(value, mean, out=diff)
            np.divide(diff, sd, out=z)
            np.multiply(sd, sigma, out=line)
            np.less_equal(diff, line, out=skip)
            np.logical_not(skip, out=skip)
            gap = np.subtract(diff, line, out=line)
            return _unsure(fast, value, sd, gap, size - 1, factor)

    def _fast(
        self, wide: np.ndarray, size: int, begin: int, end: int, kind: type
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, std and "too close to call" of the full windows ``begin..end-1``."""
        sigma = float(self.params["sigma_factor"])
        factor = abs(sigma)
        stats = full_windows(wide, size, begin, end)
        value = wide[size + begin : size + end]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            m = stats["mean"]
            sd = np.sqrt(stats["m2"] / (size - 1))
            sd_err = stats["m2_err"] / (size - 1) / np.maximum(sd, 1e-300)
            m_err = stats["mean_err"]
            gap = (value - m) - sigma * sd  # the distance to the decision line
            # m2 inf/NaN: the squares overflowed, the two-pass std is inf or NaN
            unsure = (
                ~(stats["m2"] > 1e6 * stats["m2_err"])
                | ~np.isfinite(stats["m2"])
                | (
                    np.abs(gap)
                    <= 2 * (m_err + factor * sd_err)
                    + 1e-12 * (np.abs(value) + np.abs(m) + factor * sd)
                )
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
        mean = np.empty(index.size)
        std = np.empty(index.size)
        step = max(1, CELLS // size)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for begin in range(0, index.size, step):
                at = index[begin : begin + step]
                block = _before(wide, size, at)
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


def _unsure(
    fast: FastWindows,
    value: np.ndarray,
    sd: np.ndarray,
    gap: np.ndarray,
    dof: int,
    factor: float,
) -> np.ndarray:
    """The windows of a common pass that :meth:`OlmoSkipStep._fast` finds too close to call
    (``gap``: ``value - mean - sigma_factor * sd``), its test worked out only where a bound
    over the whole pass cannot rule it out (rounding is monotonic: the test's right-hand side
    with the pass's extremes is at least that of every window)."""
    assert fast.m2 is not None
    m2, mean = fast.m2, fast.mean
    found = []
    limit = 1e6 * fast.m2_err
    if not (limit < fast.low_m2 <= fast.high_m2 < np.inf):  # NaN: look at every window
        found.append(np.flatnonzero(~(m2 > limit) | ~np.isfinite(m2)))
    scale = fast.m2_err / dof
    with np.errstate(invalid="ignore"):
        low_sd, high_sd = (float(np.sqrt(m / dof)) for m in (fast.low_m2, fast.high_m2))
    top_mean = max(abs(float(mean.max())), abs(float(mean.min())))
    widest = 2 * (fast.mean_err + factor * (scale / max(low_sd, 1e-300))) + 1e-12 * (
        fast.top_value + top_mean + factor * high_sd
    )
    widest *= 1 + 1e-9
    near = near_line(gap, widest)
    if near.size:
        sd_near = sd[near]
        sd_err = scale / np.maximum(sd_near, 1e-300)
        rhs = 2 * (fast.mean_err + factor * sd_err) + 1e-12 * (
            np.abs(value[near]) + np.abs(mean[near]) + factor * sd_near
        )
        found.append(near[gap[near] <= rhs])
    return np.unique(np.concatenate(found)) if found else np.empty(0, np.intp)
