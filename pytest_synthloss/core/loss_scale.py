"""fp16 dynamic loss scaling as data: :class:`LossScale` and the scale of every step.

A run in fp16 multiplies its loss by a *loss scale* before the backward pass. When the
scaled gradients overflow (an inf or NaN in them) the optimizer step is skipped (no
update), and the scale backs off; after ``growth_interval`` steps in a row without an
overflow it grows. This module replays ``torch.amp.GradScaler`` exactly: the update at the
end of step ``s`` is ``torch._amp_update_scale_`` (``torch/amp/grad_scaler.py``)::

    if overflow at s:   scale *= backoff_factor; tracker = 0
    else:               tracker += 1
                        if tracker == growth_interval:
                            if isfinite(float32(scale * growth_factor)): scale *= growth_factor
                            tracker = 0

on a float32 scale. ``hysteresis=h > 1`` adds a delayed shift: an overflow only lowers a
counter until it is 1, and only then does the scale back off; every growth resets the
counter to ``h``. ``hysteresis=1`` is GradScaler.

``scaler="deepspeed"`` replays DeepSpeed's ``DynamicLossScaler.update_scale`` instead
(``deepspeed/runtime/fp16/loss_scaler.py``, ``delayed_shift=hysteresis``,
``scale_window=growth_interval``, ``consecutive_hysteresis=False``): the factors are 2 and
0.5, a back-off never goes below ``min_scale`` (DeepSpeed's ``min_loss_scale``, default 1;
as with ``raise_error_at_min_scale=False``), the scale is a Python float (no float32
limit), and the first growth after an overflow (or the start) comes after
``growth_interval + 1`` clean steps, later ones every ``growth_interval`` steps.

``loss_scale`` at step ``s`` is the scale step ``s`` runs with (before its own update), so
an overflow at step ``s`` shows as the lower scale from step ``s + 1``. The factors and the
initial scale are powers of two, so every value is exact (a float32 scale, ``2 ** e``;
below the smallest float32, ``2 ** -149``, it is 0.0 for good, as in float32). The scale
of a step is a pure function of the step: a closed form over the overflows before it
(:func:`loss_scales`), checked against the step-by-step replay :func:`replay_loss_scales`
and against torch's own GradScaler in the tests. Imports no numpy at module level.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import (
    MAX_STEP,
    check_float,
    check_int,
    check_mode,
    check_step,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FLOAT32_MAX_EXPONENT",
    "FLOAT32_MIN_EXPONENT",
    "SCALERS",
    "LossScale",
    "loss_scale_at",
    "loss_scales",
    "replay_loss_scales",
]

#: ``2 ** 127`` is the largest power of two a float32 holds (``2 ** 128`` is inf).
FLOAT32_MAX_EXPONENT = 127
#: ``2 ** -149`` is the smallest float32 (subnormal); half of it rounds to 0.0.
FLOAT32_MIN_EXPONENT = -149
#: The loss scalers replayed: torch's GradScaler and DeepSpeed's DynamicLossScaler.
SCALERS = ("torch", "deepspeed")
#: Longest hysteresis accepted.
MAX_HYSTERESIS = 1 << 20


def _power_of_two(what: str, value: object, low: int, high: int, allowed: str) -> int:
    number = check_float(what, value, positive=True, allowed=allowed)
    mantissa, exponent = math.frexp(number)
    if mantissa != 0.5 or not low <= exponent - 1 <= high:
        raise SynthLossError(f"{what} must be {allowed}, got {value!r}")
    return exponent - 1


@dataclass(frozen=True)
class LossScale:
    """fp16 dynamic loss scaling: GradScaler's parameters and the steps that overflow.

    ``overflows`` are the steps whose scaled gradients hold an inf or NaN (any order, no
    repeats; stored ascending). ``init_scale`` (2**16), ``growth_factor`` (2),
    ``backoff_factor`` (0.5) and ``growth_interval`` (2000) are GradScaler's, restricted to
    powers of two; ``hysteresis`` (1) is DeepSpeed's ``delayed_shift``. ``scaler`` is
    ``"torch"`` (GradScaler) or ``"deepspeed"`` (DynamicLossScaler, with ``min_scale``,
    default 1.0); see the module docs.
    """

    overflows: tuple[int, ...] = ()
    init_scale: float = 65536.0
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000
    hysteresis: int = 1
    scaler: str = "torch"
    min_scale: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scaler", check_mode("loss_scale scaler", self.scaler, SCALERS))
        raw = self.overflows
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
            raise SynthLossError(f"loss_scale overflows must be a sequence of steps, got {raw!r}")
        steps: list[int] = []
        for index, step in enumerate(raw):
            checked = check_step(step, f"loss_scale overflows[{index}]")
            if checked in steps:
                raise SynthLossError(
                    f"loss_scale overflows[{index}]: step {checked} is listed twice"
                )
            steps.append(checked)
        object.__setattr__(self, "overflows", tuple(sorted(steps)))
        init = _power_of_two(
            "loss_scale init_scale",
            self.init_scale,
            FLOAT32_MIN_EXPONENT,
            FLOAT32_MAX_EXPONENT,
            "a power of two from 2**-149 to 2**127 (exact in float32)",
        )
        object.__setattr__(self, "init_scale", math.ldexp(1.0, init))
        growth = _power_of_two(
            "loss_scale growth_factor", self.growth_factor, 1, 64, "a power of two from 2 to 2**64"
        )
        object.__setattr__(self, "growth_factor", math.ldexp(1.0, growth))
        backoff = _power_of_two(
            "loss_scale backoff_factor",
            self.backoff_factor,
            -64,
            -1,
            "a power of two from 2**-64 to 0.5",
        )
        object.__setattr__(self, "backoff_factor", math.ldexp(1.0, backoff))
        interval = check_int("loss_scale growth_interval", self.growth_interval, 1, MAX_STEP)
        object.__setattr__(self, "growth_interval", interval)
        hysteresis = check_int("loss_scale hysteresis", self.hysteresis, 1, MAX_HYSTERESIS)
        object.__setattr__(self, "hysteresis", hysteresis)
        if self.scaler == "torch":
            if self.min_scale is not None:
                raise SynthLossError(
                    "loss_scale min_scale applies to scaler='deepspeed' only (GradScaler has "
                    f"none), got {self.min_scale!r}"
                )
            return
        for name, value in (("growth_factor", 2.0), ("backoff_factor", 0.5)):
            if getattr(self, name) != value:
                raise SynthLossError(
                    f"loss_scale {name} must be {value} with scaler='deepspeed' (its scale "
                    f"factor is fixed), got {getattr(self, name)!r}"
                )
        low = _power_of_two(
            "loss_scale min_scale",
            1.0 if self.min_scale is None else self.min_scale,
            FLOAT32_MIN_EXPONENT,
            init,
            "a power of two from 2**-149 to init_scale",
        )
        object.__setattr__(self, "min_scale", math.ldexp(1.0, low))

    @property
    def _deepspeed(self) -> bool:
        return self.scaler == "deepspeed"

    def _growths(self, clean: int) -> int:
        """How many growths ``clean`` steps in a row without an overflow bring."""
        if self._deepspeed:
            return max(0, (clean - 1) // self.growth_interval)
        return clean // self.growth_interval

    def _backoff(self, exponent: int) -> int:
        b = self.exponents[2]
        if self._deepspeed:
            return max(exponent + b, math.frexp(self.min_scale or 1.0)[1] - 1)
        return exponent + b if exponent >= FLOAT32_MIN_EXPONENT else exponent

    @property
    def _max_exponent(self) -> int:
        return 1023 if self._deepspeed else FLOAT32_MAX_EXPONENT

    @property
    def exponents(self) -> tuple[int, int, int]:
        """``log2`` of ``init_scale``, ``growth_factor`` and ``backoff_factor``."""
        return (
            math.frexp(self.init_scale)[1] - 1,
            math.frexp(self.growth_factor)[1] - 1,
            math.frexp(self.backoff_factor)[1] - 1,
        )

    def growth_steps(self, first: int, last: int) -> tuple[int, ...]:
        """The steps of ``first..last`` that run with a larger scale than the step before."""
        grown = []
        starts, exps, _ = _resets(self)
        extra = 2 if self._deepspeed else 1  # the first growth waits one more clean step
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else last
            e0 = exps[index]
            _, g, _ = self.exponents
            for k in range(1, _cap(e0, g, self._max_exponent) + 1):
                step = start + k * self.growth_interval + extra
                if step > min(end, last):
                    break
                if step >= first:
                    grown.append(step)
        return tuple(grown)


def _value(exponent: int) -> float:
    return 0.0 if exponent < FLOAT32_MIN_EXPONENT else math.ldexp(1.0, exponent)


def _cap(e0: int, g: int, top: int = FLOAT32_MAX_EXPONENT) -> int:
    """How many growths fit from ``2 ** e0`` up to ``2 ** top`` (none from 0.0)."""
    if e0 < FLOAT32_MIN_EXPONENT:
        return 0
    return max(0, (top - e0) // g)


@functools.lru_cache(maxsize=64)
def _resets(scale: LossScale) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Where the growth tracker restarts: step 0 (the start) and every overflow.

    For each: the step, the exponent after its update (below ``FLOAT32_MIN_EXPONENT``:
    the scale is 0.0 for good) and the hysteresis counter after it.
    """
    e, g, _ = scale.exponents
    hysteresis = scale.hysteresis
    starts, exps, counters = [0], [e], [hysteresis]
    for step in scale.overflows:
        start, e0, counter = starts[-1], exps[-1], counters[-1]
        growths = scale._growths(step - 1 - start)
        e = e0 + g * min(growths, _cap(e0, g, scale._max_exponent))
        if growths:
            counter = hysteresis
        if counter == 1:
            e = scale._backoff(e)
        else:
            counter -= 1
        starts.append(step)
        exps.append(e)
        counters.append(counter)
    return tuple(starts), tuple(exps), tuple(counters)


