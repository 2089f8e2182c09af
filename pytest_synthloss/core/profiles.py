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

Without events a profile is exactly the spec's formula (``stable`` and ``spiky`` are bit for
bit the spec's). Everything a test may want to know (spike steps, non-finite steps, the
divergence onset, plateau windows, the first step at the floor) is *derived* from these
fields, never typed twice.
"""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Divergence, Noise
from pytest_synthloss.core.faults import Faults
from pytest_synthloss.core.validation import (
    LOSS_CEILING,
    MAX_STEP,
    check_name,
    check_number,
    check_step,
)

__all__ = ["Profile"]


def _check_param(name: str, value: object, profile: str) -> float:
    number = check_number(f"profile {profile!r}: {name}", value, ">= 0")
    if number > LOSS_CEILING:
        raise SynthLossError(
            f"profile {profile!r}: {name} must be a finite number from 0 to {LOSS_CEILING:g} "
            f"(LOSS_CEILING: every finite loss is finite in float32 too), got {value!r}"
        )
    return number


@dataclass(frozen=True)
class Profile:
    """A named, immutable loss profile: the spec's formula, its parameters and its events.

    ``spikes`` maps a step to the loss that replaces the value at that step;
    ``nonfinite`` maps a step to ``nan``, ``inf`` or ``-inf``; ``divergence`` (a
    :class:`Divergence`), ``plateaus`` (``(first, last)`` windows) and ``noise`` (a
    :class:`Noise`) are optional. See the module docstring for how they compose.
    ``faults`` (a :class:`~pytest_synthloss.faults.Faults`) are emulator-level faults of
    a run of this profile (stall, restart, dropped steps, crash): they change what the
    emulator logs and when, never the loss of a step.
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
        start = _check_param("start", self.start, self.name)
        decay = _check_param("decay", self.decay, self.name)
        floor = _check_param("floor", self.floor, self.name)
        if floor > start:
            raise SynthLossError(
                f"profile {self.name!r}: floor {floor!r} is above start {start!r}; "
                "the floor must be <= start"
            )
        spikes = self._checked_spikes()
        nonfinite = self._checked_nonfinite(spikes)
        for what, value, kind in (
            ("divergence", self.divergence, Divergence),
            ("noise", self.noise, Noise),
        ):
            if value is not None and not isinstance(value, kind):
                raise SynthLossError(
                    f"profile {self.name!r}: {what} must be a {kind.__name__} or None, "
                    f"got {value!r}"
                )
        plateaus = self._checked_plateaus(spikes, nonfinite)
        if self.faults is not None and not isinstance(self.faults, Faults):
            raise SynthLossError(
                f"profile {self.name!r}: faults must be a Faults or None, got {self.faults!r}"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "spikes", MappingProxyType(spikes))
        object.__setattr__(self, "nonfinite", MappingProxyType(nonfinite))
        object.__setattr__(self, "plateaus", plateaus)

    def _checked_spikes(self) -> dict[int, float]:
        if not isinstance(self.spikes, Mapping):
            raise SynthLossError(
                f"profile {self.name!r}: spikes must be a mapping {{step: loss}}, "
                f"got {self.spikes!r}"
            )
        spikes: dict[int, float] = {}
        for step, loss in sorted(self.spikes.items(), key=lambda kv: _sort_key(kv[0])):
            where = f"profile {self.name!r}: spike step"
            checked = check_step(step, where)
            spikes[checked] = _check_param(f"spike loss at step {checked}", loss, self.name)
        return spikes

    def _checked_nonfinite(self, spikes: Mapping[int, float]) -> dict[int, float]:
        if not isinstance(self.nonfinite, Mapping):
            raise SynthLossError(
                f"profile {self.name!r}: nonfinite must be a mapping "
                f"{{step: nan | inf | -inf}}, got {self.nonfinite!r}"
            )
        nonfinite: dict[int, float] = {}
        for step, value in sorted(self.nonfinite.items(), key=lambda kv: _sort_key(kv[0])):
            checked = check_step(step, f"profile {self.name!r}: non-finite step")
            canonical = _canonical_nonfinite(value)
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

    def _checked_plateaus(
        self, spikes: Mapping[int, float], nonfinite: Mapping[int, float]
    ) -> tuple[tuple[int, int], ...]:
        raw = self.plateaus
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
            raise SynthLossError(
                f"profile {self.name!r}: plateaus must be a sequence of (first, last) "
                f"windows, got {raw!r}"
            )
        windows: list[tuple[int, int]] = []
        for window in raw:
            if isinstance(window, (str, bytes)) or not isinstance(window, Iterable):
                raise SynthLossError(
                    f"profile {self.name!r}: a plateau must be a (first, last) pair of "
                    f"steps, got {window!r}"
                )
            pair = tuple(window)
            if len(pair) != 2:
                raise SynthLossError(
                    f"profile {self.name!r}: a plateau must be a (first, last) pair of "
                    f"steps, got {window!r}"
                )
            first = check_step(pair[0], f"profile {self.name!r}: plateau first step")
            last = check_step(pair[1], f"profile {self.name!r}: plateau last step")
            if first > last:
                raise SynthLossError(
                    f"profile {self.name!r}: plateau ({first}, {last}) ends before it starts; "
                    "a window is (first, last) with first <= last"
                )
            windows.append((first, last))
        windows.sort()
        for before, after in itertools.pairwise(windows):
            if after[0] <= before[1]:
                raise SynthLossError(
                    f"profile {self.name!r}: plateaus {before} and {after} overlap; "
                    "plateau windows must be disjoint"
                )
        for first, last in windows:
            for kind, steps in (("spike", spikes), ("non-finite", nonfinite)):
                inside = [s for s in steps if first <= s <= last]
                if inside:
                    raise SynthLossError(
                        f"profile {self.name!r}: plateau ({first}, {last}) contains {kind} "
                        f"step {inside[0]}; spikes and non-finite steps must lie outside "
                        "plateau windows"
                    )
            if self.divergence is not None and last >= self.divergence.start_step:
                raise SynthLossError(
                    f"profile {self.name!r}: plateau ({first}, {last}) reaches the divergence "
                    f"from step {self.divergence.start_step}; a plateau must end before the "
                    "divergence starts"
                )
        return tuple(windows)

    def __hash__(self) -> int:
        return hash(
            (
                self.name,
                self.start,
                self.decay,
                self.floor,
                tuple(self.spikes.items()),
                self.description,
                tuple((step, repr(value)) for step, value in self.nonfinite.items()),
                self.divergence,
                self.plateaus,
                self.noise,
                self.faults,
            )
        )

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
        return text + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        # The mappings are read-only proxies, which do not pickle: rebuild from plain dicts.
        return (
            _rebuild_profile,
            (
                self.name,
                self.start,
                self.decay,
                self.floor,
                dict(self.spikes),
                self.description,
                dict(self.nonfinite),
                self.divergence,
                self.plateaus,
                self.noise,
                self.faults,
            ),
        )

    # -- ground truth, derived ---------------------------------------------------------

    def baseline(self, step: int) -> float:
        """The spec's baseline ``max(floor, start - (decay * step))`` at ``step``."""
        return max(self.floor, self.start - (self.decay * step))

    def held_step(self, step: int) -> int:
        """The step whose baseline ``step`` shows: its plateau window's first step, or itself."""
        if self.plateaus:
            index = bisect.bisect_right(self.plateaus, (step, MAX_STEP)) - 1
            if index >= 0 and self.plateaus[index][1] >= step:
                return self.plateaus[index][0]
        return step

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The steps whose loss is a spike, ascending."""
        return tuple(self.spikes)

    @property
    def nonfinite_steps(self) -> tuple[int, ...]:
        """The steps whose loss is NaN, inf or -inf, ascending."""
        return tuple(self.nonfinite)

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
        # The first step from which baseline, with plateaus, is the floor for good.
        first = _floor_step(self.start, self.decay, self.floor)
        if first is None:
            return None
        for window_first, last in self.plateaus:
            if window_first < first <= last:
                return last + 1 if last < MAX_STEP else None
        return first


def _rebuild_profile(
    name: str,
    start: float,
    decay: float,
    floor: float,
    spikes: dict[int, float],
    description: str,
    nonfinite: dict[int, float],
    divergence: Divergence | None,
    plateaus: tuple[tuple[int, int], ...],
    noise: Noise | None,
    faults: Faults | None,
) -> Profile:
    """Unpickle a :class:`Profile` (by value: it needs no registry)."""
    return Profile(
        name,
        start,
        decay,
        floor,
        spikes,
        description,
        nonfinite,
        divergence,
        plateaus,
        noise,
        faults,
    )


def _canonical_nonfinite(value: object) -> float | None:
    """``math.nan``, ``math.inf`` or ``-math.inf`` for a non-finite real, else ``None``.

    NaN is stored as the one ``math.nan`` object so that equal profiles compare equal.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float is finite
        return None
    if math.isnan(number):
        return math.nan
    if math.isinf(number):
        return math.inf if number > 0 else -math.inf
    return None


def _sort_key(step: Any) -> tuple[int, Any]:
    # Order integer steps numerically; keep anything else (rejected next) in a stable place.
    return (0, step) if isinstance(step, numbers.Real) else (1, 0)


def _floor_step(start: float, decay: float, floor: float) -> int | None:
    def at_floor(step: int) -> bool:
        return start - (decay * step) <= floor

    if at_floor(1):
        return 1
    if decay == 0.0:
        return None
    estimate = (start - floor) / decay
    if not math.isfinite(estimate) or estimate > MAX_STEP / 2:
        return None
    step = max(1, math.ceil(estimate))
    # The estimate can be off by a rounding step either way; settle on the exact first step.
    while step > 1 and at_floor(step - 1):
        step -= 1
    while not at_floor(step):
        step += 1
    return step
