"""Ground truth as events: every event of a profile within a range of steps.

:func:`events_between` is the one place that turns a profile's declarations into
:class:`~pytest_synthloss.core.events.Event` records; ``LossCurve.events`` and
``Profile.events`` call it, and every other ground-truth attribute (``spike_steps``,
``spike_events``, ``nonfinite_steps``, ``divergence_step``, ``plateau_windows``) is read
from those events. Imports no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pytest_synthloss.core.events import EVENT_KINDS, Event
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.ranks import reduced_overrides
from pytest_synthloss.core.shapes import event_windows
from pytest_synthloss.core.steps import runs

__all__ = ["events_between", "events_of_kind", "runs"]


def _nonfinite_name(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def events_between(profile: Profile, first: int, last: int) -> tuple[Event, ...]:
    """The events of ``profile`` cut to the steps ``first..last``, sorted by first step.

    Events starting at the same step are listed in :data:`EVENT_KINDS` order.
    """
    events: list[Event] = []
    spike_losses, nonfinite = profile.spikes, profile.nonfinite
    if profile.ranks is not None:  # a rank's spike shows in the reduced loss, diluted
        from pytest_synthloss.core.model import synthetic_loss

        spike_steps, nonfinite = reduced_overrides(profile.ranks)
        spike_losses = {s: synthetic_loss(s, profile) for s in spike_steps if first <= s <= last}
    spikes = [s for s in spike_losses if first <= s <= last]
    for a, b in runs(spikes):
        peak = max(spike_losses[s] for s in range(a, b + 1))
        events.append(Event("spike", a, b, peak=peak))
    bad = [s for s in nonfinite if first <= s <= last]
    for a, b in runs(bad):
        names = tuple(_nonfinite_name(nonfinite[s]) for s in range(a, b + 1))
        events.append(Event("nonfinite", a, b, values=names))
    onset = profile.divergence_step
    if onset is not None and onset <= last:
        from pytest_synthloss.core.model import trend_loss  # the model imports numpy

        events.append(Event("divergence", max(onset, first), last, peak=trend_loss(profile, last)))
    for a, b in profile.plateaus:
        if a <= last and b >= first:
            held = profile.baseline(a)
            events.append(Event("plateau", max(a, first), min(b, last), peak=held))
    if profile.shape is not None:
        peaks = {(s.step, s.last): s.peak for s in profile.shape.spikes}
        for kind, a, b in event_windows(profile.shape, first, last):
            top = peaks.get((a, b)) if kind == "spike" else None
            events.append(Event(kind, max(a, first), min(b, last), peak=top))
    if profile.signals is not None:
        from pytest_synthloss.core.signal_series import signal_events

        events.extend(signal_events(profile, first, last))
    order = {kind: index for index, kind in enumerate(EVENT_KINDS)}
    events.sort(key=lambda e: (e.first, order.get(e.kind, len(order)), e.kind, e.last))
    return tuple(events)


def events_of_kind(events: Iterable[Event], kind: str) -> tuple[Event, ...]:
    """The events of one kind, in order."""
    return tuple(e for e in events if e.kind == kind)
