"""Failure-mode events a profile can declare (divergence, seeded noise) and the ``Event`` record.

Their composition with the baseline, plateaus, spikes and non-finite steps is described
in :mod:`pytest_synthloss.core.profiles`; :mod:`pytest_synthloss.core.model` computes them.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.validation import check_mode, check_number, check_step

__all__ = [
    "DIVERGENCE_MODES",
    "EVENT_KINDS",
    "MAX_SEED",
    "NOISE_MODES",
    "Divergence",
    "Event",
    "Noise",
]

#: Noise seeds are integers in ``[0, MAX_SEED]``.
MAX_SEED = 2**128 - 1

DIVERGENCE_MODES = ("exponential", "linear")
NOISE_MODES = ("multiplicative", "additive")
#: The kinds of ground-truth event derived today, in the order events starting at the same
#: step are listed. The set is open: other kinds may be added here.
EVENT_KINDS: tuple[str, ...] = (
    "spike",
    "nonfinite",
    "divergence",
    "plateau",
    "warmup",
    "schedule",
    "epoch",
    "incident",
    "stall",
    # the linked signals' (pytest_synthloss.core.signals), with "stall"
    "grad_spike",
    "overflow",
    "scale_growth",
    "first_step",
    "eval",
)


@dataclass(frozen=True)
class Divergence:
    """The loss rises for good from ``start_step`` (the divergence onset) at ``rate``.

    From step ``k = start_step`` on, the loss is ``anchor * (1 + rate) ** (step - k + 1)``
    ("exponential") or ``anchor + rate * (step - k + 1)`` ("linear"), where ``anchor`` is the
    loss the run had reached at step ``k - 1``; it is capped at ``LOSS_CEILING`` (1e38,
    finite in float32 too).
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


@dataclass(frozen=True)
class Event:
    """One ground-truth event of a run: ``kind`` over the steps ``first..last`` (inclusive).

    Kinds today (:data:`EVENT_KINDS`): ``"spike"`` (a maximal run of consecutive spike steps),
    ``"nonfinite"`` (a maximal run of consecutive NaN/inf/-inf steps), ``"divergence"``
    (from the onset to the run's last step), ``"plateau"`` (a plateau window) and the benign
    ``"warmup"``, ``"schedule"`` (a WSD cool-down, a step-decay drop) and ``"epoch"`` (an
    epoch boundary) of a shaped profile (see :mod:`pytest_synthloss.core.shapes`), and
    ``"incident"`` (anything else a user labels on a recorded run, see
    :mod:`pytest_synthloss.core.recorded`) and ``"stall"`` (steps a recorded run never
    logged because it stopped, see :mod:`pytest_synthloss.core.injection`; for a profile
    with linked signals, the step whose step time holds a stall). Those signals
    (:mod:`pytest_synthloss.core.signals`) add ``"grad_spike"``, ``"overflow"`` and the
    benign ``"scale_growth"``, ``"first_step"`` and ``"eval"``. Kind-specific
    detail: ``peak`` is the highest loss of a spike, the loss at the last step of a
    divergence and the held loss of a plateau (``None`` for non-finite and benign events);
    ``values`` names each loss of a non-finite event (``"nan"``, ``"inf"`` or ``"-inf"``,
    one per step) and is empty for other kinds.
    A step of a run that lies in no event is *normal*. Events compare, hash
    and pickle by value.
    """

    kind: str
    first: int
    last: int
    peak: float | None = None
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise SynthLossError(f"event kind must be a non-empty string, got {self.kind!r}")
        first = check_step(self.first, "event first step")
        last = check_step(self.last, "event last step")
        if last < first:
            raise SynthLossError(
                f"{self.kind} event: last step {last} is before first step {first}; "
                "an event is first..last with first <= last"
            )
        object.__setattr__(self, "first", first)
        object.__setattr__(self, "last", last)
        if self.peak is not None:
            object.__setattr__(self, "peak", check_number("event peak", self.peak, ">= 0"))
        if isinstance(self.values, str) or not all(isinstance(v, str) for v in self.values):
            raise SynthLossError(f"event values must be a tuple of strings, got {self.values!r}")
        object.__setattr__(self, "values", tuple(self.values))

    @property
    def length(self) -> int:
        """How many steps the event covers (``last - first + 1``)."""
        return self.last - self.first + 1

    def __contains__(self, step: object) -> bool:
        """Whether the integer ``step`` lies within ``first..last``."""
        return (
            isinstance(step, numbers.Integral)
            and not isinstance(step, bool)
            and self.first <= int(step) <= self.last
        )

    @property
    def span(self) -> tuple[int, int]:
        """``(first, last)``."""
        return (self.first, self.last)

    def describe(self) -> str:
        """A short text: ``spike at steps 4-5 (peak 9.7)``, ``nonfinite at step 12 (nan)``."""
        where = (
            f"step {self.first}" if self.first == self.last else f"steps {self.first}-{self.last}"
        )
        text = f"{self.kind} at {where}"
        if self.values:
            shown = sorted(set(self.values), key=self.values.index)
            text += f" ({', '.join(shown)})"
        elif self.peak is not None:
            labels = {"plateau": "held", "divergence": "last loss", "scale_growth": "scale"}
            label = labels.get(self.kind, "grad norm" if self.kind == "grad_spike" else "peak")
            text += f" ({label} {self.peak:.4g})"
        return text
