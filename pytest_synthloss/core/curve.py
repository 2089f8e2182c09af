"""``LossCurve``: one deterministic training run of a profile, with its ground truth."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Event
from pytest_synthloss.core.model import flat_from, range_losses, synthetic_loss, trend_losses
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.registry import resolve_profile
from pytest_synthloss.core.sparklines import sparkline
from pytest_synthloss.core.steps import DEFAULT_STEPS
from pytest_synthloss.core.truth import events_between
from pytest_synthloss.core.validation import (
    MAX_ARRAY_SIZE,
    MAX_STEP,
    check_lr,
    check_step,
)

__all__ = ["LossCurve", "RunConfig", "make_curve"]

#: Curves up to this many steps keep their (read-only) loss arrays in a shared cache.
CACHE_MAX_STEPS = 1 << 20
#: Curves up to this many steps draw their repr sparkline from the real values.
_EXACT_PREVIEW_STEPS = 1 << 16


@dataclass(frozen=True)
class RunConfig:
    """The logged configuration of a run. ``lr`` and ``batch_size`` never affect the loss."""

    profile: str
    steps: int
    start_step: int = 1
    lr: float | None = None
    batch_size: int | None = None


class LossCurve:
    """The losses of ``steps`` consecutive steps of ``profile`` from ``start_step``.

    Values are computed on first access and exposed as read-only arrays, so a curve of
    10**9 steps costs nothing until used (stream it with :meth:`iter_chunks`). Ground truth
    (``spike_steps``, ``nonfinite_steps``, ``divergence_step``, ``plateau_windows``,
    ``floor_step``, ``final_loss``...) is derived from the profile, restricted to the run.
    Build curves with :func:`make_curve`.
    """

    __slots__ = ("__dict__", "_count", "_shared", "batch_size", "lr", "profile", "start_step")

    def __init__(
        self,
        profile: Profile,
        steps: int,
        start_step: int = 1,
        lr: float | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.profile = profile
        self._count = steps
        self.start_step = start_step
        self.lr = lr
        self.batch_size = batch_size
        self._shared = True  # keep the losses in the shared cache (chunks do not)

    # -- data ---------------------------------------------------------------------------

    @functools.cached_property
    def steps(self) -> np.ndarray:
        """The step numbers, ``start_step .. last_step`` (a read-only int64 array of its own)."""
        self._check_size()
        return _frozen(np.arange(self.start_step, self.last_step + 1, dtype=np.int64))

    @functools.cached_property
    def losses(self) -> np.ndarray:
        """The loss at each step (read-only float64 array, bit-identical to the spec).

        The array is this curve's own: no other curve shares its memory, and it cannot be
        made writable again (``setflags(write=True)`` raises ``ValueError``).
        """
        self._check_size()
        return _losses(self.profile, self.start_step, self._count, self._shared)

    def _check_size(self) -> None:
        """A whole curve in memory is at most :data:`MAX_ARRAY_SIZE` steps (2 GiB of losses)."""
        if self._count > MAX_ARRAY_SIZE:
            raise SynthLossError(
                f"a curve of {self._count} steps is too long to hold in memory at once (at most "
                f"{MAX_ARRAY_SIZE} steps); use iter_chunks(), or fewer steps"
            )

    def loss_at(self, step: int) -> float:
        """The loss at ``step``, which must lie within this run."""
        checked = check_step(step)
        if not self.start_step <= checked <= self.last_step:
            raise SynthLossError(
                f"step {checked} is outside this run (steps {self.start_step}..{self.last_step})"
            )
        return synthetic_loss(checked, self.profile)

    def iter_chunks(self, chunk_size: int = 1_000_000) -> Iterator[LossCurve]:
        """Yield the run as consecutive sub-curves of at most ``chunk_size`` steps.

        Memory stays constant whatever the run's length, as long as the caller drops
        each chunk before taking the next: chunks stay out of the shared cache, and the
        chunks of this one stream that lie wholly at the floor share one read-only array,
        made for this stream (no other stream, curve or test ever sees it).
        """
        size = check_step(chunk_size, "chunk_size")
        first = self.start_step
        floor_run: np.ndarray | None = None
        while first <= self.last_step:
            count = min(size, self.last_step - first + 1)
            chunk = LossCurve(self.profile, count, first, self.lr, self.batch_size)
            chunk._shared = False
            if count == size and _at_floor(self.profile, first, count):
                if floor_run is None:
                    floor_run = _frozen(np.full(size, self.profile.floor))
                chunk.__dict__["losses"] = floor_run  # the cached_property's value
            yield chunk
            first += count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[int, float]]:
        """Iterate over ``(step, loss)`` pairs as Python ints and floats."""
        for chunk in self.iter_chunks(1 << 16):
            yield from zip(chunk.steps.tolist(), chunk.losses.tolist(), strict=True)

    # -- ground truth -------------------------------------------------------------------

    @property
    def last_step(self) -> int:
        """The step number of the run's last step."""
        return self.start_step + self._count - 1

    @functools.cached_property
    def events(self) -> tuple[Event, ...]:
        """The run's ground-truth events, sorted by first step: the one source of truth.

        Each is an :class:`~pytest_synthloss.Event` (``kind``, ``first``, ``last``, detail)
        cut to the run; ``spike_steps``, ``spike_events``, ``nonfinite_steps``,
        ``divergence_step`` and ``plateau_windows`` are read from them. A step inside no
        event is normal.
        """
        return events_between(self.profile, self.start_step, self.last_step)

    def _spans(self, kind: str) -> tuple[tuple[int, int], ...]:
        return tuple(e.span for e in self.events if e.kind == kind)

    def _steps(self, kind: str) -> tuple[int, ...]:
        return tuple(s for e in self.events if e.kind == kind for s in range(e.first, e.last + 1))

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The steps of this run's ``"spike"`` events, ascending."""
        return self._steps("spike")

    @property
    def spike_events(self) -> tuple[tuple[int, int], ...]:
        """The ``"spike"`` events as ``(first, last)`` pairs: spiky gives ``((4, 5),)``."""
        return self._spans("spike")

    @property
    def nonfinite_steps(self) -> tuple[int, ...]:
        """The steps of this run's ``"nonfinite"`` events (NaN/inf/-inf losses), ascending."""
        return self._steps("nonfinite")

    @property
    def divergence_step(self) -> int | None:
        """The first step of the ``"divergence"`` event; ``None`` if the run ends before it.

        That is the profile's divergence onset, or ``start_step`` for a run resumed after it.
        """
        return next((e.first for e in self.events if e.kind == "divergence"), None)

    @property
    def plateau_windows(self) -> tuple[tuple[int, int], ...]:
        """The ``"plateau"`` events as ``(first, last)`` pairs."""
        return self._spans("plateau")

    @functools.cached_property
    def lrs(self) -> np.ndarray:
        """The LR of each step relative to the peak LR (read-only; all 1.0 without a shape).

        For a shaped profile: the warm-up times the schedule's decay, ``w(s) * d(s)``.
        """
        shape = self.profile.shape
        if shape is None:
            return _frozen(np.ones(self._count))
        from pytest_synthloss.core.shaped import shaped_lrs

        return _frozen(shaped_lrs(shape, np.asarray(self.steps)))

    @functools.cached_property
    def signals(self) -> Mapping[str, np.ndarray]:
        """The run's linked signals by name (read-only arrays; empty if the profile has none).

        ``grad_norm``, ``learning_rate``, ``loss_scale`` and ``step_time`` of every step:
        see :mod:`pytest_synthloss.core.signals`. A chunk computes its own steps only.
        """
        if self.profile.signals is None:
            return MappingProxyType({})
        from pytest_synthloss.core.signal_series import signal_values

        values = signal_values(self.profile, np.asarray(self.steps))
        return MappingProxyType({name: _frozen(array) for name, array in values.items()})

    @property
    def floor(self) -> float:
        """The profile's floor loss (1.05 for the built-ins)."""
        return self.profile.floor

    @property
    def floor_step(self) -> int | None:
        """The first step of this run whose baseline is at the floor; ``None`` if it ends before."""
        first = self.profile.floor_step
        if first is None or first > self.last_step:
            return None
        return max(first, self.start_step)

    @property
    def reaches_floor(self) -> bool:
        """Whether the run gets to the floor step."""
        return self.floor_step is not None

    @property
    def final_loss(self) -> float:
        """The loss at the last step."""
        return self.loss_at(self.last_step)

    @property
    def config(self) -> RunConfig:
        """The run's logged configuration (profile name, steps, start_step, lr, batch_size)."""
        return RunConfig(self.profile.name, self._count, self.start_step, self.lr, self.batch_size)

    # -- value semantics ----------------------------------------------------------------

    def _key(self) -> tuple[object, ...]:
        return (self.profile, self.start_step, self._count, self.lr, self.batch_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LossCurve):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        # By value, without the arrays: the copy recomputes them (pickle, deepcopy, Pool.map).
        return (_rebuild_curve, (*self._key(), self._shared))

    def preview(self, width: int = 40, marks: tuple[int, ...] = ()) -> str:
        """A sparkline of the curve, ``width`` columns at most; ``marks`` are step numbers."""
        positions = [m - self.start_step for m in marks]
        if self._count <= _EXACT_PREVIEW_STEPS:
            return sparkline(self.losses, width=width, marks=positions)
        return sparkline(
            self._bucket_peaks(width),
            width=width,
            marks=[p * min(width, self._count) // self._count for p in positions],
        )

    def _bucket_peaks(self, width: int) -> np.ndarray:
        # The trend never rises before the divergence onset and never falls after it, so a
        # bucket's peak is the trend at its first or last step, or a spike; a non-finite step
        # makes it NaN (shown as ×). Noise is not drawn: a long noisy curve shows its trend.
        columns = min(width, self._count)
        # Python ints: the edge after the last step can be 2**63, past int64.
        edges = [self.start_step + (i * self._count) // columns for i in range(columns + 1)]
        firsts = np.array(edges[:-1], dtype=np.int64)
        lasts = np.array([edge - 1 for edge in edges[1:]], dtype=np.int64)
        peaks: np.ndarray = np.maximum(
            trend_losses(firsts, self.profile), trend_losses(lasts, self.profile)
        )
        for step, loss in self.profile.spikes.items():
            if self.start_step <= step <= self.last_step:
                column = int(np.searchsorted(firsts, step, side="right")) - 1
                peaks[column] = max(peaks[column], loss)
        for step in self.nonfinite_steps:
            peaks[int(np.searchsorted(firsts, step, side="right")) - 1] = np.nan
        return peaks

    def __repr__(self) -> str:
        floor = f"floor@{self.floor_step}" if self.reaches_floor else "floor not reached"
        return (
            f"<LossCurve {self.profile.name} steps {self.start_step}..{self.last_step} "
            f"final={self.final_loss:.4g} {floor} {self.preview()}>"
        )


def _frozen(arr: np.ndarray, copy: bool = False) -> np.ndarray:
    """``arr`` (1-d, C-contiguous) as a read-only array that cannot be made writable again.

    The result views a read-only buffer (a copy in ``bytes`` when ``copy``, else a read-only
    memoryview of ``arr``, which nothing else holds), so ``setflags(write=True)`` raises.
    """
    buffer: bytes | memoryview = arr.tobytes() if copy else arr.data.toreadonly()
    return np.frombuffer(buffer, dtype=arr.dtype)


def _losses(profile: Profile, start_step: int, count: int, shared: bool) -> np.ndarray:
    """The read-only losses of a run, in an array of its own.

    Short runs are computed once and cached (a run wholly at the floor, with no spike or
    non-finite step, shares the floor array of its length; other short runs are cached
    when ``shared``); each curve gets its own read-only copy of the cached array, so no
    curve can change another's losses, whatever it does to its own.
    """
    if count <= CACHE_MAX_STEPS and shared:
        if _at_floor(profile, start_step, count):
            return _frozen(_floor_run(profile.floor, count), copy=True)
        return _frozen(_cached_losses(profile, start_step, count), copy=True)
    return _frozen(range_losses(profile, start_step, count))


def _at_floor(profile: Profile, start_step: int, count: int) -> bool:
    """Whether every loss of the run is the floor (no spike or non-finite step in it)."""
    start = flat_from(profile)
    last = start_step + count - 1
    return (
        start is not None
        and start_step >= start
        and not any(start_step <= s <= last for s in profile.spikes)
        and not any(start_step <= s <= last for s in profile.nonfinite)
    )


@functools.lru_cache(maxsize=4)
def _floor_run(floor: float, count: int) -> np.ndarray:
    arr = np.full(count, floor)
    arr.flags.writeable = False
    return arr


@functools.lru_cache(maxsize=128)
def _cached_losses(profile: Profile, start_step: int, count: int) -> np.ndarray:
    arr = range_losses(profile, start_step, count)
    arr.flags.writeable = False
    return arr


def _rebuild_curve(
    profile: Profile,
    start_step: int,
    count: int,
    lr: float | None,
    batch_size: int | None,
    shared: bool,
) -> LossCurve:
    curve = LossCurve(profile, count, start_step, lr, batch_size)
    curve._shared = shared
    return curve


def make_curve(
    steps: int | None = None,
    profile: Profile | str = "stable",
    *,
    start_step: int = 1,
    lr: float | None = None,
    batch_size: int | None = None,
) -> LossCurve:
    """A run of ``steps`` steps of ``profile`` (a Profile or registered name).

    ``start_step`` is the first step (a run resumed from a checkpoint starts later);
    ``lr`` and ``batch_size`` are logged in ``.config`` and never change the loss.
    ``steps=None`` runs the profile's natural length (``Profile.steps``, else 20). A
    recorded run (:mod:`pytest_synthloss.core.recorded_runs`) gives its logged values.
    """
    prof = resolve_profile(profile)
    recorded = getattr(prof, "recorded_make", None)  # core.recorded_runs.RecordedProfile
    if recorded is not None:  # a recorded run: its logged values, its natural length
        curve: LossCurve = recorded(steps, start_step, lr, batch_size)
        return curve
    if steps is None:
        steps = DEFAULT_STEPS if prof.steps is None else prof.steps
    count = check_step(steps, "steps (the number of steps in the run)")
    first = check_step(start_step, "start_step")
    if first + count - 1 > MAX_STEP:
        raise SynthLossError(
            f"the run would end at step {first + count - 1}, past the last step {MAX_STEP}"
        )
    checked_lr = check_lr(lr)
    if batch_size is not None:
        batch_size = check_step(batch_size, "batch_size")
    return LossCurve(prof, count, first, checked_lr, batch_size)
