"""What :func:`~pytest_synthloss.checks.scoring.score_alerts` scores: the run and the alerts.

The run is a :class:`~pytest_synthloss.LossCurve` (made from a profile or recorded), or
plain losses (steps ``1..n``) or a ``(steps, losses)`` pair with ``events=``, the labelled
events, which become a recorded curve (:func:`~pytest_synthloss.core.recorded.recorded_curve`,
named ``"series"``): the same ``expect``/``tolerate`` contract holds for any series.
Alert steps are integers within the run; for a recorded run with gaps, logged steps.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from pytest_synthloss.checks.series import is_pair
from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.recorded import RecordedCurve, recorded_curve
from pytest_synthloss.core.validation import show, step_array

__all__ = ["SERIES_NAME", "ScoredRun", "alert_array", "scored_curve"]

#: What the oracle scores: a curve, or losses / ``(steps, losses)`` with ``events=``.
ScoredRun = LossCurve | npt.ArrayLike | tuple[npt.ArrayLike, npt.ArrayLike]
#: The name of the recorded curve made from plain arrays (in messages and the scorecard).
SERIES_NAME = "series"


def scored_curve(curve: object, events: Iterable[object] | None) -> LossCurve:
    """``curve`` itself, or the recorded curve of plain arrays and their ``events``."""
    if isinstance(curve, LossCurve):
        if events is not None:
            raise SynthLossError(
                "events= is only for plain losses or (steps, losses); a LossCurve brings its "
                "own events (curve.events): build one with recorded_curve(steps, losses, events)"
            )
        return curve
    if events is None:
        raise SynthLossError(
            "curve must be a LossCurve (see make_curve and recorded_curve), or losses or "
            f"(steps, losses) with events= (the labelled events, () for none), got "
            f"{show(curve)} ({type(curve).__name__})"
        )
    if isinstance(curve, (str, bytes)):
        raise SynthLossError(
            f"curve must be a LossCurve, losses or (steps, losses), got {show(curve)} "
            f"({type(curve).__name__})"
        )
    if is_pair(curve):
        assert isinstance(curve, tuple)
        steps, losses = curve
    else:
        losses = curve
        size = np.size(np.asarray(losses, dtype=object))
        steps = np.arange(1, size + 1, dtype=np.int64)
    return recorded_curve(steps, losses, events, name=SERIES_NAME)


def alert_array(alert_steps: Iterable[int], curve: LossCurve) -> np.ndarray:
    """Validate alert steps: integers within the run (logged steps of a recorded run).

    Returns them sorted and unique.
    """
    arr = _alert_steps(alert_steps, curve)
    if isinstance(curve, RecordedCurve) and curve.gaps:
        missing = np.flatnonzero(~curve.recorded(arr))
        if missing.size:
            index = int(missing[0])
            step = int(arr[index])
            gap = next(g for g in curve.gaps if g[0] <= step <= g[1])
            raise SynthLossError(
                f"alert step {step} (index {index}) was not logged in the recorded run "
                f"{curve.name!r} (it has no steps {gap[0]}..{gap[1]}); a monitor alerts at "
                "logged steps"
            )
    return _sorted_unique(arr)


def _sorted_unique(arr: np.ndarray) -> np.ndarray:
    """``np.unique(arr)`` of int64 steps by one sort (numpy's hashing unique is slower here)."""
    if arr.size > 1 and not np.all(arr[1:] > arr[:-1]):
        arr = np.sort(arr)
        keep = np.empty(arr.size, dtype=bool)
        keep[0] = True
        np.not_equal(arr[1:], arr[:-1], out=keep[1:])
        arr = arr[keep]
    return arr


def _alert_steps(alert_steps: Iterable[int], curve: LossCurve) -> np.ndarray:
    first, last = curve.start_step, curve.last_step
    run = f"the run's steps {first}..{last}"
    if isinstance(alert_steps, np.ndarray):
        arr = step_array("alert steps", alert_steps).ravel()  # the first bad one, named
        outside = np.flatnonzero((arr < first) | (arr > last))
        if outside.size:
            index = int(outside[0])
            raise SynthLossError(f"alert step {int(arr[index])} (index {index}) is outside {run}")
        return arr.astype(np.int64)
    if isinstance(alert_steps, str | bytes) or not isinstance(alert_steps, Iterable):
        raise SynthLossError(
            "alert_steps must be an iterable of integer step numbers, "
            f"got {alert_steps!r} ({type(alert_steps).__name__})"
        )
    values: list[int] = []
    for index, item in enumerate(alert_steps):
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise SynthLossError(
                f"alert steps must be integers within {run}, got {item!r} "
                f"({type(item).__name__}) at index {index}"
            )
        step = int(item)
        if not first <= step <= last:
            raise SynthLossError(f"alert step {step} (index {index}) is outside {run}")
        values.append(step)
    return np.array(values, dtype=np.int64)
