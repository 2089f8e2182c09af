"""Checks behind ``Profile``: parameters, non-finite values, floor steps, shapes.

Every refusal is a ``SynthLossError`` naming the profile, the parameter and the bad value.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Divergence
from pytest_synthloss.core.shapes import Shape, event_windows
from pytest_synthloss.core.validation import LOSS_CEILING, MAX_STEP, check_number, check_step

__all__ = [
    "canonical_nonfinite",
    "check_param",
    "check_shape",
    "checked_plateaus",
    "floor_step",
    "sort_key",
]


def check_param(name: str, value: object, profile: str) -> float:
    number = check_number(f"profile {profile!r}: {name}", value, ">= 0")
    if number > LOSS_CEILING:
        raise SynthLossError(
            f"profile {profile!r}: {name} must be a finite number from 0 to {LOSS_CEILING:g} "
            f"(LOSS_CEILING: every finite loss is finite in float32 too), got {value!r}"
        )
    return number


def canonical_nonfinite(value: object) -> float | None:
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


def sort_key(step: Any) -> tuple[int, Any]:
    # Order integer steps numerically; keep anything else (rejected next) in a stable place.
    return (0, step) if isinstance(step, numbers.Real) else (1, 0)


def floor_step(start: float, decay: float, floor: float) -> int | None:
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


def check_shape(
    name: str,
    shape: object,
    steps: object,
    overrides: tuple[tuple[str, int, int], ...],
    divergence_start: int | None,
) -> int | None:
    """Check a profile's ``shape`` against its natural length ``steps`` and its events.

    ``overrides`` are the profile's own event windows (spikes, non-finite steps,
    plateaus) as ``(kind, first, last)``. Returns ``steps`` as an int (or ``None``).
    """
    where = f"profile {name!r}"
    length = None
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
            raise SynthLossError(f"{where}: steps must be an integer >= 1 or None, got {steps!r}")
        length = int(steps)
    if shape is None:
        return length
    if not isinstance(shape, Shape):
        raise SynthLossError(f"{where}: shape must be a Shape or None, got {shape!r}")
    if length is not None:
        if shape.warmup >= length:
            raise SynthLossError(
                f"{where}: warmup {shape.warmup} is not shorter than the run (steps={length}); "
                "the warm-up must end before the last step"
            )
        end = None if shape.schedule is None else shape.schedule.end
        if end is not None and end > length:
            raise SynthLossError(
                f"{where}: schedule {shape.schedule!r} ends at step {end}, past the run's "
                f"last step (steps={length})"
            )
    if shape.trend is None and shape.anneal > 0 and shape.anneal >= 1e300:
        raise SynthLossError(f"{where}: anneal must be finite, got {shape.anneal!r}")
    floor = shape.floor_of(0.0)
    if shape.trend is not None and shape.anneal >= floor:
        raise SynthLossError(
            f"{where}: anneal {shape.anneal!r} must be below the trend's floor E={floor!r} "
            "(the annealed loss stays positive)"
        )
    horizon = (
        length
        if length is not None
        else max([b for _, _, b in overrides] + [s.last for s in shape.spikes] + [shape.warmup, 1])
    )
    windows = sorted(event_windows(shape, 1, horizon) + list(overrides), key=lambda w: w[1:])
    for (kind_a, a1, b1), (kind_b, a2, b2) in itertools.pairwise(windows):
        if a2 <= b1:
            raise SynthLossError(
                f"{where}: the {kind_a} event ({a1}, {b1}) and the {kind_b} event ({a2}, {b2}) "
                "overlap; events must be disjoint"
            )
    for spike in shape.spikes:
        if divergence_start is not None and spike.last >= divergence_start:
            raise SynthLossError(
                f"{where}: spike {spike!r} reaches the divergence from step {divergence_start}; "
                "a spike and its tail must end before the divergence starts"
            )
        if length is not None and spike.last > length:
            raise SynthLossError(
                f"{where}: spike {spike!r} ends at step {spike.last}, past the run's last step "
                f"(steps={length})"
            )
    return length


def checked_plateaus(
    name: str,
    raw: object,
    spikes: Mapping[int, float],
    nonfinite: Mapping[int, float],
    divergence: Divergence | None,
) -> tuple[tuple[int, int], ...]:
    """The plateau windows, checked against each other, the spikes and the divergence."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
        raise SynthLossError(
            f"profile {name!r}: plateaus must be a sequence of (first, last) windows, got {raw!r}"
        )
    windows: list[tuple[int, int]] = []
    for window in raw:
        if isinstance(window, (str, bytes)) or not isinstance(window, Iterable):
            raise SynthLossError(
                f"profile {name!r}: a plateau must be a (first, last) pair of steps, got {window!r}"
            )
        pair = tuple(window)
        if len(pair) != 2:
            raise SynthLossError(
                f"profile {name!r}: a plateau must be a (first, last) pair of steps, got {window!r}"
            )
        first = check_step(pair[0], f"profile {name!r}: plateau first step")
        last = check_step(pair[1], f"profile {name!r}: plateau last step")
        if first > last:
            raise SynthLossError(
                f"profile {name!r}: plateau ({first}, {last}) ends before it starts; "
                "a window is (first, last) with first <= last"
            )
        windows.append((first, last))
    windows.sort()
    for before, after in itertools.pairwise(windows):
        if after[0] <= before[1]:
            raise SynthLossError(
                f"profile {name!r}: plateaus {before} and {after} overlap; "
                "plateau windows must be disjoint"
            )
    for first, last in windows:
        for kind, steps in (("spike", spikes), ("non-finite", nonfinite)):
            inside = [s for s in steps if first <= s <= last]
            if inside:
                raise SynthLossError(
                    f"profile {name!r}: plateau ({first}, {last}) contains {kind} "
                    f"step {inside[0]}; spikes and non-finite steps must lie outside "
                    "plateau windows"
                )
        if divergence is not None and last >= divergence.start_step:
            raise SynthLossError(
                f"profile {name!r}: plateau ({first}, {last}) reaches the divergence "
                f"from step {divergence.start_step}; a plateau must end before the "
                "divergence starts"
            )
    return tuple(windows)
