"""Applying a spike rule to a series: :func:`detect_spikes`, its report and the NaN policy.

What a non-finite loss (NaN, inf, -inf) counts as is the ``nonfinite`` policy
(:data:`NONFINITE_POLICIES`): ``"spike"`` (every non-finite loss is a spike: the default of
the generic rules), ``"ignore"`` (never a spike, never in a reference), ``"error"`` (raise
:class:`~pytest_synthloss.LossAssertionError` naming the first one) or ``"stack"`` (what the
stack does: the default of the stack presets, and only for them). ``None`` means the
rule's default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pytest_synthloss.checks.rules import SpikeRule, get_rule
from pytest_synthloss.core.errors import LossAssertionError, SynthLossError
from pytest_synthloss.core.validation import loss_array, step_array

__all__ = [
    "NONFINITE_POLICIES",
    "SpikeReport",
    "apply_policy",
    "check_nonfinite_policy",
    "decision",
    "detect_spikes",
    "spike_report",
]

#: What a non-finite loss counts as: see the module docs. ``"spike"`` is the default.
NONFINITE_POLICIES = ("spike", "ignore", "error", "stack")


def check_nonfinite_policy(policy: object, rule: SpikeRule | None = None) -> str:
    """``policy`` (``None``: the rule's default) if valid for ``rule``, else an error."""
    default = getattr(rule, "default_nonfinite", "spike")
    if policy is None:
        return str(default)
    if not isinstance(policy, str) or policy not in NONFINITE_POLICIES:
        allowed = ", ".join(repr(p) for p in NONFINITE_POLICIES)
        raise SynthLossError(f"nonfinite must be one of {allowed} or None, got {policy!r}")
    if policy == "stack" and default != "stack":
        what = rule.describe() if rule else "this rule"
        raise SynthLossError(f"nonfinite='stack' is for the stack presets; {what} has no stack")
    return policy


@dataclass(frozen=True)
class SpikeReport:
    """The outcome of a rule over a series: the reference and score of every step."""

    rule: SpikeRule
    steps: np.ndarray
    losses: np.ndarray
    reference: np.ndarray
    score: np.ndarray
    mask: np.ndarray
    #: How non-finite losses were counted (one of :data:`NONFINITE_POLICIES`).
    nonfinite: str = "spike"

    @property
    def spike_steps(self) -> tuple[int, ...]:
        """The flagged steps, ascending."""
        return tuple(int(s) for s in self.steps[self.mask])

    def __repr__(self) -> str:
        """One line: the rule, the steps, and the flagged steps (the first ten)."""
        flagged = np.flatnonzero(self.mask)
        shown = ", ".join(str(int(self.steps[i])) for i in flagged[:10])
        more = f", ... ({flagged.size - 10} more)" if flagged.size > 10 else ""
        span = f"steps {self.steps[0]}..{self.steps[-1]}" if self.steps.size else "no steps"
        return (
            f"<SpikeReport {self.rule.describe()}, {span} ({self.steps.size:,}), "
            f"{flagged.size:,} flagged: [{shown}{more}], nonfinite={self.nonfinite!r}>"
        )


def detect_spikes(
    losses: npt.ArrayLike,
    rule: SpikeRule | str | None = None,
    *,
    steps: npt.ArrayLike | None = None,
    context: npt.ArrayLike = (),
    nonfinite: str | None = None,
) -> SpikeReport:
    """Apply ``rule`` to a 1-D series of losses (steps ``1..n`` unless ``steps`` is given).

    ``context`` holds the losses of the steps before the series (oldest first), as a
    resumed run's history: the assertions pass a resumed LossCurve's earlier steps here,
    so a step is a spike or not whatever step the run starts at. ``nonfinite`` says what
    a NaN/inf/-inf loss is: ``"spike"``, ``"ignore"`` (never a spike), ``"error"`` (raise
    :class:`~pytest_synthloss.LossAssertionError` at the first one) or ``"stack"`` (a
    stack preset's own handling); ``None`` (default) is the rule's default. A stack preset
    replays the whole run: ``context`` is then every earlier loss, NaN included.
    """
    chosen = get_rule(rule)
    policy = check_nonfinite_policy(nonfinite, chosen)
    values = loss_array("losses", losses)  # names the first non-number and its index
    if steps is None:
        steps_arr = np.arange(1, values.size + 1, dtype=np.int64)
    else:
        steps_arr = step_array("steps", steps)
        if steps_arr.shape != values.shape:
            raise SynthLossError(
                f"steps and losses differ in shape ({steps_arr.shape} and {values.shape})"
            )
    return spike_report(values, steps_arr, chosen, policy, context)


def spike_report(
    values: np.ndarray, steps: np.ndarray, rule: SpikeRule, policy: str, context: npt.ArrayLike
) -> SpikeReport:
    """:func:`detect_spikes` on checked input: float64 losses, int64 steps of the same shape
    (both kept in the report as given), a rule instance and a checked policy."""
    finite = np.isfinite(values) if policy == "error" else None
    if finite is not None and not finite.all():
        first = int(np.argmin(finite))
        raise LossAssertionError(
            f"Loss is not finite at step {int(steps[first])} (loss={float(values[first])!r}) "
            f"and nonfinite='error'"
        )
    reference, score, mask = decision(values, rule, policy, loss_array("context", context))
    return SpikeReport(rule, steps, values, reference, score, mask, policy)


def decision(
    values: np.ndarray, rule: SpikeRule, policy: str, context: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference, score and spike mask of ``rule`` over ``values`` (checked float64
    losses; ``context`` checked, ``policy`` checked and not ``"error"`` with a non-finite
    loss)."""
    decide = getattr(rule, "decide", None)
    if decide is not None:
        reference, score, mask = decide(values, context)
    else:
        reference, score = rule.evaluate(values, context[np.isfinite(context)])
        mask = rule.is_spike(score)
    return reference, score, apply_policy(mask, values, policy)


def apply_policy(mask: np.ndarray, values: np.ndarray, policy: str) -> np.ndarray:
    """``mask`` with the non-finite losses among ``values`` counted as ``policy`` says."""
    if policy == "stack":  # the preset alone decides what a non-finite loss is
        return mask
    with np.errstate(over="ignore", invalid="ignore"):  # one pass, no array made
        total = float(np.add.reduce(values, axis=None))
    if math.isfinite(total):  # a NaN/inf makes the sum NaN/inf (so can an overflow)
        return mask
    finite = np.isfinite(values)
    if finite.all():
        return mask
    counted: np.ndarray = mask | ~finite if policy == "spike" else mask & finite
    return counted
