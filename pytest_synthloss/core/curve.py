"""``LossCurve``: one deterministic training run of a profile, with its ground truth."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import flat_from, range_losses, synthetic_loss, trend_losses
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.registry import resolve_profile
from pytest_synthloss.core.sparklines import sparkline
from pytest_synthloss.core.validation import MAX_ARRAY_SIZE, MAX_STEP, check_lr, check_step

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
        """The step numbers, ``start_step .. last_step`` (read-only int64 array)."""
        self._check_size()
        arr = np.arange(self.start_step, self.last_step + 1, dtype=np.int64)
        arr.flags.writeable = False
        return arr

    @functools.cached_property
    def losses(self) -> np.ndarray:
        """The loss at each step (read-only float64 array, bit-identical to the spec)."""
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
        each chunk before taking the next: chunks stay out of the shared cache, and chunks
        wholly at the floor share one read-only array.
        """
        size = check_step(chunk_size, "chunk_size")
        first = self.start_step
        while first <= self.last_step:
            count = min(size, self.last_step - first + 1)
            chunk = LossCurve(self.profile, count, first, self.lr, self.batch_size)
            chunk._shared = False
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

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The profile's spike steps that fall within this run, ascending."""
        return tuple(s for s in self.profile.spikes if self.start_step <= s <= self.last_step)

    @property
    def spike_events(self) -> tuple[tuple[int, int], ...]:
        """Runs of consecutive spike steps as ``(first, last)`` pairs: spiky gives ``((4, 5),)``."""
        events: list[tuple[int, int]] = []
        for step in self.spike_steps:
            if events and events[-1][1] == step - 1:
                events[-1] = (events[-1][0], step)
            else:
                events.append((step, step))
        return tuple(events)

    @property
    def nonfinite_steps(self) -> tuple[int, ...]:
        """The profile's NaN/inf/-inf steps that fall within this run, ascending."""
        return tuple(s for s in self.profile.nonfinite if self.start_step <= s <= self.last_step)

    @property
    def divergence_step(self) -> int | None:
        """The first step of this run at which the loss is diverging; ``None`` if it ends before.

        That is the profile's divergence onset, or ``start_step`` for a run resumed after it.
        """
        onset = self.profile.divergence_step
        if onset is None or onset > self.last_step:
            return None
        return max(onset, self.start_step)

    @property
    def plateau_windows(self) -> tuple[tuple[int, int], ...]:
        """The profile's plateau windows cut to this run, as ``(first, last)`` pairs."""
        return tuple(
            (max(first, self.start_step), min(last, self.last_step))
            for first, last in self.profile.plateaus
            if first <= self.last_step and last >= self.start_step
        )

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


def _losses(profile: Profile, start_step: int, count: int, shared: bool) -> np.ndarray:
    """The read-only losses of a run: a shared array if the run is short, else a new one.

    A short run wholly at the floor (no spike or non-finite step in it) gets the one
    floor array of its length; other short runs are cached when ``shared``.
    """
    if count <= CACHE_MAX_STEPS:
        start = flat_from(profile)
        last = start_step + count - 1
        if (
            start is not None
            and start_step >= start
            and not any(start_step <= s <= last for s in profile.spikes)
            and not any(start_step <= s <= last for s in profile.nonfinite)
        ):
            return _floor_run(profile.floor, count)
        if shared:
            return _cached_losses(profile, start_step, count)
    arr = range_losses(profile, start_step, count)
    arr.flags.writeable = False
    return arr


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


def make_curve(
    steps: int,
    profile: Profile | str = "stable",
    *,
    start_step: int = 1,
    lr: float | None = None,
    batch_size: int | None = None,
) -> LossCurve:
    """A run of ``steps`` steps of ``profile`` (a Profile or registered name).

    ``start_step`` is the first step (a run resumed from a checkpoint starts later);
    ``lr`` and ``batch_size`` are logged in ``.config`` and never change the loss.
    """
    prof = resolve_profile(profile)
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
