"""The ``llm-foundry`` preset.

``llm-foundry`` follows ``KillLossSpike.batch_end``
(``llmfoundry/callbacks/kill_loss_spike_callback.py``, commit 8c8dd48) in a run without
``max_duration`` (the window is not widened). From batch ``window_size + 1`` on, a loss is an
outlier when ``loss >= mean(last window_size losses) * outlier_multiplier``; the step is a
spike when more than ``patience`` consecutive checked steps are outliers, and otherwise, from
batch ``2 * window_size`` on, a "high loss" step when at least half the window is above
``loss_cap``. Both are flagged. Every loss enters the window. As upstream: a ``window_size``
other than 100 leaves the window unbounded, so only batch ``window_size + 1`` is checked, and
the loss cap is never taken from the first window (the check that would set it runs at batch
``window_size``, before the window is full).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from pytest_synthloss.checks.stack_base import StackPreset, integer, number, ratio
from pytest_synthloss.checks.window_sums import PassSums, each_pass, full_windows, near_line
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["LLMFoundryKillLossSpike"]


class LLMFoundryKillLossSpike(StackPreset):
    """llm-foundry ``KillLossSpike(log_only, patience, outlier_multiplier, window_size,
    loss_cap)``."""

    name: ClassVar[str] = "llm-foundry"
    source: ClassVar[str] = "llmfoundry/callbacks/kill_loss_spike_callback.py (KillLossSpike)"
    version: ClassVar[str] = "llm-foundry 0.22.0 (8c8dd48; not installable: its test vectors)"
    PARAMS: ClassVar[dict[str, object]] = {
        "log_only": True,
        "patience": 4,
        "outlier_multiplier": 2,
        "window_size": 100,
        "loss_cap": 10,
    }

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """Integers for patience and window, numbers for the multiplier and cap."""
        if not isinstance(params["log_only"], bool):
            raise SynthLossError(
                f"{self.name}: log_only must be True or False, got {params['log_only']!r}"
            )
        params["patience"] = integer(self.name, "patience", params["patience"], low=0)
        params["window_size"] = integer(self.name, "window_size", params["window_size"], low=1)
        for key in ("outlier_multiplier", "loss_cap"):
            number(self.name, key, params[key])
        return params

    def settle(self, start: int) -> int | None:
        """From ``start + window_size`` on the window holds one value (outlier or not, high
        loss or not, for good); ``patience`` steps later the counter no longer changes the
        decision; the high-loss check starts at batch ``2 * window_size``. With a window
        other than 100 only one batch is checked (no bound needed: the run is short)."""
        size = int(self.params["window_size"])
        if size != 100:
            return None
        return max(size + int(self.params["patience"]) + 1, 2 * size - 1 - start)

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window mean, ``loss / mean`` and the flagged (spike or high-loss) steps."""
        x = losses.astype(np.float64, copy=False)
        n = x.size
        size = int(self.params["window_size"])
        if n <= size:
            mean = np.full(n, np.nan)
            return mean, ratio(x, mean), np.zeros(n, bool)
        # index i (batch i + 1) is checked when the window before it is full
        last = n if size == 100 else size + 1
        out = (np.empty(n), np.empty(n), np.empty(n, bool))  # mean, loss / mean, flags
        for part in (slice(0, size), slice(last, n)):
            out[0][part] = np.nan
            out[1][part] = ratio(x[part], out[0][part])
            out[2][part] = False

        def visit(sums: PassSums, work: np.ndarray, begin: int, end: int) -> tuple[int, ...]:
            rows = slice(size + begin, size + end)
            outlier, high = self._outliers(x, sums, work, begin, end, out[0][rows])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                np.divide(x[rows], out[0][rows], out=out[1][rows])  # ratio(), in place
            return (begin, end, *self._flag(x, size, begin, end, outlier, high, out[2][rows]))

        patience = int(self.params["patience"])
        streak = 0  # consecutive outliers up to the pass
        for begin, end, lead, tail in each_pass(last - size, size, False, 2, visit):
            if streak and lead:  # its leading outliers continue the streak before it
                flags = out[2][size + begin : size + begin + lead]
                flags |= np.arange(streak + 1, streak + lead + 1) > patience
            streak = streak + lead if lead == end - begin else tail
        return out

    def _outliers(
        self,
        x: np.ndarray,
        sums: PassSums,
        work: np.ndarray,
        begin: int,
        end: int,
        mean: np.ndarray,
    ) -> tuple[np.ndarray, float]:
        """The window means of windows ``begin..end-1`` into ``mean``, and which losses after
        them are outliers: the running-sums mean, or numpy's own mean of the window where
        that is too close to call or the window holds a NaN/inf. Also the largest loss in
        the windows, if known (else inf)."""
        size = sums.size
        mult = float(self.params["outlier_multiplier"])
        value = x[size + begin : size + end]
        fast = sums.common(x, begin, end, mean)
        with np.errstate(invalid="ignore", over="ignore"):
            if fast is None:
                stats = full_windows(x, size, begin, end)
                mean[:] = stats["mean"]
                limit = mean * mult
                tolerance = 4 * stats["mean_err"] * abs(mult)
                unsure = stats["bad"] | (
                    np.abs(value - limit) <= tolerance + 1e-12 * (np.abs(value) + np.abs(limit))
                )
                near = np.flatnonzero(unsure)
            else:
                limit, gap = (row[: end - begin] for row in work)
                np.multiply(mean, mult, out=limit)
                near = _near(value, limit, gap, 4 * fast.mean_err * abs(mult), fast.top_value)
            for row in near.tolist():
                mean[row] = float(np.mean(x[begin + row : begin + row + size].copy()))
                limit[row] = mean[row] * mult
            outlier: np.ndarray = value >= limit
        return outlier, np.inf if fast is None else fast.high

    def _flag(
        self,
        x: np.ndarray,
        size: int,
        begin: int,
        end: int,
        outlier: np.ndarray,
        high: float,
        flags: np.ndarray,
    ) -> tuple[int, int]:
        """Spike and high-loss flags of the steps after windows ``begin..end-1`` into
        ``flags`` (``high``: at least the largest loss in the windows), as if no outlier came
        before the pass; returns how many outliers open the pass and how many close it (the
        caller carries the streak across passes)."""
        cap = float(self.params["loss_cap"])
        patience = int(self.params["patience"])
        flags[:] = False
        lead = tail = 0
        if outlier.any():  # the outlier counter: consecutive outliers
            index = np.arange(end - begin)
            reset = np.maximum.accumulate(np.where(outlier, -1, index))
            streak = np.where(reset < 0, index + 1, index - reset)
            flags[:] = outlier & (streak > patience)
            lead = outlier.size if outlier.all() else int(np.argmin(outlier))
            tail = int(streak[-1]) if outlier[-1] else 0
        seg = x[begin : end + size - 1]
        # else no window is half above the cap
        if high > cap and np.count_nonzero(seg > cap) >= size / 2:
            above = np.concatenate(([0], np.cumsum(seg > cap)))
            high_count = above[size : size + end - begin] - above[: end - begin]
            batch = size + begin + np.arange(end - begin) + 1
            flags |= (batch >= 2 * size) & (high_count >= size / 2)
        return lead, tail


def _near(
    value: np.ndarray, limit: np.ndarray, gap: np.ndarray, tolerance: float, top: float
) -> np.ndarray:
    """The windows whose loss is too close to ``limit`` to call: ``|value - limit| <=
    tolerance + 1e-12 * (|value| + |limit|)``, worked out only where a bound over the pass
    (``top``: the largest ``|value|``) cannot rule it out (rounding is monotonic)."""
    np.subtract(value, limit, out=gap)
    widest = tolerance + 1e-12 * (top + max(abs(float(limit.max())), abs(float(limit.min()))))
    near = near_line(gap, widest * (1 + 1e-9))
    edge = tolerance + 1e-12 * (np.abs(value[near]) + np.abs(limit[near]))
    close: np.ndarray = near[gap[near] <= edge]
    return close
