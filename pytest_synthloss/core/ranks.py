"""Data-parallel runs: ``world_size`` ranks, rank-local events and the all-reduced loss.

A profile with ``ranks=Ranks(world_size, ...)`` is one run of ``world_size`` data-parallel
ranks. Rank ``r`` sees its own data shard: its loss is the profile's trend (line, plateaus,
divergence) with noise of its own, ``Noise(sigma, seed=rank_seed(seed, r))``, and its own
spikes and non-finite steps (:func:`rank_profile`). The profile's loss, what rank 0 logs
after ``all_reduce(SUM) / world_size``, is the mean in rank order::

    reduced(step) = (((loss_0 + loss_1) + loss_2) + ... + loss_{N-1}) / N

in float64, so a NaN on any rank makes it NaN (and ``inf`` with ``-inf`` too). Every value
is a pure function of ``(seed, step, rank)``; scalar and vector paths add in the same order,
bit for bit.

Ground truth (:func:`rank_truth`): each rank's *flags*, the steps its own guard must flag
(its spike and non-finite steps), and the all-reduced *decision*, the steps at which any
rank flags: what a guard that all-reduces its flag (``MAX``) decides on every rank. The
reduced run's own events (``LossCurve.events``) are those steps: a step where the reduced
loss is non-finite is a ``"nonfinite"`` event, any other a ``"spike"`` whose loss is the
reduced value (a rank-local spike shows diluted by ``world_size``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Noise
from pytest_synthloss.core.profile_checks import canonical_nonfinite, sort_key
from pytest_synthloss.core.validation import LOSS_CEILING, check_float, check_int, check_step

if TYPE_CHECKING:
    import numpy as np

    from pytest_synthloss.core.curve import LossCurve
    from pytest_synthloss.core.profiles import Profile

__all__ = [
    "MAX_WORLD_SIZE",
    "RankTruth",
    "Ranks",
    "attach_ranks",
    "rank_curves",
    "rank_profile",
    "rank_seed",
    "rank_truth",
    "reduced_loss",
    "reduced_losses",
    "reduced_overrides",
]

#: The most ranks a run may have.
MAX_WORLD_SIZE = 4096
#: Rank seeds are ``seed * 2**32 + rank``: ``seed`` is at most ``2**64 - 1``.
MAX_RANK_SEED = 2**64 - 1

RankEvents = tuple[tuple[int, tuple[tuple[int, float], ...]], ...]


@dataclass(frozen=True, init=False)
class Ranks:
    """``world_size`` data-parallel ranks: their noise and their rank-local events.

    ``spikes`` maps a rank to ``{step: loss}``, ``nonfinite`` a rank to ``{step: nan | inf |
    -inf}``; ``sigma`` (>= 0) is each rank's multiplicative noise, drawn from
    ``rank_seed(seed, rank)``. Held as sorted tuples (hashable); :meth:`spikes_of` and
    :meth:`nonfinite_of` give one rank's as a mapping. Bad values are refused here.
    """

    world_size: int
    spikes: RankEvents
    nonfinite: RankEvents
    sigma: float
    seed: int

    def __init__(
        self,
        world_size: int,
        spikes: Mapping[int, Mapping[int, float]] | RankEvents = (),
        nonfinite: Mapping[int, Mapping[int, float]] | RankEvents = (),
        sigma: float = 0.01,
        seed: int = 0,
    ) -> None:
        size = check_int("ranks world_size", world_size, 1, MAX_WORLD_SIZE)
        object.__setattr__(self, "world_size", size)
        object.__setattr__(self, "spikes", _rank_events("spikes", spikes, size, _spike_loss))
        bad = _rank_events("nonfinite", nonfinite, size, _nonfinite_loss)
        for rank, steps in bad:
            twice = sorted(dict(steps).keys() & self.spikes_of(rank).keys())
            if twice:
                raise SynthLossError(
                    f"ranks: step {twice[0]} of rank {rank} is both a spike and a non-finite "
                    "step; a step of a rank takes one override"
                )
        object.__setattr__(self, "nonfinite", bad)
        object.__setattr__(self, "sigma", check_float("ranks sigma", sigma, minimum=0.0))
        object.__setattr__(self, "seed", check_int("ranks seed", seed, 0, MAX_RANK_SEED))

    def spikes_of(self, rank: int) -> dict[int, float]:
        """Rank ``rank``'s spikes ``{step: loss}``."""
        return dict(dict(self.spikes).get(rank, ()))

    def nonfinite_of(self, rank: int) -> dict[int, float]:
        """Rank ``rank``'s non-finite steps ``{step: nan | inf | -inf}``."""
        return dict(dict(self.nonfinite).get(rank, ()))

    def __reduce__(self) -> tuple[object, ...]:  # rebuilt by value: NaN stays math.nan
        return (Ranks, (self.world_size, self.spikes, self.nonfinite, self.sigma, self.seed))

    def __repr__(self) -> str:
        text = f"Ranks(world_size={self.world_size}"
        for name in ("spikes", "nonfinite"):
            events = {rank: dict(steps) for rank, steps in getattr(self, name)}
            if events:
                text += f", {name}={events!r}"
        return f"{text}, sigma={self.sigma!r}, seed={self.seed!r})"


