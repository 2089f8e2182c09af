"""The NAB score of alert scoring (Numenta Anomaly Benchmark; see :mod:`.scoring`)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["NAB_PROFILES", "nab"]

#: NAB's scoring profiles: ``(tp_weight, fp_weight, fn_weight)``.
NAB_PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_fp": (1.0, 0.22, 1.0),
    "reward_low_fn": (1.0, 0.11, 2.0),
}


def _scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's ``2 * sigmoid(-5y) - 1``, and -1 from ``y >= 3`` on."""
    with np.errstate(over="ignore"):
        values = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, values)


def nab(
    false_alerts: np.ndarray,
    starts: np.ndarray,
    win_end: np.ndarray,
    first_alert: np.ndarray,
    detected: np.ndarray,
    weights: tuple[float, float, float],
) -> tuple[float, float | None]:
    """The raw NAB sum and the normalised score (``None`` without windows).

    ``first_alert[i]`` is the first hitting alert of window ``detected[i]``; false alerts
    are weighed by their distance to the last window that ends before them.
    """
    tp_weight, fp_weight, fn_weight = weights
    widths = win_end - starts + 1
    max_tp = 2.0 / (1.0 + math.exp(-5.0)) - 1.0
    position = -(win_end[detected] - first_alert + 1) / widths[detected]
    tp_score = float(np.sum(_scaled_sigmoid(position))) * tp_weight / max_tp
    fn_score = -fn_weight * (starts.size - detected.size)
    fp_position = np.full(false_alerts.size, 3.0)
    if starts.size and false_alerts.size:
        order = np.argsort(win_end, kind="stable")
        ends = win_end[order]
        before = np.searchsorted(ends, false_alerts, side="left") - 1
        has = before >= 0
        safe = np.where(has, before, 0)
        span = np.maximum(widths[order][safe] - 1, 1)
        fp_position = np.where(has, (false_alerts - ends[safe]) / span, 3.0)
    fp_score = float(np.sum(_scaled_sigmoid(fp_position))) * fp_weight
    raw = tp_score + fn_score + fp_score
    if starts.size == 0:
        return raw, None
    perfect = tp_weight * starts.size
    null = -fn_weight * starts.size
    return raw, 100.0 * (raw - null) / (perfect - null)
