"""Failure-mode events a profile can declare: divergence and seeded noise.

Their composition with the baseline, plateaus, spikes and non-finite steps is described
in :mod:`pytest_synthloss.core.profiles`; :mod:`pytest_synthloss.core.model` computes them.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_mode, check_number, check_step

__all__ = ["DIVERGENCE_MODES", "MAX_SEED", "NOISE_MODES", "Divergence", "Noise"]

#: Noise seeds are integers in ``[0, MAX_SEED]``.
MAX_SEED = 2**128 - 1

DIVERGENCE_MODES = ("exponential", "linear")
NOISE_MODES = ("multiplicative", "additive")


@dataclass(frozen=True)
class Divergence:
    """The loss rises for good from ``start_step`` (the divergence onset) at ``rate``.

    From step ``k = start_step`` on, the loss is ``anchor * (1 + rate) ** (step - k + 1)``
    ("exponential") or ``anchor + rate * (step - k + 1)`` ("linear"), where ``anchor`` is the
    loss the run had reached at step ``k - 1``; it is capped at ``LOSS_CEILING`` (1e300).
    So step ``k`` is the first step whose loss is above the one before.
    """

    start_step: int
    rate: float
    mode: str = "exponential"

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_step", check_step(self.start_step, "divergence start_step"))
        object.__setattr__(self, "rate", check_number("divergence rate", self.rate, "> 0"))
        mode = check_mode("divergence mode", self.mode, DIVERGENCE_MODES)
        object.__setattr__(self, "mode", mode)


@dataclass(frozen=True)
class Noise:
    """Seeded Gaussian noise of scale ``sigma`` on every step (never from global RNG state).

    "multiplicative": ``loss * (1 + sigma * z)``; "additive": ``loss + sigma * z``; the result
    is clipped to ``[0, LOSS_CEILING]``. ``z`` is a pure function of ``(seed, step)``: see
    :func:`pytest_synthloss.model.noise_at` for the exact scheme.
    """

    sigma: float
    seed: int
    mode: str = "multiplicative"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", check_number("noise sigma", self.sigma, ">= 0"))
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise SynthLossError(
                f"noise seed must be an integer in [0, 2**128), got {seed!r} "
                f"({type(seed).__name__})"
            )
        if not 0 <= int(seed) <= MAX_SEED:
            raise SynthLossError(f"noise seed must be an integer in [0, 2**128), got {int(seed)}")
        object.__setattr__(self, "seed", int(seed))
        object.__setattr__(self, "mode", check_mode("noise mode", self.mode, NOISE_MODES))