def _spike_loss(value: object, where: str) -> float:
    return check_float(f"ranks: {where}", value, minimum=0.0, maximum=LOSS_CEILING)


def _nonfinite_loss(value: object, where: str) -> float:
    canonical = canonical_nonfinite(value)
    if canonical is None:
        raise SynthLossError(f"ranks: {where} must be nan, inf or -inf, got {value!r}")
    return canonical


def _rank_events(what: str, value: object, size: int, check: object) -> RankEvents:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = list(items)  # type: ignore[call-overload]
    except TypeError:
        raise SynthLossError(
            f"ranks {what} must be a mapping {{rank: {{step: loss}}}}, got {value!r}"
        ) from None
    out: list[tuple[int, tuple[tuple[int, float], ...]]] = []
    for pair in sorted(pairs, key=lambda kv: sort_key(kv[0])):
        rank, steps = pair
        checked_rank = check_int(f"ranks {what}: rank", rank, 0, size - 1, "world_size - 1")
        if not isinstance(steps, Mapping):
            steps = dict(steps)
        events = []
        for step, loss in sorted(steps.items(), key=lambda kv: sort_key(kv[0])):
            at = check_step(step, f"ranks {what} of rank {checked_rank}: step")
            events.append((at, check(loss, f"{what} of rank {checked_rank} at step {at}")))  # type: ignore[operator]
        if events:
            out.append((checked_rank, tuple(events)))
    return tuple(out)


def rank_seed(seed: int, rank: int) -> int:
    """The noise seed of rank ``rank`` of a run seeded ``seed``: ``seed * 2**32 + rank``."""
    return seed * 2**32 + rank


@functools.lru_cache(maxsize=512)
def rank_profile(profile: Profile, rank: int) -> Profile:
    """Rank ``rank``'s own run of ``profile`` (a plain profile named ``<name>/rank-<rank>``)."""
    ranks = _ranks(profile)
    checked = check_int("rank", rank, 0, ranks.world_size - 1, "world_size - 1")
    return replace(
        profile,
        name=f"{profile.name}/rank-{checked}",
        description=f"rank {checked} of the {ranks.world_size} ranks of {profile.name!r}",
        spikes=ranks.spikes_of(checked),
        nonfinite=ranks.nonfinite_of(checked),
        noise=Noise(ranks.sigma, rank_seed(ranks.seed, checked)) if ranks.sigma else None,
        ranks=None,
        cohort=None,
    )


def _ranks(profile: Profile) -> Ranks:
    if profile.ranks is None:
        raise SynthLossError(f"profile {profile.name!r} has no ranks (it is a one-rank run)")
    return profile.ranks


def attach_ranks(profile: Profile) -> None:
    """Check ``profile.ranks`` against the profile (called by ``Profile`` itself).

    Each rank with events of its own is built, so that its events are checked against
    the profile's plateaus and divergence like any profile's; no numpy is needed.
    """
    where = f"profile {profile.name!r}"
    if not isinstance(profile.ranks, Ranks):
        raise SynthLossError(f"{where}: ranks must be a Ranks or None, got {profile.ranks!r}")
    if profile.shape is not None or profile.noise is not None:
        raise SynthLossError(
            f"{where}: ranks need a profile on the spec's line without noise (shape=None, "
            "noise=None); each rank's noise is Ranks(sigma=..., seed=...)"
        )
    if profile.spikes or profile.nonfinite:
        raise SynthLossError(
            f"{where}: with ranks, spikes and non-finite steps belong to a rank; give them "
            "per rank: Ranks(spikes={rank: {step: loss}}, nonfinite=...)"
        )
    for rank in sorted({r for r, _ in (*profile.ranks.spikes, *profile.ranks.nonfinite)}):
        rank_profile(profile, rank)


