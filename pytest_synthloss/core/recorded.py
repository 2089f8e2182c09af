"""Curves from recorded values: a real run's steps and losses with user-labelled events.

:func:`recorded_curve` builds a :class:`~pytest_synthloss.LossCurve` (a
:class:`RecordedCurve`, its subclass) from logged ``steps`` and ``losses`` and the events a
user labelled, so a real run gets the same assertions, oracle and exports as a profile's.

A log is not a clean range of steps:

* **repeats** (a run restarted from a checkpoint logs some steps again): the curve keeps
  each step's *last* logged loss, what a metrics store holds after the restart, and lists
  the steps logged more than once in :attr:`RecordedCurve.repeated_steps`;
* **gaps** (every 10th step logged, dropped lines): :attr:`RecordedCurve.gaps` are the
  ``(first, last)`` windows of steps never logged between the first and the last step.

So ``curve.steps`` are the distinct logged steps, ascending, and ``curve.losses`` their
losses; ``len(curve)`` counts them. Non-finite losses (NaN, inf, -inf) are labelled
``"nonfinite"`` events automatically (one per run of consecutive non-finite steps).
Labels may be of any kind in :data:`~pytest_synthloss.core.events.EVENT_KINDS`
(``"incident"`` for anything that is not a spike, a divergence, a plateau or benign); they
must lie within the recorded steps, and overlapping labels must be of compatible kinds
(:data:`~pytest_synthloss.core.validation_recorded.INCOMPATIBLE_KINDS`). A recorded run has
no known floor: ``floor_step`` is ``None`` and ``assert_reaches_floor`` needs ``floor=``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from pytest_synthloss.core.curve import LossCurve, RunConfig
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import EVENT_KINDS, Event
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.sparklines import sparkline
from pytest_synthloss.core.text import count_noun
from pytest_synthloss.core.truth import runs
from pytest_synthloss.core.validation import check_name, check_step, show
from pytest_synthloss.core.validation_recorded import check_labels, check_recorded_arrays

__all__ = ["RecordedCurve", "recorded_curve", "require_consecutive"]


class RecordedCurve(LossCurve):
    """A :class:`~pytest_synthloss.LossCurve` of recorded values (see the module docs).

    ``name`` names the run (in messages, the scorecard and ``--synthloss-profile``);
    ``source`` says where the values came from (a file path, a URL), or ``None``.
    ``curve.profile`` is a placeholder :class:`Profile` carrying the name: the values come
    from the record, never from a formula. Build with :func:`recorded_curve`.
    """

    def __init__(
        self,
        name: str,
        steps: np.ndarray,
        losses: np.ndarray,
        labels: tuple[Event, ...],
        source: str | None,
        repeated_steps: tuple[int, ...],
    ) -> None:
        description = f"recorded run ({source})" if source else "recorded run"
        super().__init__(Profile(name, description=description), int(steps.size), int(steps[0]))
        self.name = name
        self.source = source
        self.labels = labels
        self.repeated_steps = repeated_steps
        self._shared = False
        self.__dict__["steps"] = _frozen(steps)
        self.__dict__["losses"] = _frozen(losses)

    # -- what the log says --------------------------------------------------------------

    @functools.cached_property
    def gaps(self) -> tuple[tuple[int, int], ...]:
        """The ``(first, last)`` windows of steps never logged between the first and last."""
        steps = self.steps
        jumps = np.flatnonzero(np.diff(steps) > 1)
        return tuple((int(steps[i]) + 1, int(steps[i + 1]) - 1) for i in jumps)

    @property
    def missing_count(self) -> int:
        """How many steps :attr:`gaps` hold."""
        return sum(last - first + 1 for first, last in self.gaps)

    @property
    def last_step(self) -> int:
        """The last recorded step."""
        return int(self.steps[-1])

    def recorded(self, steps: np.ndarray) -> np.ndarray:
        """Which of ``steps`` (an int64 array) were recorded."""
        index = np.minimum(np.searchsorted(self.steps, steps), self._count - 1)
        return np.asarray(self.steps[index] == steps)

    def position(self, step: int) -> int:
        """The index of ``step`` in ``steps``; an error names a step that was not recorded."""
        checked = check_step(step)
        index = int(np.searchsorted(self.steps, checked))
        if index < self.steps.size and int(self.steps[index]) == checked:
            return index
        if not self.start_step <= checked <= self.last_step:
            raise SynthLossError(
                f"step {checked} is outside this run (steps {self.start_step}..{self.last_step})"
            )
        gap = next(g for g in self.gaps if g[0] <= checked <= g[1])
        raise SynthLossError(
            f"step {checked} was not recorded in {self.name!r} (the log has no steps "
            f"{gap[0]}..{gap[1]}); use a recorded step"
        )

    def loss_at(self, step: int) -> float:
        """The recorded loss at ``step`` (its last logged value); a missing step is an error."""
        return float(self.losses[self.position(step)])

    def iter_chunks(self, chunk_size: int = 1_000_000) -> Iterator[LossCurve]:
        """The run as consecutive recorded sub-curves of at most ``chunk_size`` steps."""
        size = check_step(chunk_size, "chunk_size")
        if size >= self._count:
            yield self
            return
        for begin in range(0, self._count, size):
            yield self.window(begin, min(size, self._count - begin))

    def window(self, begin: int, count: int) -> RecordedCurve:
        """The ``count`` logged steps from position ``begin``, labels cut to them."""
        steps = self.steps[begin : begin + count]
        losses = self.losses[begin : begin + count]
        first, last = int(steps[0]), int(steps[-1])
        cut = (_cut(e, first, last) for e in self.labels)
        kept = tuple(e for e in cut if e is not None)
        repeated = tuple(s for s in self.repeated_steps if first <= s <= last)
        return RecordedCurve(self.name, steps, losses, kept, self.source, repeated)

    # -- ground truth -------------------------------------------------------------------

    @functools.cached_property
    def events(self) -> tuple[Event, ...]:
        """The labelled events and the automatic ``"nonfinite"`` ones, sorted by first step."""
        events = [*self.labels, *nonfinite_events(self.steps, self.losses)]
        order = {kind: index for index, kind in enumerate(EVENT_KINDS)}
        events.sort(key=lambda e: (e.first, order.get(e.kind, len(order)), e.kind, e.last))
        return tuple(events)

    @property
    def floor(self) -> float:
        """A recorded run has no known floor: an error (pass ``floor=`` to the assertion)."""
        raise SynthLossError(
            f"the recorded run {self.name!r} has no known floor; pass floor= explicitly"
        )

    @property
    def floor_step(self) -> int | None:
        """``None``: a recorded run has no known floor."""
        return None

    @property
    def config(self) -> RunConfig:
        """``RunConfig(name, len, first step)``: a recorded run logs no lr or batch size here."""
        return RunConfig(self.name, self._count, self.start_step)

    # -- value semantics ----------------------------------------------------------------

    def _key(self) -> tuple[object, ...]:
        return (
            "recorded",
            self.name,
            self.source,
            self.steps.tobytes(),
            self.losses.tobytes(),
            self.labels,
            self.repeated_steps,
        )

    # __eq__ and __hash__ are LossCurve's, on this _key.

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            RecordedCurve,
            (
                self.name,
                np.array(self.steps),
                np.array(self.losses),
                self.labels,
                self.source,
                self.repeated_steps,
            ),
        )

    def preview(self, width: int = 40, marks: tuple[int, ...] = ()) -> str:
        """A sparkline of the recorded losses; ``marks`` are step numbers (recorded or not)."""
        positions = np.searchsorted(self.steps, np.asarray(marks, dtype=np.int64)).tolist()
        return sparkline(
            self.losses, width=width, marks=[min(p, self._count - 1) for p in positions]
        )

    def __repr__(self) -> str:
        notes = [count_noun(len(self.gaps), "gap")] if self.gaps else []
        if self.repeated_steps:
            notes.append(f"{len(self.repeated_steps)} repeated")
        extra = f" ({', '.join(notes)})" if notes else ""
        return (
            f"<LossCurve recorded {self.name} steps {self.start_step}..{self.last_step}, "
            f"{self._count} logged{extra} final={self.final_loss:.4g} {self.preview()}>"
        )


def require_consecutive(curve: LossCurve, what: str) -> None:
    """Refuse a recorded curve with gaps where ``what`` needs one loss per step."""
    if isinstance(curve, RecordedCurve) and curve.gaps:
        first, last = curve.gaps[0]
        raise SynthLossError(
            f"{what} needs a loss at every step, but the recorded run {curve.name!r} has "
            f"{count_noun(len(curve.gaps), 'gap')} (first: steps {first}..{last} never logged)"
        )


def nonfinite_events(steps: np.ndarray, losses: np.ndarray) -> list[Event]:
    """One ``"nonfinite"`` event per run of consecutive steps with a NaN/inf/-inf loss."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if not bad.size:
        return []
    names = {int(steps[i]): _value_name(float(losses[i])) for i in bad}
    return [
        Event("nonfinite", a, b, values=tuple(names[s] for s in range(a, b + 1)))
        for a, b in runs(sorted(names))
    ]


