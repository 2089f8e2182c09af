"""Linked signals: a run's gradient norm, learning rate, loss scale and step time, with events.

A profile with ``signals=Signals(...)`` produces, besides the loss, four more values per
step (:data:`SIGNAL_NAMES`), each a pure function of ``(seed, step)`` and the profile:

- ``learning_rate``: ``peak_lr`` times the profile's LR schedule (``LossCurve.lrs``: the
  warm-up and decay of its shape; 1.0 without one);
- ``grad_norm``: ``grad_norm * (1 + grad_noise * z1(s))`` (at least 0), where ``z1`` are
  seeded standard normal draws; ``grad_spike`` times that one step *before* each loss
  spike starts (a ``"grad_spike"`` event); ``inf`` at an fp16 overflow step and ``nan``
  at a non-finite loss;
- ``loss_scale``: the fp16 dynamic loss scale of :mod:`pytest_synthloss.core.loss_scale`
  (1.0 without ``loss_scale``); each overflow step is an ``"overflow"`` event (the step
  is skipped: no update, and the scale backs off), each step running with a grown scale
  a benign ``"scale_growth"`` event;
- ``step_time``: ``step_seconds * (1 + step_jitter * |z2(s)|)`` seconds; step 1 takes
  ``first_step_seconds`` (a benign ``"first_step"`` event: compilation, warm caches),
  every ``eval_every``-th step ``eval_seconds`` more (benign ``"eval"`` events), and the
  ``stall`` step its seconds more (a ``"stall"`` event).

``step_time`` is the simulated duration of a training step, logged as a metric; the
emulator's pacing (``--sleep-seconds``) and its ``stall`` fault are separate.
:func:`~pytest_synthloss.core.signal_series.signal_values` (vector) and
:func:`~pytest_synthloss.core.signal_series.signals_at` (scalar) compute them, bit for bit
alike; chunks of a curve compute their own steps only (constant memory). This module
holds the parameters; it imports no numpy.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import MAX_SEED
from pytest_synthloss.core.loss_scale import LossScale
from pytest_synthloss.core.validation import check_float, check_int, check_step

__all__ = ["SIGNAL_EVENT_KINDS", "SIGNAL_NAMES", "Signals"]

#: The signals of a run besides the loss, in the order they are logged.
SIGNAL_NAMES = ("grad_norm", "learning_rate", "loss_scale", "step_time")
#: The event kinds the signals add (``"first_step"``, ``"eval"`` and ``"scale_growth"`` are benign).
SIGNAL_EVENT_KINDS = ("grad_spike", "overflow", "scale_growth", "first_step", "eval", "stall")
#: Largest step time (seconds) accepted: a day.
MAX_SECONDS = 86_400.0


def _seconds(what: str, value: object, positive: bool = True) -> float:
    allowed = f"of seconds {'>' if positive else '>='} 0 and <= {MAX_SECONDS:g}"
    return check_float(
        f"signals {what}",
        value,
        minimum=0.0,
        maximum=MAX_SECONDS,
        positive=positive,
        allowed=allowed,
    )


@dataclass(frozen=True)
class Signals:
    """The parameters of a run's linked signals (see the module docs for the formulas).

    ``seed`` (an integer in ``[0, 2**128)``) seeds the grad-norm noise and the step-time
    jitter. ``stall`` is ``(step, seconds)``; ``loss_scale`` a :class:`LossScale` (fp16)
    or ``None`` (bf16/fp32: the scale is 1.0). Bad values are refused here, naming the
    parameter.
    """

    seed: int = 0
    peak_lr: float = 3e-4
    grad_norm: float = 1.0
    grad_noise: float = 0.1
    grad_spike: float = 10.0
    step_seconds: float = 0.5
    step_jitter: float = 0.05
    first_step_seconds: float | None = None
    eval_every: int | None = None
    eval_seconds: float = 0.0
    stall: tuple[int, float] | None = None
    loss_scale: LossScale | None = None

    def __post_init__(self) -> None:
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise SynthLossError(
                f"signals seed must be an integer in [0, 2**128), got {seed!r} "
                f"({type(seed).__name__})"
            )
        if not 0 <= int(seed) <= MAX_SEED:
            raise SynthLossError(f"signals seed must be an integer in [0, 2**128), got {seed!r}")
        object.__setattr__(self, "seed", int(seed))
        for name, low, high in (
            ("peak_lr", 0.0, 1e6),
            ("grad_norm", 0.0, 1e6),
            ("grad_noise", 0.0, 1.0),
            ("grad_spike", 1.0, 1e6),
        ):
            positive = low == 0.0 and high == 1e6
            value = check_float(
                f"signals {name}",
                getattr(self, name),
                minimum=low,
                maximum=high,
                positive=positive,
                allowed="> 0 and <= 1e+06" if positive else None,
            )
            object.__setattr__(self, name, value)
        object.__setattr__(self, "step_seconds", _seconds("step_seconds", self.step_seconds))
        jitter = check_float("signals step_jitter", self.step_jitter, minimum=0.0, maximum=10.0)
        object.__setattr__(self, "step_jitter", jitter)
        if self.first_step_seconds is not None:
            first = _seconds("first_step_seconds", self.first_step_seconds)
            object.__setattr__(self, "first_step_seconds", first)
        if self.eval_every is not None:
            every = check_int("signals eval_every", self.eval_every, 1, 1 << 40, "steps")
            object.__setattr__(self, "eval_every", every)
        object.__setattr__(
            self, "eval_seconds", _seconds("eval_seconds", self.eval_seconds, positive=False)
        )
        if self.eval_every is not None and self.eval_seconds == 0:
            raise SynthLossError(
                "signals eval_seconds must be > 0 when eval_every is set (an eval takes time), "
                "got 0.0"
            )
        if self.stall is not None:
            object.__setattr__(self, "stall", _checked_stall(self.stall))
        if self.loss_scale is not None and not isinstance(self.loss_scale, LossScale):
            raise SynthLossError(
                f"signals loss_scale must be a LossScale or None, got {self.loss_scale!r}"
            )

    @property
    def overflow_steps(self) -> tuple[int, ...]:
        """The fp16 overflow steps (skipped, no update), ascending."""
        return () if self.loss_scale is None else self.loss_scale.overflows

    def eval_steps(self, first: int, last: int) -> range:
        """The eval steps of ``first..last`` (every ``eval_every``-th step)."""
        if self.eval_every is None:
            return range(0)
        every = self.eval_every
        return range(-(-first // every) * every, last + 1, every)


def _checked_stall(stall: object) -> tuple[int, float]:
    if isinstance(stall, (str, bytes)) or not isinstance(stall, Iterable):
        raise SynthLossError(f"signals stall must be a (step, seconds) pair, got {stall!r}")
    pair = tuple(stall)
    if len(pair) != 2:
        raise SynthLossError(f"signals stall must be a (step, seconds) pair, got {stall!r}")
    return check_step(pair[0], "signals stall step"), _seconds("stall seconds", pair[1])
