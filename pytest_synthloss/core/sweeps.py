"""Hyperparameter sweeps over the loss model: a grid of configs, ranked, and the best one.

A config is ``(profile, steps, lr, batch_size)``; its result is the run's final loss and
ground truth. Every column is computed with numpy, one ``synthetic_losses`` call per
profile, so a grid of a million configs takes milliseconds. A sweep holds at most
:data:`MAX_SWEEP_CONFIGS` configs, and every value of an axis may be listed once.

**Ranking rule** (:meth:`SweepResults.ranked`, :func:`best_config`), key by key:

1. runs without a non-finite (NaN/inf/-inf) loss first: a run that logged one is never
   preferred to one that did not, whatever its final loss;
2. lowest final loss;
3. fewest spike steps within the run (a run that never spiked is the safer model);
4. fewest steps (the cheapest run reaching that loss);
5. the order the profiles were given in;
6. smallest ``lr``, then smallest ``batch_size`` (not logged first).

Spike and non-finite counts are the steps of the run's ``"spike"`` and ``"nonfinite"``
events (``LossCurve.events``).

``lr`` and ``batch_size`` never change the loss, so configs differing only in them always
tie; rule 5 only makes the choice deterministic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.model import as_steps, synthetic_losses
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.registry import available_profiles, resolve_profile
from pytest_synthloss.core.validation import MAX_STEP, check_lr, check_step

__all__ = [
    "MAX_SWEEP_CONFIGS",
    "SweepResults",
    "SweepRow",
    "sweep",
]

#: Most configs one sweep runs (its table takes about 100 bytes per config, ranked).
MAX_SWEEP_CONFIGS = 1_000_000


class SweepRow(NamedTuple):
    """One config of a sweep and its result."""

    profile: str
    steps: int
    lr: float | None
    batch_size: int | None
    final_loss: float
    spikes: int
    reaches_floor: bool
    nonfinite: int = 0


@dataclass(frozen=True, eq=False)
class SweepResults:
    """A tidy table of sweep results: one numpy column per field, one row per config.

    ``profile_index`` indexes ``profiles``; ``lr`` is NaN and ``batch_size`` is 0 where
    the value is not logged (rows give ``None``). ``spikes`` and ``nonfinite`` count the
    run's spike and non-finite steps. Iterate (or call :meth:`rows`) for :class:`SweepRow` tuples.
    """

    profiles: tuple[Profile, ...]
    start_step: int
    profile_index: np.ndarray
    steps: np.ndarray
    lr: np.ndarray
    batch_size: np.ndarray
    final_loss: np.ndarray
    spikes: np.ndarray
    reaches_floor: np.ndarray
    nonfinite: np.ndarray

    _COLUMNS = (
        "profile_index",
        "steps",
        "lr",
        "batch_size",
        "final_loss",
        "spikes",
        "reaches_floor",
        "nonfinite",
    )

    def __post_init__(self) -> None:
        for name in self._COLUMNS:
            getattr(self, name).flags.writeable = False

    @property
    def profile(self) -> np.ndarray:
        """The profile name of each row."""
        names: np.ndarray = np.array([p.name for p in self.profiles])[self.profile_index]
        return names

    def __len__(self) -> int:
        return int(self.steps.size)

    def __getitem__(self, index: int) -> SweepRow:
        lr = float(self.lr[index])
        batch_size = int(self.batch_size[index])
        return SweepRow(
            self.profiles[int(self.profile_index[index])].name,
            int(self.steps[index]),
            None if math.isnan(lr) else lr,
            batch_size or None,
            float(self.final_loss[index]),
            int(self.spikes[index]),
            bool(self.reaches_floor[index]),
            int(self.nonfinite[index]),
        )

    def __iter__(self) -> Iterator[SweepRow]:
        return (self[i] for i in range(len(self)))

    def rows(self) -> list[SweepRow]:
        """All rows as :class:`SweepRow` tuples."""
        return list(self)

    def take(self, index: np.ndarray) -> SweepResults:
        """The rows at ``index`` (an integer or boolean array), as a new table."""
        columns = {name: getattr(self, name)[index] for name in self._COLUMNS}
        return SweepResults(self.profiles, self.start_step, **columns)

    def ranked(self) -> SweepResults:
        """The rows sorted by the ranking rule (see the module docstring): best first."""
        lr = np.where(np.isnan(self.lr), -np.inf, self.lr)
        order = np.lexsort(
            (
                self.batch_size,
                lr,
                self.profile_index,
                self.steps,
                self.spikes,
                self.final_loss,
                self.nonfinite > 0,
            )
        )
        return self.take(order)


#: The profiles a sweep covers by default: the two the spec compares.
SPEC_PROFILES = ("stable", "spiky")


def sweep(
    profiles: Iterable[Profile | str] | Profile | str | None = None,
    steps: Iterable[int] | int = tuple(range(1, 31)),
    lr: Iterable[float | None] | float | None = None,
    batch_size: Iterable[int | None] | int | None = None,
    *,
    start_step: int = 1,
) -> SweepResults:
    """Run the grid ``profiles x steps x lr x batch_size`` and return its results.

    Each argument takes one value or an iterable of values. ``profiles=None`` means the
    spec's two profiles, ``stable`` and ``spiky`` (the spec's best-config question is about
    them); ``profiles="all"`` means every registered profile. Rows come in grid order
    (profile, then steps, lr, batch_size).
    """
    profs = _profiles(profiles)
    raw = np.atleast_1d(steps) if isinstance(steps, np.ndarray) else _listed(steps, "steps")
    steps_arr = as_steps(raw if isinstance(raw, (list, np.ndarray)) else [raw]).astype(np.int64)
    if steps_arr.ndim != 1 or not steps_arr.size:
        raise SynthLossError(f"steps must be one or more integers >= 1, got {steps!r}")
    _check_count(steps_arr.size, "steps")
    unique, counts = np.unique(steps_arr, return_counts=True)
    if unique.size != steps_arr.size:
        raise SynthLossError(f"steps {int(unique[counts > 1][0])} is listed twice in the sweep")
    first = check_step(start_step, "start_step")
    if int(steps_arr.max()) > MAX_STEP - first + 1:
        raise SynthLossError(f"a run of {int(steps_arr.max())} steps from {first} is too long")
    lr_values = _values(lr, _check_lr, "lr")
    size_values = _values(batch_size, _check_batch_size, "batch_size")
    shape = (len(profs), int(steps_arr.size), len(lr_values), len(size_values))
    if math.prod(shape) > MAX_SWEEP_CONFIGS:
        raise SynthLossError(
            f"the sweep has {math.prod(shape)} configs ({shape[0]} profiles x {shape[1]} steps "
            f"x {shape[2]} lr x {shape[3]} batch_size); a sweep runs at most "
            f"{MAX_SWEEP_CONFIGS} configs (MAX_SWEEP_CONFIGS)"
        )
    lrs = np.array([np.nan if v is None else v for v in lr_values], np.float64)
    sizes = np.array([v or 0 for v in size_values], np.int64)

    last = steps_arr + (first - 1)
    finals = np.empty((len(profs), steps_arr.size), dtype=np.float64)
    spikes = np.empty((len(profs), steps_arr.size), dtype=np.int64)
    nonfinite = np.empty((len(profs), steps_arr.size), dtype=np.int64)
    floors = np.empty((len(profs), steps_arr.size), dtype=bool)
    for row, prof in enumerate(profs):
        finals[row] = synthetic_losses(last, prof)
        spikes[row] = _count_within(prof.spike_steps, first, last)
        nonfinite[row] = _count_within(prof.nonfinite_steps, first, last)
        floors[row] = prof.floor_step is not None and last >= prof.floor_step

    per_config = lrs.size * sizes.size
    count = len(profs) * steps_arr.size * per_config
    return SweepResults(
        profiles=profs,
        start_step=first,
        profile_index=np.repeat(np.arange(len(profs)), steps_arr.size * per_config),
        steps=np.tile(np.repeat(steps_arr, per_config), len(profs)),
        lr=np.tile(np.repeat(lrs, sizes.size), count // per_config),
        batch_size=np.tile(sizes, count // sizes.size),
        final_loss=np.repeat(finals.ravel(), per_config),
        spikes=np.repeat(spikes.ravel(), per_config),
        reaches_floor=np.repeat(floors.ravel(), per_config),
        nonfinite=np.repeat(nonfinite.ravel(), per_config),
    )


def _count_within(steps: tuple[int, ...], first: int, last: np.ndarray) -> np.ndarray:
    """How many of the (ascending) ``steps`` lie in ``first..last`` for each ``last``."""
    keys = np.array(steps, dtype=np.int64)
    counts: np.ndarray = np.searchsorted(keys, last, side="right") - np.searchsorted(keys, first)
    return counts


def _listed(value: Any, what: str) -> Any:
    """``value`` as a list if it is an iterable (at most one more than the limit of items)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return value
    items = list(itertools.islice(value, MAX_SWEEP_CONFIGS + 1))
    _check_count(len(items), what)
    return items


