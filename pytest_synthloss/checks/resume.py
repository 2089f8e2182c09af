"""Resume equivalence: a monitor checkpointed mid-run must carry on as if never stopped.

:func:`assert_resume_equivalent` feeds a curve to a monitor straight through, then again
stopping after step ``at``: it saves the monitor's state, builds a fresh monitor, loads the
state into it and feeds the rest. Every step's decision (what ``feed`` returns) must be the
same both ways. The state is deep-copied between save and load, so the fresh monitor
shares nothing with the old one.

``save``/``load`` default to ``state_dict()``/``load_state_dict(state)`` when the monitor
has them (torch modules, Lightning callbacks, schedulers), and otherwise to a deep copy of
the object's ``__dict__`` (plain objects). Exceptions raised by ``make_monitor``, ``feed``,
``save`` or ``load`` propagate unchanged (so a known upstream failure can be an
``xfail(raises=...)``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from pytest_synthloss.checks.messages import MAX_ROWS, fail, num, table
from pytest_synthloss.checks.series import LossSeries, as_series
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["assert_resume_equivalent", "default_load", "default_save"]


def default_save(monitor: Any) -> Any:
    """``monitor.state_dict()`` if it has one, else its ``__dict__``."""
    if callable(getattr(monitor, "state_dict", None)):
        return monitor.state_dict()
    return vars(monitor)


def default_load(monitor: Any, state: Any) -> None:
    """``monitor.load_state_dict(state)`` if it has one, else ``__dict__.update(state)``."""
    if callable(getattr(monitor, "load_state_dict", None)):
        monitor.load_state_dict(state)
    else:
        vars(monitor).update(state)


def assert_resume_equivalent(
    make_monitor: Callable[[], Any],
    curve: LossSeries,
    *,
    at: int | Iterable[int],
    feed: Callable[[Any, int, float], object],
    save: Callable[[Any], Any] = default_save,
    load: Callable[[Any, Any], None] = default_load,
) -> None:
    """Assert that resuming after each step in ``at`` changes no decision.

    - ``make_monitor()`` builds a fresh monitor (called once straight through, and twice per
      resume point: before and after the checkpoint).
    - ``curve``: a :class:`~pytest_synthloss.LossCurve` or a 1-D array of losses (steps
      ``1..n``).
    - ``at``: one step or several; each must be a step of the curve before its last.
    - ``feed(monitor, step, loss)`` gives one step to the monitor and returns its decision at
      that step (an alert, a flag, a stop request: anything comparable with ``==``).
    - ``save(monitor)`` returns the checkpoint, ``load(monitor, state)`` restores it into a
      fresh monitor (defaults: :func:`default_save`, :func:`default_load`).

    Fails with :class:`~pytest_synthloss.LossAssertionError` listing the steps whose
    decision changed, straight versus resumed.

    >>> from pytest_synthloss import make_curve
    >>> class Best:
    ...     def __init__(self):
    ...         self.best = float("inf")
    ...     def update(self, step, loss):
    ...         improved = loss < self.best
    ...         self.best = min(self.best, loss)
    ...         return improved
    >>> assert_resume_equivalent(
    ...     Best, make_curve(20, "spiky"), at=[5, 10], feed=lambda m, s, v: m.update(s, v)
    ... )
    """
    __tracebackhide__ = True
    series = as_series(curve)
    steps = [int(s) for s in series.steps.tolist()]
    losses = [float(v) for v in series.losses.tolist()]
    if len(steps) < 2:
        raise SynthLossError(
            f"a resume needs a curve of at least 2 steps, got {len(steps)} ({series.where})"
        )
    points = [at] if isinstance(at, int) else list(at)
    if not points:
        raise SynthLossError(
            f"at must name at least one step of the curve before its last "
            f"({steps[0]}..{steps[-1] - 1}), got none"
        )
    for point in points:
        if isinstance(point, bool) or not isinstance(point, int) or point not in steps[:-1]:
            raise SynthLossError(
                f"at must be steps of the curve before its last ({steps[0]}..{steps[-1] - 1}), "
                f"got {point!r}"
            )
    straight_monitor = make_monitor()
    straight = [feed(straight_monitor, s, v) for s, v in zip(steps, losses, strict=True)]
    for point in points:
        cut = steps.index(point) + 1
        monitor = make_monitor()
        resumed = [feed(monitor, s, v) for s, v in zip(steps[:cut], losses[:cut], strict=True)]
        state = copy.deepcopy(save(monitor))
        fresh = make_monitor()
        load(fresh, state)
        resumed += [feed(fresh, s, v) for s, v in zip(steps[cut:], losses[cut:], strict=True)]
        differ = [i for i, (a, b) in enumerate(zip(straight, resumed, strict=True)) if a != b]
        if differ:
            rows = [
                [str(steps[i]), num(losses[i]), repr(straight[i]), repr(resumed[i])]
                for i in differ[:MAX_ROWS]
            ]
            fail(
                [
                    f"Resuming after step {point} changed {len(differ)} decision(s) "
                    f"({series.where})",
                    f"First difference at step {steps[differ[0]]}",
                    *table(["step", "loss", "straight", "resumed"], rows, len(differ)),
                ]
            )