def _value_name(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _cut(event: Event, first: int, last: int) -> Event | None:
    if event.last < first or event.first > last:
        return None
    if event.first >= first and event.last <= last:
        return event
    return Event(event.kind, max(first, event.first), min(last, event.last), event.peak)


def _frozen(arr: np.ndarray) -> np.ndarray:
    """A read-only copy that cannot be made writable again."""
    return np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=arr.dtype)


def _deduplicate(
    steps: np.ndarray, losses: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Distinct steps ascending, each with its last logged loss, and the repeated steps."""
    if steps.size < 2 or bool(np.all(np.diff(steps) > 0)):
        return steps, losses, ()
    backwards = steps[::-1]
    unique, index, counts = np.unique(backwards, return_index=True, return_counts=True)
    return unique, losses[::-1][index], tuple(unique[counts > 1].tolist())


def recorded_curve(
    steps: Iterable[int] | np.ndarray,
    losses: Iterable[float] | np.ndarray,
    events: Iterable[object] = (),
    *,
    name: str = "recorded",
    source: str | None = None,
) -> RecordedCurve:
    """A :class:`~pytest_synthloss.LossCurve` of recorded ``steps`` and ``losses``.

    ``steps`` are integers >= 1 in log order (gaps and repeats allowed: a repeated step
    keeps its last loss); ``losses`` one number each (NaN and inf are data, labelled
    ``"nonfinite"`` automatically). ``events`` are the labelled events: :class:`Event`
    objects, ``(kind, step)`` or ``(kind, first, last)`` tuples or mappings with ``kind``,
    ``first``, ``last``. A ``spike``, ``divergence`` or ``plateau`` label without a peak
    gets one from the values (the highest finite loss of a spike, the last loss of a
    divergence, the first of a plateau). ``name`` names the run; ``source`` says where it
    came from. Bad input raises :class:`~pytest_synthloss.SynthLossError` naming the value.
    """
    title = check_name(name, "recorded run name")
    if source is not None and not isinstance(source, str):
        raise SynthLossError(f"source must be a string or None, got {show(source)}")
    raw_steps, raw_losses = check_recorded_arrays(steps, losses)
    unique, values, repeated = _deduplicate(raw_steps, raw_losses)
    labels = check_labels(events, unique)
    automatic = nonfinite_events(unique, values)
    checked = [_checked_against(e, i, unique, values, automatic) for i, e in enumerate(labels)]
    kept = tuple(_with_peak(e, unique, values) for e in checked if e.kind != "nonfinite")
    return RecordedCurve(title, unique, values, kept, source, repeated)


def _checked_against(
    event: Event, index: int, steps: np.ndarray, losses: np.ndarray, automatic: list[Event]
) -> Event:
    """A label checked against the values: a ``nonfinite`` label must hold only non-finite
    losses; a spike or plateau label may not share a step with a non-finite loss."""
    lo, hi = np.searchsorted(steps, [event.first, event.last + 1])
    if event.kind == "nonfinite":
        finite = np.flatnonzero(np.isfinite(losses[lo:hi]))
        if finite.size:
            at = lo + int(finite[0])
            raise SynthLossError(
                f"label {index} ({event.describe()}): the loss at step {int(steps[at])} is "
                f"finite ({float(losses[at])!r}); a nonfinite label holds only NaN/inf/-inf "
                "losses (they are labelled automatically)"
            )
        return event
    if event.kind in ("spike", "plateau"):
        for bad in automatic:
            if bad.first <= event.last and event.first <= bad.last:
                raise SynthLossError(
                    f"label {index} ({event.describe()}) overlaps the non-finite losses "
                    f"({bad.describe()}), labelled automatically: a step cannot be both "
                    f"{event.kind} and nonfinite"
                )
    return event


def _with_peak(event: Event, steps: np.ndarray, losses: np.ndarray) -> Event:
    if event.peak is not None or event.kind not in ("spike", "divergence", "plateau"):
        return event
    lo, hi = np.searchsorted(steps, [event.first, event.last + 1])
    window = losses[lo:hi]
    finite = window[np.isfinite(window)]
    if not finite.size:
        return event
    peak = {"spike": float(finite.max()), "divergence": float(finite[-1])}.get(
        event.kind, float(finite[0])
    )
    if peak < 0:
        return event
    return Event(event.kind, event.first, event.last, peak, event.values)