def loss_scale_at(scale: LossScale, step: int) -> float:
    """The loss scale step ``step`` runs with (scalar; equal to :func:`loss_scales`)."""
    starts, exps, _ = _resets(scale)
    index = bisect.bisect_left(starts, step) - 1
    e0 = exps[index]
    _, g, _ = scale.exponents
    growths = scale._growths(step - 1 - starts[index])
    return _value(e0 + g * min(growths, _cap(e0, g, scale._max_exponent)))


def loss_scales(scale: LossScale, steps: np.ndarray) -> np.ndarray:
    """The loss scale of each step of ``steps`` (int64 array; vector form, bit for bit)."""
    import numpy as np

    starts, exps, _ = _resets(scale)
    _, g, _ = scale.exponents
    index = np.searchsorted(np.asarray(starts, dtype=np.int64), steps, side="left") - 1
    e0 = np.asarray(exps, dtype=np.int64)[index]
    caps = np.asarray([_cap(e, g, scale._max_exponent) for e in exps], dtype=np.int64)[index]
    clean = steps - 1 - np.asarray(starts, dtype=np.int64)[index]
    if scale.scaler == "deepspeed":
        growths = np.maximum((clean - 1) // scale.growth_interval, 0)
    else:
        growths = clean // scale.growth_interval
    exponent = e0 + g * np.minimum(growths, caps)
    values: np.ndarray = np.ldexp(1.0, np.maximum(exponent, FLOAT32_MIN_EXPONENT))
    values[exponent < FLOAT32_MIN_EXPONENT] = 0.0
    return values


def replay_loss_scales(scale: LossScale, last: int) -> list[float]:
    """Steps ``1..last`` replayed one update at a time (the reference for the closed form)."""
    e, g, b = scale.exponents
    overflows = set(scale.overflows)
    if scale.scaler == "deepspeed":
        return _replay_deepspeed(scale, last)
    tracker, counter, values = 0, scale.hysteresis, []
    for step in range(1, last + 1):
        values.append(_value(e))
        if step in overflows:
            tracker = 0
            if counter == 1:
                if e >= FLOAT32_MIN_EXPONENT:
                    e += b
            else:
                counter -= 1
        else:
            tracker += 1
            if tracker == scale.growth_interval:
                if e >= FLOAT32_MIN_EXPONENT and e + g <= FLOAT32_MAX_EXPONENT:
                    e += g
                tracker = 0
                counter = scale.hysteresis
    return values


def _replay_deepspeed(scale: LossScale, last: int) -> list[float]:
    """DeepSpeed's ``DynamicLossScaler.update_scale``, line for line, on a Python float."""
    current, floor = scale.init_scale, scale.min_scale or 1.0
    overflows = set(scale.overflows)
    last_overflow, counter, values = -1, scale.hysteresis, []
    for iteration in range(last):  # DeepSpeed counts iterations from 0: step - 1
        values.append(current)
        if iteration + 1 in overflows:
            if scale.hysteresis == 1 or counter == 1:
                current = max(current / 2.0, floor)
            else:
                counter -= 1
            last_overflow = iteration
        else:
            stable = iteration - last_overflow - 1
            if stable > 0 and stable % scale.growth_interval == 0:
                counter = scale.hysteresis
                current *= 2.0
    return values
