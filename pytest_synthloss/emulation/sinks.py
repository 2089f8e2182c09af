"""What a metrics sink shows of a log whose steps go back (a resume, a step counter reset).

A run that restarts from an older checkpoint logs steps it logged before; one that resets
its step counter logs step 1 again. Two kinds of sink show such a log differently:

* :func:`monotonic_view`: a sink whose step may only grow, as W&B's ``run.log(..., step=s)``
  (a step below the run's current step is dropped with a warning, the same step updates
  the current row): every line logged at a step below the highest step so far is lost,
  so the replayed steps after a resume are dropped, and after a step-counter reset nothing
  more is shown until the steps pass the old highest one.
* :func:`purged_view`: TensorBoard with the restarted writer opened at the resumed step
  (``SummaryWriter(purge_step=s)``, or any ``SessionLog.START`` at step ``s``): the events
  logged before at step ``s`` or later are hidden, and the new ones shown, so the curve
  shows what the resumed run logged. Without a purge step TensorBoard draws both runs
  over each other.

Both return the ``(steps, losses)`` the sink displays, in step order; ``tests/test_resumes.py``
checks them against W&B (an offline run's history) and TensorBoard (``EventAccumulator``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["monotonic_view", "purged_view"]


def monotonic_view(lines: Iterable[tuple[int, float]]) -> tuple[list[int], list[float]]:
    """The points a sink whose step only grows displays: a line at a step below the highest
    step so far is dropped; a line at that same step replaces its value."""
    steps: list[int] = []
    losses: list[float] = []
    for step, loss in lines:
        if steps and step < steps[-1]:
            continue
        if steps and step == steps[-1]:
            losses[-1] = loss
            continue
        steps.append(step)
        losses.append(loss)
    return steps, losses


def purged_view(lines: Iterable[tuple[int, float]]) -> tuple[list[int], list[float]]:
    """The points TensorBoard displays when each restart purges from its first step on: a
    line whose step is not above the one before hides every earlier point at that step or
    later; the last point of each step is shown."""
    points: dict[int, float] = {}
    previous: int | None = None
    for step, loss in lines:
        if previous is not None and step <= previous:
            for old in [s for s in points if s >= step]:
                del points[old]
        points[step] = loss
        previous = step
    ordered = sorted(points)
    return ordered, [points[s] for s in ordered]
