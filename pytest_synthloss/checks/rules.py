"""Spike rules: when is a loss a spike? The generic rules, and the stack presets by name.

Every rule compares each loss with a *reference* built from the losses before it and
flags the step when the loss is too far above it. Non-finite losses (NaN, inf, -inf) never
enter a reference; what they count as is the ``nonfinite`` policy of
:func:`~pytest_synthloss.checks.detection.detect_spikes`
(:data:`~pytest_synthloss.checks.detection.NONFINITE_POLICIES`):

* ``"spike"`` (default for these rules): every non-finite loss is a spike;
* ``"ignore"``: non-finite losses are skipped: never spikes, never in a reference;
* ``"error"``: a non-finite loss raises :class:`~pytest_synthloss.LossAssertionError`
  naming the first one.

A step with no reference (the first step of a run, or a step inside a rule's warm-up) is
never a spike (except a non-finite one under ``"spike"``).

=========================  ==============================================
name                       spike when
=========================  ==============================================
``running-min`` (default)  ``loss >= 3.0 * min(all previous losses)``
``running-mean``           ``loss >= 3.0 * mean(previous 10 losses)``
``ema``                    ``loss >= 3.0 * EMA(previous losses, span 9)``
``zscore``                 ``loss > mean + 6 * std`` (previous 128, >= 64)
=========================  ==============================================

These four are generic: none of them is any training stack's rule. The stack presets
(:data:`STACK_PRESETS`: ``lightning``, ``metaseq``, ``megatron``, ``olmo-skip-step``,
``olmo-stability``, ``llm-foundry``) reproduce a stack's own decision at every step, with
the stack's parameter names and defaults: ``get_rule("lightning", window=20)``. They follow
the stack's own handling of NaN/inf unless a ``nonfinite`` policy is given; see
``docs/stacks.md``.

The default, ``RunningMinRatio(3.0)``, cannot be fooled by the decay of a healthy run (the
running minimum only falls) and keeps flagging a spike that lasts several steps: on the
``spiky`` profile it flags exactly steps 4 and 5, on ``stable`` nothing, for any run length
and start step (a resumed :class:`~pytest_synthloss.LossCurve` is checked with the
profile's earlier steps as context, see
:func:`~pytest_synthloss.checks.detection.detect_spikes`). Ratio rules assume positive
losses; use ``zscore`` for losses that may be negative. Windows and warm-ups are at most
:data:`MAX_WINDOW` steps (2**22), EMA spans at most :data:`MAX_SPAN` (2**18);
a window longer than the series simply covers every earlier step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, Protocol

import numpy as np

from pytest_synthloss.checks.kernels import finite_or_nan, rolling, running_min_before
from pytest_synthloss.checks.rolling_stats import (
    ema_before,
    mean_ratio,
    rolling_mean,
    rolling_min,
    rolling_zscore,
)
from pytest_synthloss.checks.stack_base import StackPreset
from pytest_synthloss.checks.stacks_lightning import LightningSpikeDetection
from pytest_synthloss.checks.stacks_llm import MegatronSpikyLoss, MetaseqSkipSpike
from pytest_synthloss.checks.stacks_llm_foundry import LLMFoundryKillLossSpike
from pytest_synthloss.checks.stacks_olmo import OlmoSkipStep
from pytest_synthloss.checks.stacks_olmo_stability import OlmoStability
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.text import did_you_mean, unknown_parameter
from pytest_synthloss.core.validation import show

__all__ = [
    "DEFAULT_RULE",
    "MAX_SPAN",
    "MAX_WINDOW",
    "SPIKE_RULES",
    "STACK_PRESETS",
    "EMARatio",
    "RollingZScore",
    "RunningMeanRatio",
    "RunningMinRatio",
    "SpikeRule",
    "get_rule",
]

#: The longest window (and warm-up) a rule accepts, in steps: 2**22. A resumed curve's
#: history is computed over the window, so this bounds that work.
MAX_WINDOW = 1 << 22
#: The largest EMA span, 2**18: its lookback (about 13.8 spans) stays within :data:`MAX_WINDOW`.
MAX_SPAN = 1 << 18


class SpikeRule(Protocol):
    """What a spike rule provides: see :class:`RunningMinRatio` for a complete example."""

    #: Short name used in messages and by :func:`get_rule`.
    name: ClassVar[str]
    #: Label of the score column in failure tables (``"ratio"`` or ``"z"``).
    score_label: ClassVar[str]

    @property
    def lookback(self) -> int | None:
        """How many earlier steps the reference can depend on (``None``: all of them)."""

    def describe(self) -> str:
        """The rule and its thresholds, e.g. ``"running-min ratio >= 3.0"``."""

    def evaluate(self, losses: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reference and score of each loss, from earlier losses only (NaN: none).

        ``context`` holds the finite losses of the steps before ``losses``, oldest first.
        """

    def is_spike(self, score: np.ndarray) -> np.ndarray:
        """Which scores are spikes (NaN scores are not)."""

    def format_score(self, value: float) -> str:
        """A score as shown in failure tables (``"4.75x"``, ``"z=7.1"``)."""