def _check_count(count: int, what: str) -> None:
    if count > MAX_SWEEP_CONFIGS:
        raise SynthLossError(
            f"the sweep has more than {MAX_SWEEP_CONFIGS} {what}; a sweep runs at most "
            f"{MAX_SWEEP_CONFIGS} configs (MAX_SWEEP_CONFIGS)"
        )


def _profiles(profiles: Iterable[Profile | str] | Profile | str | None) -> tuple[Profile, ...]:
    if profiles is None:
        return tuple(resolve_profile(name) for name in SPEC_PROFILES)
    if profiles == "all":
        return tuple(resolve_profile(name) for name in available_profiles())
    if isinstance(profiles, (Profile, str)):
        profiles = [profiles]
    resolved = tuple(resolve_profile(p) for p in profiles)
    if not resolved:
        raise SynthLossError("profiles must name at least one profile, got none")
    names = [p.name for p in resolved]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise SynthLossError(f"profile {duplicate!r} is listed twice in the sweep")
    return resolved


def _values(value: object, check: object, what: str) -> list[Any]:
    items = _listed(value, what)
    values = items if isinstance(items, list) else [items]
    if not values:
        raise SynthLossError("every sweep axis needs at least one value, got an empty list")
    checked = [check(v) for v in values]  # type: ignore[operator]
    seen: set[object] = set()
    for item in checked:
        if item in seen:
            raise SynthLossError(f"{what} {item!r} is listed twice in the sweep")
        seen.add(item)
    return checked


def _check_lr(value: object) -> float | None:
    return check_lr(value)


def _check_batch_size(value: object) -> int | None:
    return None if value is None else check_step(value, "batch_size")
