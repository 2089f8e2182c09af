"""Inject known events into a curve: spikes, non-finite losses, plateaus, divergences, stalls.

``inject(curve, Spike(at=120, factor=4.0), NaN(at=300), ...)`` returns a new recorded
curve (:class:`~pytest_synthloss.core.recorded.RecordedCurve`) whose values are the
original ones except inside the injected events, and whose events are the curve's own
(labelled or derived) plus one exact ground-truth event per injection. This is how a user
proves their monitor catches a spike on *their* kind of curve. A curve made from a profile
is injected into as a recorded run of its values (its events kept).

Each injection covers the steps ``at..last`` (``last`` defaults to ``at``); ``at`` and
``last`` must be recorded steps of the curve (a stall's ``at``/``last`` are the first and
last step dropped), and every recorded step in between is changed:

* :class:`Spike`: each loss times ``factor`` (> 1), or set to ``value``: a ``"spike"``
  event whose peak is the highest injected loss;
* :class:`NaN`: each loss set to NaN, ``inf`` or ``-inf`` (``value``): ``"nonfinite"``
  events, derived from the values as for any recorded run;
* :class:`Plateau`: each loss held at the loss of ``at`` (or ``value``): a ``"plateau"``
  event;
* :class:`Diverge`: from ``at`` to ``last`` (default: the run's last step) the loss rises for
  good from ``anchor``, the loss at the recorded step before ``at`` (``at``'s own for the
  first step): ``anchor * (1 + rate) ** (step - at + 1)`` ("exponential") or
  ``anchor + rate * (step - at + 1)`` ("linear"), capped at ``LOSS_CEILING``: a
  ``"divergence"`` event whose peak is its last loss;
* :class:`Stall`: the log stops: the recorded steps ``at..last`` are dropped (a gap), and a
  ``"stall"`` event covers them. A stall lies strictly inside the run.

Injections may not overlap each other unless their kinds are compatible (as labels, see
:data:`~pytest_synthloss.core.validation_recorded.INCOMPATIBLE_KINDS`), and are applied in
the order given. Imports numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.core.curve import LossCurve
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import DIVERGENCE_MODES, Event
from pytest_synthloss.core.recorded import RecordedCurve, recorded_curve
from pytest_synthloss.core.validation import (
    LOSS_CEILING,
    check_float,
    check_mode,
    check_number,
    check_real,
    check_step,
    show,
)
from pytest_synthloss.core.validation_recorded import EXCLUSIVE_KINDS, INCOMPATIBLE_KINDS

__all__ = ["NONFINITE_VALUES", "Diverge", "Injection", "NaN", "Plateau", "Spike", "Stall", "inject"]

#: What :class:`NaN` may write.
NONFINITE_VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _span(kind: str, at: object, last: object) -> tuple[int, int | None]:
    first = check_step(at, f"{kind} at")
    if last is None:
        return first, None
    end = check_step(last, f"{kind} last")
    if end < first:
        raise SynthLossError(
            f"{kind}: last step {end} is before at={first}; an injection covers at..last"
        )
    return first, end


@dataclass(frozen=True)
class Spike:
    """Multiply the losses of ``at..last`` by ``factor`` (> 1), or set them to ``value``."""

    at: int
    factor: float = 5.0
    last: int | None = None
    value: float | None = None

    def __post_init__(self) -> None:
        first, end = _span("Spike", self.at, self.last)
        object.__setattr__(self, "at", first)
        object.__setattr__(self, "last", end)
        factor = check_float("Spike factor", self.factor, minimum=1.0, allowed="> 1")
        if factor == 1.0:
            raise SynthLossError("Spike factor must be a finite number > 1, got 1.0")
        object.__setattr__(self, "factor", factor)
        if self.value is not None:
            object.__setattr__(self, "value", check_number("Spike value", self.value, ">= 0"))


@dataclass(frozen=True)
class NaN:
    """Set the losses of ``at..last`` to ``value``: ``"nan"`` (default), ``"inf"`` or ``"-inf"``."""

    at: int
    last: int | None = None
    value: str = "nan"

    def __post_init__(self) -> None:
        first, end = _span("NaN", self.at, self.last)
        object.__setattr__(self, "at", first)
        object.__setattr__(self, "last", end)
        check_mode("NaN value", self.value, tuple(NONFINITE_VALUES))


@dataclass(frozen=True)
class Plateau:
    """Hold the losses of ``at..last`` at the loss of ``at`` (or at ``value``)."""

    at: int
    last: int
    value: float | None = None

    def __post_init__(self) -> None:
        first, end = _span("Plateau", self.at, self.last)
        object.__setattr__(self, "at", first)
        object.__setattr__(self, "last", end)
        if self.value is not None:
            object.__setattr__(self, "value", check_number("Plateau value", self.value, ">= 0"))


@dataclass(frozen=True)
class Diverge:
    """From ``at`` (to ``last``, default the run's end) the loss rises for good at ``rate``."""

    at: int
    rate: float = 0.2
    mode: str = "exponential"
    last: int | None = None

    def __post_init__(self) -> None:
        first, end = _span("Diverge", self.at, self.last)
        object.__setattr__(self, "at", first)
        object.__setattr__(self, "last", end)
        object.__setattr__(self, "rate", check_number("Diverge rate", self.rate, "> 0"))
        check_mode("Diverge mode", self.mode, DIVERGENCE_MODES)


@dataclass(frozen=True)
class Stall:
    """The log stops: the recorded steps ``at..last`` are dropped (a ``"stall"`` event)."""

    at: int
    last: int | None = None

    def __post_init__(self) -> None:
        first, end = _span("Stall", self.at, self.last)
        object.__setattr__(self, "at", first)
        object.__setattr__(self, "last", end)


Injection = Spike | NaN | Plateau | Diverge | Stall
_KINDS = (Spike, NaN, Plateau, Diverge, Stall)
_EVENT_KIND: dict[type, str] = {
    Spike: "spike",
    NaN: "nonfinite",
    Plateau: "plateau",
    Diverge: "divergence",
    Stall: "stall",
}


def inject(curve: LossCurve, *injections: Injection) -> RecordedCurve:
    """``curve`` with ``injections`` applied, and their exact ground truth (see the module)."""
    if not isinstance(curve, LossCurve):
        raise SynthLossError(
            f"inject() takes a LossCurve (see make_curve and recorded_curve), got {show(curve)}"
        )
    if not injections:
        raise SynthLossError(
            "inject() needs at least one injection: Spike, NaN, Plateau, Diverge or Stall"
        )
    steps = np.array(curve.steps)
    losses = np.array(curve.losses)
    keep = np.ones(steps.size, dtype=bool)
    labels = [e for e in curve.events if e.kind != "nonfinite"]
    taken = [(e, f"the curve's {e.describe()}") for e in curve.events]
    added: list[Event] = []
    for index, item in enumerate(injections):
        if not isinstance(item, _KINDS):
            raise SynthLossError(
                f"injection {index} must be a Spike, NaN, Plateau, Diverge or Stall, "
                f"got {show(item)} ({type(item).__name__})"
            )
        lo, hi = _positions(item, index, steps, keep)
        span = Event(_EVENT_KIND[type(item)], int(steps[lo]), int(steps[hi - 1]))
        _check_free(span, index, taken)
        event = _apply(item, losses, steps, lo, hi, keep)
        if isinstance(item, Stall):
            keep[lo:hi] = False
            _check_not_swallowed(span, index, taken, steps, keep)
        taken.append((span, f"injection {index} ({span.describe()})"))
        if event is not None:
            added.append(event)
    labels = [_repeaked(e, steps, losses, curve.losses) for e in labels]
    source = curve.source if isinstance(curve, RecordedCurve) else f"profile {curve.profile.name}"
    name = curve.name if isinstance(curve, RecordedCurve) else curve.profile.name
    try:
        return recorded_curve(
            steps[keep], losses[keep], [*labels, *added], name=name, source=source
        )
    except SynthLossError as exc:
        raise SynthLossError(f"inject(): {exc}") from None


def _check_free(span: Event, index: int, taken: list[tuple[Event, str]]) -> None:
    """Refuse an injection over an event of an incompatible kind (or of its own kind)."""
    for other, name in taken:
        if other.first > span.last or span.first > other.last:
            continue
        pair = frozenset((span.kind, other.kind))
        if pair in INCOMPATIBLE_KINDS or (span.kind == other.kind and span.kind in EXCLUSIVE_KINDS):
            raise SynthLossError(
                f"injection {index} ({span.describe()}) overlaps {name}: a step cannot be both "
                f"{span.kind} and {other.kind}"
                if span.kind != other.kind
                else f"injection {index} ({span.describe()}) overlaps {name}: two {span.kind} "
                "events may not share a step"
            )


def _check_not_swallowed(
    span: Event, index: int, taken: list[tuple[Event, str]], steps: np.ndarray, keep: np.ndarray
) -> None:
    """Refuse a stall that removes every recorded step of an event."""
    for other, name in taken:
        lo, hi = np.searchsorted(steps, [other.first, other.last + 1])
        if other.kind != "stall" and not keep[lo:hi].any():
            raise SynthLossError(
                f"injection {index} ({span.describe()}) removes every recorded step of "
                f"{name}; a stall may not swallow an event"
            )


def _repeaked(event: Event, steps: np.ndarray, losses: np.ndarray, before: np.ndarray) -> Event:
    """A carried event whose values an injection changed loses its peak (recomputed)."""
    lo, hi = np.searchsorted(steps, [event.first, event.last + 1])
    old, new = before[lo:hi], losses[lo:hi]
    same = (old == new) | (np.isnan(old) & np.isnan(new))
    return event if bool(same.all()) else Event(event.kind, event.first, event.last)


def _positions(item: Injection, index: int, steps: np.ndarray, keep: np.ndarray) -> tuple[int, int]:
    """The slice of recorded positions ``item`` covers; its ends must be recorded steps."""
    kind = type(item).__name__
    last = item.last if item.last is not None else None
    if last is None:
        last = int(steps[keep][-1]) if isinstance(item, Diverge) else item.at
    for what, step in (("at", item.at), ("last", last)):
        pos = int(np.searchsorted(steps, step))
        if pos >= steps.size or int(steps[pos]) != step or not keep[pos]:
            recorded = steps[keep]
            where = (
                f"outside the run (steps {int(recorded[0])}..{int(recorded[-1])})"
                if not int(recorded[0]) <= step <= int(recorded[-1])
                else "not a recorded step"
            )
            raise SynthLossError(
                f"injection {index} ({kind} {what}={step}): step {step} is {where}; "
                "inject at recorded steps"
            )
    lo = int(np.searchsorted(steps, item.at))
    hi = int(np.searchsorted(steps, last, side="right"))
    if isinstance(item, Stall) and (not keep[:lo].any() or not keep[hi:].any()):
        raise SynthLossError(
            f"injection {index} (Stall at={item.at}): a stall lies strictly inside the run, "
            "with a recorded step before and after it"
        )
    return lo, hi


def _apply(
    item: Injection,
    losses: np.ndarray,
    steps: np.ndarray,
    lo: int,
    hi: int,
    keep: np.ndarray,
) -> Event | None:
    """Change ``losses[lo:hi]`` (the kept ones) in place; the ground-truth event."""
    live = np.flatnonzero(keep[lo:hi]) + lo
    first, last = int(steps[lo]), int(steps[hi - 1])
    if isinstance(item, Spike):
        new = (
            np.full(live.size, item.value)
            if item.value is not None
            else np.minimum(losses[live] * item.factor, LOSS_CEILING)
        )
        losses[live] = new
        finite = new[np.isfinite(new)]
        peak = float(finite.max()) if finite.size and finite.max() >= 0 else None
        return Event("spike", first, last, peak=peak)
    if isinstance(item, NaN):
        losses[live] = NONFINITE_VALUES[item.value]
        return None  # derived from the values
    if isinstance(item, Plateau):
        held = float(losses[lo]) if item.value is None else item.value
        check_real("the plateau's held loss", held)
        losses[live] = held
        peak = held if math.isfinite(held) and held >= 0 else None
        return Event("plateau", first, last, peak=peak)
    if isinstance(item, Diverge):
        before = np.flatnonzero(keep[:lo])
        anchor = float(losses[before[-1]] if before.size else losses[lo])
        if not math.isfinite(anchor) or anchor <= 0:
            raise SynthLossError(
                f"Diverge at={item.at}: the loss it rises from is {anchor!r}; a divergence "
                "rises from a finite loss > 0"
            )
        distance = (steps[live] - item.at + 1).astype(np.float64)
        with np.errstate(over="ignore"):
            rise = (
                anchor * (1.0 + item.rate) ** distance
                if item.mode == "exponential"
                else anchor + item.rate * distance
            )
        losses[live] = np.minimum(rise, LOSS_CEILING)
        end = float(losses[live[-1]])
        return Event("divergence", first, last, peak=end if end >= 0 else None)
    return Event("stall", first, last)