def _number(
    name: str,
    value: object,
    rule: str,
    *,
    integer: bool = False,
    low: float = 0,
    high: tuple[float, str] | None = None,
) -> float:
    """``value`` checked; ``high`` is ``(bound, name of the bound)`` when there is one."""
    allowed = numbers.Integral if integer else numbers.Real  # numpy scalars too
    valid = not isinstance(value, bool) and isinstance(value, allowed)
    try:
        number = float(value) if valid else math.nan  # type: ignore[arg-type]
        huge = False
    except OverflowError:  # an int beyond float range
        number, huge = math.inf, True
    if high is not None and (huge or high[0] < number < math.inf):
        raise SynthLossError(
            f"{rule}: {name} must be at most {int(high[0])} ({high[1]}), got {show(value)}"
        )
    if not math.isfinite(number) or number < low or (low == 0 and number == 0):
        kind = (
            f"an integer >= {low:g}"
            if integer
            else f"a finite number {'>' if low == 0 else '>='} {low:g}"
        )
        raise SynthLossError(f"{rule}: {name} must be {kind}, got {show(value)}")
    return number


def _check_warmup(rule: str, window: int, warmup: int) -> None:
    """A warm-up counts losses within the window: more than the window never fires."""
    if warmup > window:
        raise SynthLossError(
            f"{rule}: warmup {warmup} is more than window {window}, so the rule would never "
            "fire (the warm-up counts losses within the window); use warmup <= window"
        )


def _steps(name: str, value: object, rule: str, low: int = 1) -> int:
    """An integer count of steps from ``low`` to :data:`MAX_WINDOW`."""
    window = (float(MAX_WINDOW), "MAX_WINDOW")
    return int(_number(name, value, rule, integer=True, low=low, high=window))


