"""Loss profiles as data: ``Profile``, its failure-mode events, and the built-in profiles.

A profile holds the parameters of the spec's formula::

    baseline(step) = max(floor, start - (decay * step))
    loss(step)     = spikes[step] if step in spikes else baseline(step)

and, optionally, declared failure-mode events. They compose in this order (the contract;
:mod:`pytest_synthloss.core.model` implements it, scalar and vectorized, bit for bit):

1. **plateaus** ``((first, last), ...)``: every step of a window holds the baseline of the
   window's first step, ``baseline(first)``; after ``last`` the baseline resumes (a drop,
   as after an LR cut).
2. **divergence** ``Divergence(start_step=k, rate, mode)``: from step ``k`` on the loss
   rises for good from ``anchor``, the step ``k - 1`` value of (1) (``start`` if k == 1):
   ``anchor * (1 + rate) ** (step - k + 1)`` ("exponential", the power taken by repeated
   squaring) or ``anchor + rate * (step - k + 1)`` ("linear"), capped at ``LOSS_CEILING``.
3. **noise** ``Noise(sigma, seed, mode)``: ``loss * (1 + sigma * z)`` ("multiplicative")
   or ``loss + sigma * z`` ("additive"), clipped to ``[0, LOSS_CEILING]``, where ``z`` is a
   pure function of ``(seed, step)`` (see :func:`pytest_synthloss.model.noise_at`).
4. **spikes** ``{step: loss}`` replace the value at their step.
5. **non-finite steps** ``{step: nan | inf | -inf}`` replace the value at their step.

A ``shape`` replaces the line by a realistic run (:mod:`pytest_synthloss.core.shapes`);
``steps`` is the profile's natural length. Without events a profile is exactly the spec's
formula (``stable`` and ``spiky`` are bit for bit the spec's). Everything a test may want
to know (spike steps, non-finite steps, the divergence onset, plateau windows, the first
step at the floor) is *derived* from these fields, never typed twice.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Divergence, Noise
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.profile_checks import (
    canonical_nonfinite,
    check_param,
    check_shape,
    checked_plateaus,
    sort_key,
)
from pytest_synthloss.core.profile_checks import (
    floor_step as line_floor_step,
)
from pytest_synthloss.core.shapes import Shape
from pytest_synthloss.core.signals import Signals
from pytest_synthloss.core.validation import (
    MAX_STEP,
    check_name,
    check_step,
)

if TYPE_CHECKING:
    from pytest_synthloss.core.cohorts import Cohort
    from pytest_synthloss.core.ranks import Ranks

__all__ = ["Profile"]


@dataclass(frozen=True)
class Profile:
    """A named, immutable loss profile: the spec's formula, its parameters and its events.

    ``spikes`` maps a step to the loss that replaces the value at that step;
    ``nonfinite`` maps a step to ``nan``, ``inf`` or ``-inf``; ``divergence`` (a
    :class:`Divergence`), ``plateaus`` (``(first, last)`` windows) and ``noise`` (a
    :class:`Noise`) are optional. See the module docstring for how they compose.
    ``faults`` (a :class:`~pytest_synthloss.faults.Faults`) are emulator-level faults of
    a run of this profile (stall, restart, dropped steps, crash): they change what the
    emulator logs and when, never the loss of a step. ``signals`` (a
    :class:`~pytest_synthloss.core.signals.Signals`) add the gradient norm, learning rate,
    loss scale and step time of every step, with their events. ``ranks`` (a
    :class:`~pytest_synthloss.core.ranks.Ranks`) makes it a run of several data-parallel
    ranks whose loss is the all-reduced mean; ``cohort`` (a
    :class:`~pytest_synthloss.core.cohorts.Cohort`) makes it the first of a family of trials.
    Instances are hashable and compare by value; contradictory events are refused.
    """

    name: str
    start: float = 2.25
    decay: float = 0.07
    floor: float = 1.05
    spikes: Mapping[int, float] = field(default_factory=dict)
    description: str = ""
    nonfinite: Mapping[int, float] = field(default_factory=dict)
    divergence: Divergence | None = None
    plateaus: tuple[tuple[int, int], ...] = ()
    noise: Noise | None = None
    faults: Faults | None = None
    shape: Shape | None = None
    steps: int | None = None
    signals: Signals | None = None
    ranks: Ranks | None = None
    cohort: Cohort | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "profile name")
        if "," in self.name:
            raise SynthLossError(
                f"profile name must not contain commas (they separate the names of a "
                f"selection), got {self.name!r}"
            )
        if self.name == "all":
            raise SynthLossError("profile name 'all' is reserved (it selects every profile)")
        if not isinstance(self.description, str):
            raise SynthLossError(
                f"profile {self.name!r}: description must be a string, got {self.description!r}"
            )
        start = check_param("start", self.start, self.name)
        decay = check_param("decay", self.decay, self.name)
        floor = check_param("floor", self.floor, self.name)
        if isinstance(self.shape, Shape) and self.shape.trend is not None:
            floor = self.shape.trend.E  # the trend's floor is the profile's
        elif floor > start:
            raise SynthLossError(
                f"profile {self.name!r}: floor {floor!r} is above start {start!r}; "
                "the floor must be <= start"
            )
        spikes = self._checked_spikes()
        nonfinite = self._checked_nonfinite(spikes)
        for what, value, kind in (
            ("divergence", self.divergence, Divergence),
            ("noise", self.noise, Noise),
            ("signals", self.signals, Signals),
        ):
            if value is not None and not isinstance(value, kind):
                raise SynthLossError(
                    f"profile {self.name!r}: {what} must be a {kind.__name__} or None, "
                    f"got {value!r}"
                )
        plateaus = checked_plateaus(self.name, self.plateaus, spikes, nonfinite, self.divergence)
        if self.faults is not None and not isinstance(self.faults, Faults):
            raise SynthLossError(
                f"profile {self.name!r}: faults must be a Faults or None, got {self.faults!r}"
            )
        overrides = tuple(
            [("spike", a, a) for a in spikes]
            + [("nonfinite", a, a) for a in nonfinite]
            + [("plateau", a, b) for a, b in plateaus]
        )
        onset = None if self.divergence is None else self.divergence.start_step
        steps = check_shape(self.name, self.shape, self.steps, overrides, onset)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "spikes", MappingProxyType(spikes))
        object.__setattr__(self, "nonfinite", MappingProxyType(nonfinite))
        object.__setattr__(self, "plateaus", plateaus)
        if self.ranks is not None:
            from pytest_synthloss.core.ranks import attach_ranks

            attach_ranks(self)
        if self.cohort is not None:
            from pytest_synthloss.core.cohorts import check_cohort

            check_cohort(self)

    def _checked_spikes(self) -> dict[int, float]:
        if not isinstance(self.spikes, Mapping):
            raise SynthLossError(
                f"profile {self.name!r}: spikes must be a mapping {{step: loss}}, "
                f"got {self.spikes!r}"
            )
        spikes: dict[int, float] = {}
        for step, loss in sorted(self.spikes.items(), key=lambda kv: sort_key(kv[0])):
            where = f"profile {self.name!r}: spike step"
            checked = check_step(step, where)
            spikes[checked] = check_param(f"spike loss at step {checked}", loss, self.name)
        return spikes

    def _checked_nonfinite(self, spikes: Mapping[int, float]) -> dict[int, float]:
        if not isinstance(self.nonfinite, Mapping):
            raise SynthLossError(
                f"profile {self.name!r}: nonfinite must be a mapping "
                f"{{step: nan | inf | -inf}}, got {self.nonfinite!r}"
            )
        nonfinite: dict[int, float] = {}
        for step, value in sorted(self.nonfinite.items(), key=lambda kv: sort_key(kv[0])):
            checked = check_step(step, f"profile {self.name!r}: non-finite step")
            canonical = canonical_nonfinite(value)
            if canonical is None:
                raise SynthLossError(
                    f"profile {self.name!r}: non-finite loss at step {checked} must be "
                    f"nan, inf or -inf, got {value!r}"
                )
            if checked in spikes:
                raise SynthLossError(
                    f"profile {self.name!r}: step {checked} is both a spike and a non-finite "
                    "step; a step takes one override"
                )
            nonfinite[checked] = canonical
        return nonfinite

    def __hash__(self) -> int:
        return hash(tuple(_hashable(getattr(self, f.name)) for f in fields(self)))

    def __repr__(self) -> str:
        spikes = dict(self.spikes)
        text = (
            f"Profile(name={self.name!r}, start={self.start!r}, decay={self.decay!r}, "
            f"floor={self.floor!r}, spikes={spikes!r}"
        )
        if self.nonfinite:
            text += f", nonfinite={dict(self.nonfinite)!r}"
        if self.divergence is not None:
            text += f", divergence={self.divergence!r}"
        if self.plateaus:
            text += f", plateaus={self.plateaus!r}"
        if self.noise is not None:
            text += f", noise={self.noise!r}"
        if self.faults is not None:
            text += f", faults={self.faults!r}"
        if self.shape is not None:
            text += f", shape={self.shape!r}"
        if self.steps is not None:
            text += f", steps={self.steps!r}"
        for name in ("signals", "ranks", "cohort"):
            if getattr(self, name) is not None:
                text += f", {name}={getattr(self, name)!r}"
        return text + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        # The mappings are read-only proxies, which do not pickle: rebuild from plain dicts.
        return (_rebuild_profile, tuple(_plain(getattr(self, f.name)) for f in fields(self)))

    # -- ground truth, derived ---------------------------------------------------------

    def baseline(self, step: int) -> float:
        """The spec's baseline ``max(floor, start - (decay * step))`` at ``step``.

        For a shaped profile: its noise-free value (``shapes`` steps 1-4) at ``step``.
        """
        if self.shape is not None:
            from pytest_synthloss.core.shaped import shaped_base  # the engine imports numpy

            return shaped_base(self, step)
        return max(self.floor, self.start - (self.decay * step))

    def held_step(self, step: int) -> int:
        """The step whose baseline ``step`` shows: its plateau window's first step, or itself."""
        if self.plateaus:
            index = bisect.bisect_right(self.plateaus, (step, MAX_STEP)) - 1
            if index >= 0 and self.plateaus[index][1] >= step:
                return self.plateaus[index][0]
        return step

    @property
    def noisy(self) -> bool:
        """Whether any loss is perturbed: ``noise``, a shape's noise or precision, ranks' noise."""
        shaped = self.shape is not None and (self.shape.noise or self.shape.precision)
        ranked = self.ranks is not None and self.ranks.sigma > 0
        return self.noise is not None or bool(shaped) or ranked

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The steps whose loss is a spike, ascending (with ranks: a spike on some rank)."""
        return tuple(self.spikes) if self.ranks is None else self._reduced()[0]

    @property
    def nonfinite_steps(self) -> tuple[int, ...]:
        """The steps whose loss is NaN, inf or -inf, ascending (with ranks: on some rank)."""
        return tuple(self.nonfinite) if self.ranks is None else tuple(self._reduced()[1])

    def _reduced(self) -> tuple[tuple[int, ...], dict[int, float]]:
        from pytest_synthloss.core.ranks import reduced_overrides

        return reduced_overrides(self.ranks)  # type: ignore[arg-type]

    @property
    def divergence_step(self) -> int | None:
        """The divergence onset (first step above the one before, for good), or ``None``."""
        return None if self.divergence is None else self.divergence.start_step

    @property
    def plateau_windows(self) -> tuple[tuple[int, int], ...]:
        """The plateau windows as ``(first, last)`` pairs, ascending."""
        return self.plateaus

    @property
    def floor_step(self) -> int | None:
        """The first step from which the noise-free loss sits at the floor (18 for ``stable``).

        A plateau holding a value above the floor postpones it to the step after the window;
        noise is ignored (the noisy loss wobbles around the floor). ``None`` if the loss never
        gets there: ``decay == 0`` and ``start > floor``, beyond the int64 step range, or a
        divergence that starts at or before that step.
        """
        first = self._settle_step()
        if first is None:
            return None
        if self.divergence is not None and self.divergence.start_step <= first:
            return None
        return first

    def _settle_step(self) -> int | None:
        if self.shape is not None:
            from pytest_synthloss.core.shaped import shaped_floor_step

            return shaped_floor_step(self)
        # The first step from which baseline, with plateaus, is the floor for good.
        first = line_floor_step(self.start, self.decay, self.floor)
        if first is None:
            return None
        for window_first, last in self.plateaus:
            if window_first < first <= last:
                return last + 1 if last < MAX_STEP else None
        return first


def _hashable(value: object) -> object:
    """A field's hash key: mappings as item tuples (NaN losses by their repr)."""
    if isinstance(value, Mapping):
        return tuple((k, repr(v) if v != v else v) for k, v in value.items())
    return value


def _plain(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else value


def _rebuild_profile(*values: Any) -> Profile:
    """Unpickle a :class:`Profile` (by value: it needs no registry)."""
    return Profile(*values)
