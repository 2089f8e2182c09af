"""Realistic curve shapes as data: trends, LR schedules, training noise and shaped spikes.

A :class:`Shape` on a :class:`~pytest_synthloss.core.profiles.Profile` replaces the spec's
line by a curve that looks like a training run. Its parts compose in this order (the
contract; :mod:`pytest_synthloss.core.shaped` computes it, one numpy path for the scalar
reference and the vector engine, so they agree bit for bit):

1. **warm-up** ``warmup=W``: the LR multiplier ``w(s) = min(1, s / W)``; the run's
   progress is the LR area ``tau(s) = w(1) + ... + w(s)`` (``s * (s + 1) / (2 * W)`` up to
   ``W``, then ``(W + 1) / 2 + s - W``), so the loss stays high and flat-ish, then falls.
2. **trend** of ``tau``: the profile's line ``max(floor, start - decay * tau)`` (the
   default), :class:`PowerLaw` ``E + A / (tau + t0) ** alpha`` or :class:`Exponential`
   ``E + A * exp(-tau / tau0)``.
3. **schedule** (:class:`Cosine`, :class:`WSD` or :class:`StepDecay`): a decay multiplier
   ``d(s)`` in ``[final, 1]``; annealing lowers the loss by ``anneal * (1 - d(s))``.
   The LR of step ``s`` is ``w(s) * d(s)`` (relative to the peak LR): ``LossCurve.lrs``.
4. **epochs** (:class:`Epochs`): in epoch ``e = (s - 1) // length`` the loss is multiplied
   by ``(1 - drop) ** e`` and rises by ``rise * ((s - 1) % length) / length``.
5. the profile's **plateaus** hold the value of (1-4) at their first step; its
   **divergence** grows from the value at step ``max(k - 1, 1)`` (``np.power``).
6. **spikes** (:class:`Spike`): ``peak`` for ``width`` steps, then the excess over the
   (``level`` times higher) trend shrinks to 1% over ``tail`` steps:
   ``t + (peak - t) * 0.01 ** (j / tail)`` at the ``j``-th tail step; from the step after
   the peak on, the trend is multiplied by ``level``.
7. **noise** (:class:`TrainingNoise`): ``loss * (1 + sigma * e(s))``, clipped to
   ``[0, LOSS_CEILING]``.
8. **precision** ``"bf16"`` or ``"fp16"``: the logged value is rounded as
   ``torch.tensor(x, dtype=float32).to(dtype)`` rounds it (round to nearest even; fp16
   values are first capped at 65504, its largest finite value).
9. peaks of spikes, the profile's ``spikes`` and ``nonfinite`` steps replace the value.

Benign events are ground truth: the warm-up ``(1, W)`` is a ``"warmup"`` event, a WSD
cool-down ``(decay_start, decay_start + decay_steps - 1)`` and each step-decay drop
``(s, s)`` are ``"schedule"`` events, and each epoch boundary ``(b, b)`` (the first step of
every epoch but the first) is an ``"epoch"`` event. A :class:`Spike` is a ``"spike"``
event over its peak and its tail. A cosine decay is smooth: it is no event.

"Reaches the floor" for a shaped profile means the noise-free trend of (1-2) is within
:data:`FLOOR_RTOL` (1%) of the floor: ``trend(tau(s)) <= floor * (1 + FLOOR_RTOL)``.
Imports no numpy.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import MAX_SEED
from pytest_synthloss.core.validation import LOSS_CEILING, check_number, check_step

__all__ = [
    "FLOOR_RTOL",
    "PRECISIONS",
    "WSD",
    "Cosine",
    "Epochs",
    "Exponential",
    "PowerLaw",
    "Shape",
    "Spike",
    "StepDecay",
    "TrainingNoise",
    "event_windows",
]

#: A shaped profile reaches its floor when its trend is within this fraction above it.
FLOOR_RTOL = 0.01
PRECISIONS = ("bf16", "fp16")


def _positive(what: str, value: object) -> float:
    number = check_number(what, value, "> 0")
    if number > LOSS_CEILING:
        raise SynthLossError(f"{what} must be a finite number from 0 to 1e+38, got {value!r}")
    return number


def _fraction(what: str, value: object, top: str = "< 1") -> float:
    number = check_number(what, value, ">= 0")
    if number > 1 or (top == "< 1" and number == 1):
        raise SynthLossError(f"{what} must be a number from 0 to 1 ({top}), got {value!r}")
    return number


@dataclass(frozen=True)
class PowerLaw:
    """The Chinchilla form ``E + A / (tau + t0) ** alpha`` (``E`` is the floor)."""

    E: float
    A: float
    alpha: float
    t0: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "E", _positive("power law E", self.E))
        object.__setattr__(self, "A", _positive("power law A", self.A))
        object.__setattr__(self, "alpha", _positive("power law alpha", self.alpha))
        object.__setattr__(self, "t0", _positive("power law t0", self.t0))


@dataclass(frozen=True)
class Exponential:
    """Exponential decay ``E + A * exp(-tau / tau0)`` (``E`` is the floor)."""

    E: float
    A: float
    tau0: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "E", _positive("exponential E", self.E))
        object.__setattr__(self, "A", _positive("exponential A", self.A))
        object.__setattr__(self, "tau0", _positive("exponential tau0", self.tau0))


@dataclass(frozen=True)
class Cosine:
    """Cosine decay over steps ``first..last``: ``d = final + (1 - final) * (1 + cos(pi * x)) / 2``
    with ``x = (s - first + 1) / (last - first + 1)``; ``d = 1`` before, ``final`` after."""

    first: int
    last: int
    final: float = 0.1

    def __post_init__(self) -> None:
        first = check_step(self.first, "cosine first")
        last = check_step(self.last, "cosine last")
        if last < first:
            raise SynthLossError(f"cosine last must be >= first ({first}), got {last}")
        object.__setattr__(self, "first", first)
        object.__setattr__(self, "last", last)
        object.__setattr__(self, "final", _fraction("cosine final", self.final, "<= 1"))

    @property
    def end(self) -> int:
        return self.last


@dataclass(frozen=True)
class WSD:
    """Warmup-stable-decay's cool-down: ``d`` falls linearly from 1 to ``final`` over
    ``decay_steps`` steps from ``decay_start`` (``d = 1 - (1 - final) * j / decay_steps`` at
    its ``j``-th step), a ``"schedule"`` event."""

    decay_start: int
    decay_steps: int
    final: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "decay_start", check_step(self.decay_start, "wsd decay_start"))
        object.__setattr__(self, "decay_steps", check_step(self.decay_steps, "wsd decay_steps"))
        object.__setattr__(self, "final", _fraction("wsd final", self.final, "<= 1"))

    @property
    def end(self) -> int:
        return self.decay_start + self.decay_steps - 1


@dataclass(frozen=True)
class StepDecay:
    """The LR is multiplied by ``factor`` at each of ``steps`` (``d = factor ** k`` after k
    drops); each drop step is a ``"schedule"`` event."""

    steps: tuple[int, ...]
    factor: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.steps, (str, bytes)) or not hasattr(self.steps, "__iter__"):
            raise SynthLossError(
                f"step decay steps must be a sequence of steps, got {self.steps!r}"
            )
        steps = tuple(check_step(s, "step decay step") for s in self.steps)
        if not steps or list(steps) != sorted(set(steps)):
            raise SynthLossError(
                f"step decay steps must be distinct and ascending (at least one), got {steps!r}"
            )
        object.__setattr__(self, "steps", steps)
        factor = _fraction("step decay factor", self.factor)
        if factor == 0:
            raise SynthLossError(f"step decay factor must be a number in (0, 1), got {factor!r}")
        object.__setattr__(self, "factor", factor)

    @property
    def end(self) -> int:
        return self.steps[-1]


@dataclass(frozen=True)
class Epochs:
    """An epoch staircase: epochs of ``length`` steps; see the module docstring (4)."""

    length: int
    drop: float = 0.1
    rise: float = 0.0

    def __post_init__(self) -> None:
        length = check_step(self.length, "epochs length")
        if length < 2:
            raise SynthLossError(f"epochs length must be an integer >= 2, got {length}")
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "drop", _fraction("epochs drop", self.drop))
        object.__setattr__(self, "rise", check_number("epochs rise", self.rise, ">= 0"))


@dataclass(frozen=True)
class TrainingNoise:
    """Heteroscedastic noise ``loss * (1 + sigma * e(s))``, optionally AR(1).

    ``e`` is a pure function of ``(seed, step)``: with the draws ``z`` of
    :func:`pytest_synthloss.core.model.noise_at` (blocks of ``NOISE_BLOCK`` steps),
    ``e = z`` when ``ar == 0``; else, within each block, ``e`` at the block's first step is
    its ``z`` and ``e(s) = ar * e(s - 1) + sqrt(1 - ar**2) * z(s)`` after it: the AR(1)
    process restarts (from its stationary law) at every block, so any step is reachable
    by drawing one block.
    """

    sigma: float
    seed: int
    ar: float = 0.0

    def __post_init__(self) -> None:
        sigma = check_number("training noise sigma", self.sigma, ">= 0")
        if sigma > 1:
            raise SynthLossError(
                f"training noise sigma must be a number from 0 to 1, got {sigma!r}"
            )
        object.__setattr__(self, "sigma", sigma)
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise SynthLossError(
                f"training noise seed must be an integer in [0, 2**128), got {seed!r}"
            )
        if not 0 <= int(seed) <= MAX_SEED:
            raise SynthLossError(
                f"training noise seed must be an integer in [0, 2**128), got {int(seed)}"
            )
        object.__setattr__(self, "seed", int(seed))
        object.__setattr__(self, "ar", _fraction("training noise ar", self.ar))


@dataclass(frozen=True)
class Spike:
    """A spike: ``peak`` for ``width`` steps from ``step``, a recovery ``tail``, a ``level``."""

    step: int
    peak: float
    width: int = 1
    tail: int = 0
    level: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", check_step(self.step, "spike step"))
        object.__setattr__(self, "peak", _positive("spike peak", self.peak))
        object.__setattr__(self, "width", check_step(self.width, "spike width"))
        tail = self.tail
        if isinstance(tail, bool) or not isinstance(tail, numbers.Integral) or tail < 0:
            raise SynthLossError(f"spike tail must be an integer >= 0, got {tail!r}")
        object.__setattr__(self, "tail", int(tail))
        level = check_number("spike level", self.level, ">= 0")
        if not 1 <= level <= 10:
            raise SynthLossError(f"spike level must be a number from 1 to 10, got {level!r}")
        object.__setattr__(self, "level", level)

    @property
    def last(self) -> int:
        """The last step of the spike's event (peak and tail)."""
        return self.step + self.width + self.tail - 1