class _RatioRule:
    """Shared parts of the rules that flag ``loss / reference >= threshold``."""

    score_label: ClassVar[str] = "ratio"
    threshold: float

    def reference(self, losses: np.ndarray, context: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, losses: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reference and ``loss / reference``."""
        reference = self.reference(losses, context)
        with np.errstate(divide="ignore", invalid="ignore"):
            return reference, losses / reference

    def is_spike(self, score: np.ndarray) -> np.ndarray:
        """``ratio >= threshold``."""
        with np.errstate(invalid="ignore"):
            return score >= self.threshold

    def format_score(self, value: float) -> str:
        """E.g. ``4.75x``."""
        return f"{value:.3g}x"


@dataclass(frozen=True)
class RunningMinRatio(_RatioRule):
    """Spike when ``loss >= threshold * min(previous losses)``: the default rule.

    ``window=None`` takes the minimum over every earlier step (the best loss so far);
    an integer takes it over that many earlier steps only.
    """

    threshold: float = 3.0
    window: int | None = None
    name: ClassVar[str] = "running-min"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _number("threshold", self.threshold, self.name))
        if self.window is not None:
            object.__setattr__(self, "window", _steps("window", self.window, self.name))

    @property
    def lookback(self) -> int | None:
        """All earlier steps, or ``window`` of them."""
        return self.window

    def describe(self) -> str:
        """E.g. ``running-min ratio >= 3.0``."""
        text = f"running-min ratio >= {self.threshold!r}"
        return text if self.window is None else f"{text} (window {self.window})"

    def reference(self, losses: np.ndarray, context: np.ndarray) -> np.ndarray:
        """The smallest finite loss among the earlier steps (``window`` of them if set)."""
        if self.window is not None:
            fast = rolling_min(losses, context, self.window)
            return rolling(losses, context, self.window, 1, np.nanmin) if fast is None else fast
        lead = float(context.min()) if context.size else math.nan
        return running_min_before(finite_or_nan(losses), lead)


@dataclass(frozen=True)
class RunningMeanRatio(_RatioRule):
    """Spike when ``loss >= threshold * mean(previous losses)``.

    The mean covers the finite losses of the last ``window`` steps once ``warmup`` exist.
    Spikes stay in the mean, so the second step of a long spike may pass (unlike the
    ``lightning`` preset, whose mean keeps spikes out).
    """

    threshold: float = 3.0
    window: int = 10
    warmup: int = 1
    name: ClassVar[str] = "running-mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _number("threshold", self.threshold, self.name))
        for field_name in ("window", "warmup"):
            value = _steps(field_name, getattr(self, field_name), self.name)
            object.__setattr__(self, field_name, value)
        _check_warmup(self.name, self.window, self.warmup)

    @property
    def lookback(self) -> int:
        """The window."""
        return self.window

    def describe(self) -> str:
        """E.g. ``running-mean ratio >= 3.0 (window 10, warmup 1)``."""
        return (
            f"running-mean ratio >= {self.threshold!r} (window {self.window}, warmup {self.warmup})"
        )

    def reference(self, losses: np.ndarray, context: np.ndarray) -> np.ndarray:
        """The mean of the finite losses among the previous ``window`` steps."""
        return rolling_mean(losses, context, self.window, self.warmup)

    def decide(self, losses: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, ...]:
        """:meth:`evaluate` and :meth:`is_spike` in one pass (non-finite context left out)."""
        return mean_ratio(losses, context, self.window, self.warmup, self.threshold)


@dataclass(frozen=True)
class EMARatio(_RatioRule):
    """Spike when ``loss >= threshold * EMA(previous losses)`` (every finite loss enters it).

    The EMA has ``alpha = 2 / (span + 1)`` and starts at the first finite loss.
    """

    threshold: float = 3.0
    span: float = 9.0
    name: ClassVar[str] = "ema"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _number("threshold", self.threshold, self.name))
        span = _number("span", self.span, self.name, low=1, high=(float(MAX_SPAN), "MAX_SPAN"))
        object.__setattr__(self, "span", span)

    @property
    def lookback(self) -> int:
        """Steps whose weight in the EMA is above 1e-12."""
        decay = 1.0 - 2.0 / (self.span + 1.0)
        return 1 if decay <= 0 else math.ceil(math.log(1e-12) / math.log(decay))

    def describe(self) -> str:
        """E.g. ``EMA ratio >= 3.0 (span 9)``."""
        return f"EMA ratio >= {self.threshold!r} (span {self.span:g})"

    def reference(self, losses: np.ndarray, context: np.ndarray) -> np.ndarray:
        """The EMA of the finite losses before each step."""
        values = finite_or_nan(losses)
        return ema_before(
            np.concatenate([context, values]) if context.size else values, 2.0 / (self.span + 1.0)
        )[context.size :]


@dataclass(frozen=True)
class RollingZScore:
    """Spike when ``loss > mean + threshold * std`` of the previous ``window`` losses.

    Active once ``warmup`` earlier losses exist: on a 20-step curve, with the defaults
    (window 128, warmup 64), it never fires. Works for losses of any sign. Above a
    constant window (std 0) any rise is a spike (``z = inf``).
    """

    threshold: float = 6.0
    window: int = 128
    warmup: int = 64
    name: ClassVar[str] = "zscore"
    score_label: ClassVar[str] = "z"

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _number("threshold", self.threshold, self.name))
        for field_name in ("window", "warmup"):
            value = _steps(field_name, getattr(self, field_name), self.name, low=2)
            object.__setattr__(self, field_name, value)
        _check_warmup(self.name, self.window, self.warmup)

    @property
    def lookback(self) -> int:
        """The window."""
        return self.window

    def describe(self) -> str:
        """E.g. ``rolling z-score > 6.0 (window 128, warmup 64)``."""
        return f"rolling z-score > {self.threshold!r} (window {self.window}, warmup {self.warmup})"

    def evaluate(self, losses: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The window mean and ``(loss - mean) / std`` (NaN before the warm-up).

        The mean is numpy's (``np.nanmean`` of the window) bit for bit; the spikes are those
        of numpy's two-pass std, the other scores within 2**-20 of its (see
        :func:`~pytest_synthloss.checks.rolling_stats.rolling_zscore`).
        """
        return rolling_zscore(losses, context, self.window, self.warmup, self.threshold)[:2]

    def decide(self, losses: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, ...]:
        """:meth:`evaluate` and :meth:`is_spike` in one pass (non-finite context left out)."""
        return rolling_zscore(losses, context, self.window, self.warmup, self.threshold)

    def is_spike(self, score: np.ndarray) -> np.ndarray:
        """``z > threshold``."""
        with np.errstate(invalid="ignore"):
            return score > self.threshold

    def format_score(self, value: float) -> str:
        """E.g. ``z=7.12``."""
        return f"z={value:.3g}"


#: The rule used when none is given.
DEFAULT_RULE = RunningMinRatio()

#: The stack presets by name (see ``docs/stacks.md``).
STACK_PRESETS: dict[str, type[StackPreset]] = {
    preset.name: preset
    for preset in (
        LightningSpikeDetection,
        MetaseqSkipSpike,
        MegatronSpikyLoss,
        OlmoSkipStep,
        OlmoStability,
        LLMFoundryKillLossSpike,
    )
}

#: Rule classes by name, for ``rule="running-mean"``, ``rule="lightning"`` and friends.
SPIKE_RULES: dict[str, Callable[..., SpikeRule]] = {
    RunningMinRatio.name: RunningMinRatio,
    RunningMeanRatio.name: RunningMeanRatio,
    EMARatio.name: EMARatio,
    RollingZScore.name: RollingZScore,
    **STACK_PRESETS,
}


def get_rule(rule: SpikeRule | str | None, **params: object) -> SpikeRule:
    """A rule instance from a rule, a name in :data:`SPIKE_RULES`, or ``None`` (the default).

    ``params`` build a named rule with those parameters: a stack preset's are the stack's
    own (``get_rule("lightning", window=20, rtol=1.0)``); an unknown one is an error.
    """
    if rule is None and not params:
        return DEFAULT_RULE
    if rule is None:
        rule = DEFAULT_RULE.name
    if isinstance(rule, str):
        try:
            make = SPIKE_RULES[rule]
        except KeyError:
            raise SynthLossError(
                f"unknown spike rule {rule!r}; known rules: {', '.join(SPIKE_RULES)}"
                + did_you_mean(rule, SPIKE_RULES)
            ) from None
        if rule in STACK_PRESETS:
            return make(**params)
        known = [f.name for f in fields(make)]  # type: ignore[arg-type]
        message = unknown_parameter(rule, params, known)
        if message:
            raise SynthLossError(message)
        return make(**params)
    if params:
        raise SynthLossError(f"parameters are for a rule given by name, not {rule!r}")
    if not all(
        hasattr(rule, attr) for attr in ("describe", "evaluate", "is_spike", "format_score")
    ):
        raise SynthLossError(
            f"rule must be a spike rule or one of {', '.join(SPIKE_RULES)}, got {rule!r}"
        )
    return rule
