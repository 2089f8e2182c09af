"""Input checks shared by the core: steps and parameters, refused with a clear message.

Nothing is coerced: booleans, floats for steps, NaN and strings are errors naming the bad
value and what is allowed.
"""

from __future__ import annotations

import math
import numbers

from pytest_synthloss.core.errors import SynthLossError

__all__ = [
    "DEFAULT_STEPS",
    "LOSS_CEILING",
    "MAX_SLEEP_SECONDS",
    "MAX_STEP",
    "check_mode",
    "check_number",
    "check_step",
]

#: How many steps a run has when neither the caller nor its profile says (the spec's 20).
DEFAULT_STEPS = 20
#: Largest step the model accepts: steps are stored as int64.
MAX_STEP = 2**63 - 1
#: Diverging and noisy losses are capped here, and no profile value may exceed it, so a
#: run's non-finite losses are exactly its declared ``nonfinite`` steps, in float64 and in
#: float32 alike: 1e38 is below float32's largest finite value (about 3.4028e38).
LOSS_CEILING = 1e38
#: Longest sleep between emulated steps: a day per step (``time.sleep`` overflows near 9e9 s).
MAX_SLEEP_SECONDS = 86_400


def check_step(step: object, what: str = "step") -> int:
    """Return ``step`` as an ``int`` if it is an integer >= 1, else raise ``SynthLossError``.

    Booleans, floats (even ``2.0``), NaN and strings are refused: nothing is coerced.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise SynthLossError(
            f"{what} must be an integer >= 1, got {step!r} ({type(step).__name__})"
        )
    value = int(step)
    if value < 1:
        raise SynthLossError(f"{what} must be an integer >= 1, got {value}")
    if value > MAX_STEP:
        raise SynthLossError(f"{what} must be an integer from 1 to {MAX_STEP}, got {value}")
    return value


def check_number(what: str, value: object, allowed: str) -> float:
    """A finite real number, ``> 0`` or ``>= 0`` as ``allowed`` says; bools are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SynthLossError(
            f"{what} must be a finite number {allowed}, got {value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0 or (allowed == "> 0" and number == 0):
        raise SynthLossError(f"{what} must be a finite number {allowed}, got {value!r}")
    return number + 0.0  # normalises -0.0 to 0.0


def check_mode(what: str, mode: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(mode, str) or mode not in allowed:
        choices = " or ".join(repr(m) for m in allowed)
        raise SynthLossError(f"{what} must be {choices}, got {mode!r}")
    return mode