Trend = PowerLaw | Exponential
Schedule = Cosine | WSD | StepDecay


@dataclass(frozen=True)
class Shape:
    """How a profile's curve looks like a real run; see the module docstring for the order."""

    trend: Trend | None = None
    warmup: int = 0
    schedule: Schedule | None = None
    anneal: float = 0.0
    epochs: Epochs | None = None
    noise: TrainingNoise | None = None
    precision: str | None = None
    spikes: tuple[Spike, ...] = ()

    def __post_init__(self) -> None:
        for what, value, kinds in (
            ("trend", self.trend, (PowerLaw, Exponential)),
            ("schedule", self.schedule, (Cosine, WSD, StepDecay)),
            ("epochs", self.epochs, (Epochs,)),
            ("noise", self.noise, (TrainingNoise,)),
        ):
            if value is not None and not isinstance(value, kinds):
                names = " or ".join(k.__name__ for k in kinds)
                raise SynthLossError(f"shape {what} must be a {names} or None, got {value!r}")
        warmup = self.warmup
        if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
            raise SynthLossError(f"shape warmup must be an integer >= 0 (steps), got {warmup!r}")
        object.__setattr__(self, "warmup", int(warmup))
        object.__setattr__(self, "anneal", check_number("shape anneal", self.anneal, ">= 0"))
        if self.precision is not None and self.precision not in PRECISIONS:
            raise SynthLossError(
                f"shape precision must be 'bf16', 'fp16' or None, got {self.precision!r}"
            )
        spikes = tuple(self.spikes)
        if not all(isinstance(s, Spike) for s in spikes):
            raise SynthLossError(f"shape spikes must be a sequence of Spike, got {self.spikes!r}")
        object.__setattr__(self, "spikes", tuple(sorted(spikes, key=lambda s: s.step)))

    def floor_of(self, floor: float) -> float:
        """The trend's floor: ``E`` of a power law or exponential, else the profile's."""
        return floor if self.trend is None else self.trend.E


def event_windows(shape: Shape, first: int, last: int) -> list[tuple[str, int, int]]:
    """The shape's benign and spike event windows ``(kind, a, b)`` that meet ``first..last``."""
    out: list[tuple[str, int, int]] = []
    if shape.warmup:
        out.append(("warmup", 1, shape.warmup))
    sched = shape.schedule
    if isinstance(sched, WSD):
        out.append(("schedule", sched.decay_start, sched.end))
    elif isinstance(sched, StepDecay):
        out.extend(("schedule", s, s) for s in sched.steps)
    if shape.epochs is not None:
        length = shape.epochs.length
        index = max(1, (first - 1 + length - 1) // length)
        while index * length + 1 <= last:
            out.append(("epoch", index * length + 1, index * length + 1))
            index += 1
    out.extend(("spike", s.step, s.last) for s in shape.spikes)
    return [(k, a, b) for k, a, b in out if a <= last and b >= first]
