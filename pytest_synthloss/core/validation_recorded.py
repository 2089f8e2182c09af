"""Validation of recorded runs: their step and loss arrays and their labelled events.

Re-uses :mod:`pytest_synthloss.core.validation` (the one validation module) for every
element check; what is specific to a recorded run lives here: labels must lie within the
recorded steps, and overlapping labels must be of compatible kinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import EVENT_KINDS, Event
from pytest_synthloss.core.text import did_you_mean
from pytest_synthloss.core.validation import loss_array, show, step_array

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "EXCLUSIVE_KINDS",
    "INCOMPATIBLE_KINDS",
    "check_labels",
    "check_overlaps",
    "check_recorded_arrays",
    "label_event",
]

#: Pairs of kinds that may not share a step: a step is a spike, a non-finite loss or part
#: of a plateau, never two of these; a plateau holds the loss, a divergence raises it.
#: Benign kinds (``warmup``, ``schedule``, ``epoch``), ``incident`` and ``stall`` overlap
#: anything.
INCOMPATIBLE_KINDS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        ("spike", "nonfinite"),
        ("spike", "plateau"),
        ("nonfinite", "plateau"),
        ("plateau", "divergence"),
    )
)
#: Kinds that are maximal runs: two labels of one of these kinds may not overlap.
EXCLUSIVE_KINDS = ("spike", "nonfinite", "divergence", "plateau", "incident", "stall")


def check_recorded_arrays(steps: Any, losses: Any) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` (integers >= 1) and ``losses`` (numbers; NaN/inf allowed) as 1-D arrays."""
    step_arr = step_array("recorded steps", steps)
    if step_arr.ndim != 1:
        raise SynthLossError(f"recorded steps must be 1-D, got an array of shape {step_arr.shape}")
    loss_arr = loss_array("recorded losses", losses)
    if step_arr.size != loss_arr.size:
        raise SynthLossError(
            f"recorded steps and losses differ in length ({step_arr.size} steps, "
            f"{loss_arr.size} losses); each step needs one loss"
        )
    if step_arr.size == 0:
        raise SynthLossError("a recorded run needs at least one step, got no steps")
    return step_arr, loss_arr


def label_event(label: object, index: int) -> Event:
    """One label as an :class:`Event`: an ``Event``, ``(kind, step)``, ``(kind, first, last)``
    or a mapping with ``kind``, ``first`` and optionally ``last``."""
    where = f"label {index}"
    try:
        if isinstance(label, Event):
            event = label
        elif isinstance(label, Mapping):
            unknown = sorted(set(map(str, label)) - {"kind", "first", "last", "peak"})
            if unknown or "kind" not in label or "first" not in label:
                raise SynthLossError(
                    f"{where} must have the keys kind, first and optionally last and peak, "
                    f"got {show(dict(label))}"
                )
            event = Event(
                label["kind"],
                label["first"],
                label.get("last", label["first"]),
                peak=label.get("peak"),
            )
        elif isinstance(label, tuple) and len(label) in (2, 3):
            event = Event(label[0], label[1], label[-1])
        else:
            raise SynthLossError(
                f"{where} must be an Event, (kind, step), (kind, first, last) or a mapping, "
                f"got {show(label)}"
            )
    except SynthLossError as exc:
        if str(exc).startswith(where):
            raise
        raise SynthLossError(f"{where}: {exc}") from None
    if event.kind not in EVENT_KINDS:
        raise SynthLossError(
            f"{where}: unknown event kind {event.kind!r}; allowed: {', '.join(EVENT_KINDS)}"
            + did_you_mean(event.kind, EVENT_KINDS)
        )
    return event


def check_labels(labels: object, steps: np.ndarray) -> tuple[Event, ...]:
    """Labels within the recorded (sorted, unique) ``steps``, no incompatible overlaps.

    Each label covers a recorded step, except a ``"stall"``, which may span a gap (the
    steps a stopped run never logged).
    """
    import numpy as np

    if isinstance(labels, (str, bytes, Event, Mapping)) or not isinstance(labels, Iterable):
        raise SynthLossError(
            f"events must be a sequence of labels (Event or (kind, first, last)), "
            f"got {show(labels)}"
        )
    first, last = int(steps[0]), int(steps[-1])
    events: list[Event] = []
    for index, label in enumerate(labels):
        event = label_event(label, index)
        if event.first < first or event.last > last:
            raise SynthLossError(
                f"label {index} ({event.describe()}) is outside the recorded steps "
                f"{first}..{last}; labels must lie within them"
            )
        lo = int(np.searchsorted(steps, event.first, side="left"))
        if event.kind != "stall" and (lo >= steps.size or int(steps[lo]) > event.last):
            raise SynthLossError(
                f"label {index} ({event.describe()}) covers no recorded step (the log has no "
                f"step in {event.first}..{event.last}); labels must cover a recorded step"
            )
        events.append(event)
    check_overlaps(events)
    return tuple(events)


def check_overlaps(events: list[Event], what: str = "label") -> None:
    """Refuse two events of incompatible kinds, or of one exclusive kind, sharing a step."""
    for i, a in enumerate(events):
        for j in range(i + 1, len(events)):
            b = events[j]
            if a.first > b.last or b.first > a.last:
                continue
            pair = frozenset((a.kind, b.kind))
            if pair in INCOMPATIBLE_KINDS:
                raise SynthLossError(
                    f"{what} {i} ({a.describe()}) overlaps {what} {j} ({b.describe()}): "
                    f"a step cannot be both {a.kind} and {b.kind}; incompatible kinds: "
                    + ", ".join(sorted("/".join(sorted(p)) for p in INCOMPATIBLE_KINDS))
                )
            if a.kind == b.kind and a.kind in EXCLUSIVE_KINDS:
                raise SynthLossError(
                    f"{what} {i} ({a.describe()}) overlaps {what} {j} ({b.describe()}): "
                    f"two {a.kind} labels may not share a step; make them one label"
                )