def reduced_loss(profile: Profile, step: int, loss: Callable[[int, Profile], float]) -> float:
    """The all-reduced loss at ``step``: ``loss(step, rank)`` summed in rank order, over N."""
    ranks = _ranks(profile)
    total = loss(step, rank_profile(profile, 0))
    for rank in range(1, ranks.world_size):
        total = total + loss(step, rank_profile(profile, rank))
    return total / ranks.world_size


def reduced_losses(
    profile: Profile,
    steps: np.ndarray,
    out: np.ndarray,
    losses: Callable[[np.ndarray, Profile], np.ndarray],
) -> np.ndarray:
    """:func:`reduced_loss` at every step of the 1-d int64 ``steps``, into ``out``: the
    same operations in the same order, so bit for bit the same values."""
    import numpy as np

    ranks = _ranks(profile)
    out[:] = losses(steps, rank_profile(profile, 0))
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as in the scalar sum
        for rank in range(1, ranks.world_size):
            np.add(out, losses(steps, rank_profile(profile, rank)), out=out)
        np.divide(out, ranks.world_size, out=out)
    return out


def reduced_overrides(ranks: Ranks) -> tuple[tuple[int, ...], dict[int, float]]:
    """The reduced run's spike steps, and its non-finite steps with their values.

    A step where some rank is non-finite is non-finite after the reduction: the sum of
    the ranks' non-finite values (NaN if one is NaN, or ``inf`` meets ``-inf``).
    """
    bad: dict[int, float] = {}
    for _, events in ranks.nonfinite:
        for step, value in events:
            bad[step] = bad.get(step, 0.0) + value
    spikes = {s for _, events in ranks.spikes for s, _ in events} - bad.keys()
    canonical = {s: canonical_nonfinite(v) for s, v in sorted(bad.items())}
    return tuple(sorted(spikes)), canonical  # type: ignore[return-value]


def rank_curves(curve: LossCurve) -> tuple[LossCurve, ...]:
    """Each rank's own run over the steps of ``curve`` (a run of a profile with ranks)."""
    ranks = _ranks(curve.profile)
    return tuple(
        type(curve)(rank_profile(curve.profile, r), len(curve), curve.start_step, curve.lr)
        for r in range(ranks.world_size)
    )


@dataclass(frozen=True)
class RankTruth:
    """The ground truth of a multi-rank run: each rank's flags and the all-reduced decision.

    ``flags[r]`` are the steps rank ``r``'s own guard must flag (its spike and non-finite
    steps within the run); ``decision`` the steps at which any rank flags, which every rank
    acts on after an all-reduce (``MAX``) of the flags; ``nonfinite`` the steps whose
    reduced loss is NaN or infinite.
    """

    world_size: int
    flags: tuple[tuple[int, ...], ...]
    decision: tuple[int, ...]
    nonfinite: tuple[int, ...]

    def missed_by(self, rank: int) -> tuple[int, ...]:
        """The decision's steps that a guard watching rank ``rank`` alone would miss."""
        return tuple(s for s in self.decision if s not in self.flags[rank])


def rank_truth(curve: LossCurve) -> RankTruth:
    """The :class:`RankTruth` of ``curve``, a run of a profile with ranks."""
    ranks = _ranks(curve.profile)
    first, last = curve.start_step, curve.last_step
    flags = tuple(
        tuple(
            sorted(s for s in (*ranks.spikes_of(r), *ranks.nonfinite_of(r)) if first <= s <= last)
        )
        for r in range(ranks.world_size)
    )
    decision = tuple(sorted({s for steps in flags for s in steps}))
    return RankTruth(ranks.world_size, flags, decision, curve.nonfinite_steps)
