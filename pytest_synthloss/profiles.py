"""Loss profiles as data: the ``Profile`` type and the spec's built-ins ``stable`` and ``spiky``.

A profile holds the parameters of the spec's formula::

    baseline(step) = max(floor, start - (decay * step))
    loss(step)     = spikes[step] if step in spikes else baseline(step)

Everything a test may want to know about a run (spike steps, the first step at the
floor, the final loss of an ``n``-step run) is *derived* from these fields, never typed
twice.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_synthloss.errors import SynthLossError

__all__ = ["MAX_STEP", "SPIKY", "STABLE", "Profile", "check_step"]

#: Largest step the model accepts: steps are stored as int64.
MAX_STEP = 2**63 - 1


def check_step(step: object, what: str = "step") -> int:
    """Return ``step`` as an ``int`` if it is an integer >= 1, else raise ``SynthLossError``.

    Booleans, floats (even ``2.0``), NaN and strings are refused: nothing is coerced.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise SynthLossError(
            f"{what} must be an integer >= 1, got {step!r} ({type(step).__name__})"
        )
    value = int(step)
    if value < 1 or value > MAX_STEP:
        raise SynthLossError(f"{what} must be an integer >= 1, got {value}")
    return value


def _check_param(name: str, value: object, profile: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SynthLossError(
            f"profile {profile!r}: {name} must be a finite number >= 0, "
            f"got {value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise SynthLossError(
            f"profile {profile!r}: {name} must be a finite number >= 0, got {value!r}"
        )
    return number + 0.0  # normalises -0.0 to 0.0


@dataclass(frozen=True)
class Profile:
    """A named, immutable loss profile (the spec's formula with its parameters).

    ``spikes`` maps a step to the loss that replaces the baseline at that step.
    Instances are hashable and compare by value.
    """

    name: str
    start: float = 2.25
    decay: float = 0.07
    floor: float = 1.05
    spikes: Mapping[int, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "," in self.name:
            raise SynthLossError(
                f"profile name must be a non-empty string without commas, got {self.name!r}"
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
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "spikes", MappingProxyType(spikes))

    def __hash__(self) -> int:
        return hash(
            (
                self.name,
                self.start,
                self.decay,
                self.floor,
                tuple(self.spikes.items()),
                self.description,
            )
        )

    def __repr__(self) -> str:
        spikes = dict(self.spikes)
        return (
            f"Profile(name={self.name!r}, start={self.start!r}, decay={self.decay!r}, "
            f"floor={self.floor!r}, spikes={spikes!r})"
        )

    # -- ground truth, derived ---------------------------------------------------------

    def baseline(self, step: int) -> float:
        """The spec's baseline ``max(floor, start - (decay * step))`` at ``step``."""
        return max(self.floor, self.start - (self.decay * step))

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The steps whose loss is a spike, ascending."""
        return tuple(self.spikes)

    @property
    def floor_step(self) -> int | None:
        """The first step whose baseline is at the floor (18 for the built-ins).

        ``None`` if the baseline never reaches the floor (``decay == 0`` and
        ``start > floor``, or not within the int64 step range).
        """
        return _floor_step(self.start, self.decay, self.floor)

    def final_loss(self, steps: int, start_step: int = 1) -> float:
        """The loss at the last step of a run of ``steps`` steps starting at ``start_step``."""
        count = check_step(steps, "steps")
        first = check_step(start_step, "start_step")
        last = first + count - 1
        if last > MAX_STEP:
            raise SynthLossError(f"the run ends at step {last}, past the last step {MAX_STEP}")
        return self.spikes.get(last, self.baseline(last))


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


STABLE = Profile(
    name="stable",
    description="Smooth, monotonic decay from 2.18 at step 1 to the 1.05 floor from step 18.",
)
SPIKY = Profile(
    name="spiky",
    spikes={4: 9.7, 5: 9.5},
    description="As stable, with a loss spike at step 4 (9.7) decaying at step 5 (9.5).",
)
