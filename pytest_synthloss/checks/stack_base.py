"""What the stack presets share: parameters under the stack's names, and replaying a run.

A stack preset reproduces one training stack's spike decision at every step (see
``docs/stacks.md``): it is a spike rule whose :meth:`StackPreset.decide` returns the
reference, the score and the stack's own decision for each loss. Presets are built from the
stack's own parameter names and defaults (:data:`StackPreset.PARAMS`); an unknown name, or a
value the stack refuses, is a :class:`~pytest_synthloss.SynthLossError`.

Every preset replays the run from its first step: the steps before a resumed curve are its
history (at most ``MAX_HISTORY`` of them). ``dtype`` (``"float64"`` or ``"float32"``) is
ours, not the stack's: the dtype of the loss tensor the stack is given. The losses are
rounded to it first, and the stacks that compute in the tensor's dtype do so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.text import unknown_parameter

__all__ = ["DTYPES", "MAX_HISTORY", "StackPreset", "constant_tail", "repeat_last"]

#: The loss tensor dtypes a preset models.
DTYPES = ("float64", "float32")
#: The most earlier steps a preset replays for a resumed curve (2**22).
MAX_HISTORY = 1 << 22


class StackPreset:
    """Base of the stack presets: parameters, validation, and the spike-rule interface."""

    #: Short name used by :func:`~pytest_synthloss.checks.rules.get_rule`.
    name: ClassVar[str]
    #: The stack's own parameters and their defaults, in the stack's order.
    PARAMS: ClassVar[Mapping[str, object]]
    #: Where the decision lives and the version the preset follows.
    source: ClassVar[str]
    version: ClassVar[str]
    score_label: ClassVar[str] = "ratio"
    #: What a non-finite loss counts as when no policy is given: the stack's own handling.
    default_nonfinite: ClassVar[str] = "stack"

    def __init__(self, **params: Any) -> None:
        message = unknown_parameter(self.name, params, [*self.PARAMS, "dtype"])
        if message:
            raise SynthLossError(message)
        dtype = params.pop("dtype", "float64")
        if dtype not in DTYPES:
            raise SynthLossError(f"{self.name}: dtype must be one of {DTYPES}, got {dtype!r}")
        self.dtype: str = dtype
        values = {**self.PARAMS, **params}
        self.params: Mapping[str, Any] = MappingProxyType(self.check(values))

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """The parameters, validated with the stack's own rules (subclasses)."""
        return params

    @property
    def lookback(self) -> None:
        """Presets replay the whole run."""
        return None

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.items() if v != self.PARAMS[k]}
        if self.dtype != "float64":
            changed["dtype"] = self.dtype
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"get_rule({self.name!r}{', ' if args else ''}{args})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StackPreset)
            and other.name == self.name
            and dict(other.params) == dict(self.params)
            and other.dtype == self.dtype
        )

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.params.items()), self.dtype))

    def describe(self) -> str:
        """E.g. ``lightning SpikeDetection(window=10, rtol=2.0)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        text = f"{self.name} ({args})"
        return text if self.dtype == "float64" else f"{text} in float32"

    def values(self, losses: np.ndarray) -> np.ndarray:
        """The losses as the stack's tensor would hold them."""
        if self.dtype == "float32":
            with np.errstate(over="ignore"):
                return losses.astype(np.float32)
        return losses

    def decide(
        self, losses: np.ndarray, context: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reference, score and the stack's decision for each loss, after ``context``."""
        if context.size > MAX_HISTORY:
            raise SynthLossError(
                f"{self.name}: replays the run from its first step; at most MAX_HISTORY "
                f"({MAX_HISTORY}) earlier steps, got {context.size}"
            )
        run = self.values(np.concatenate([context, losses]) if context.size else losses)
        if not run.size:
            return np.empty(0), np.empty(0), np.zeros(0, bool)
        reference, score, mask = self._replay(run)
        cut = context.size
        return reference[cut:], score[cut:], mask[cut:]

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reference, score and decision over a whole run from its first step (subclasses)."""
        raise NotImplementedError

    def settle(self, start: int) -> int | None:
        """Steps ``s`` such that, when every loss from run index ``start`` on is one finite
        value, every step from ``start + s`` on has the reference, score and decision of step
        ``start + s`` (the stack's state no longer changes); ``None``: no such bound."""
        return None

    def _replay(self, run: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`run`, computing only up to where a constant tail has settled (see
        :meth:`settle`); the rest repeats that step's outputs."""
        n = run.size
        start = constant_tail(run)
        settle = self.settle(start) if start < n else None
        if settle is None or start + settle + 1 >= n:
            return self.run(run)
        reference, score, mask = self.run(run[: start + settle + 1])
        return repeat_last(reference, n), repeat_last(score, n), repeat_last(mask, n)

    def evaluate(self, losses: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reference and score (the decision is :meth:`decide`'s)."""
        reference, score, _ = self.decide(losses, context)
        return reference, score

    def is_spike(self, score: np.ndarray) -> np.ndarray:
        """Not a function of the score alone for a stack: use :meth:`decide`."""
        raise SynthLossError(f"{self.name}: the decision needs the run; use detect_spikes")

    def format_score(self, value: float) -> str:
        """E.g. ``4.75x``."""
        return f"{value:.3g}x"


def constant_tail(x: np.ndarray) -> int:
    """Where the last stretch of one repeated finite, nonzero value starts (``x.size``:
    none). Scanned from the end in growing blocks, so a short tail costs little."""
    n = x.size
    if not n or not np.isfinite(x[-1]) or x[-1] == 0:  # 0.0 == -0.0: no tail of zeros
        return n
    last = x[-1]
    end, block = n, 1 << 10
    while end > 0:  # cache-sized blocks: the comparison stays in cache
        begin = max(0, end - block)
        other = x[begin:end] != last
        if other.any():
            return begin + int(np.flatnonzero(other)[-1]) + 1
        end, block = begin, min(block * 2, 1 << 14)
    return 0


def repeat_last(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` extended to ``n`` entries by repeating its last one."""
    out = np.empty(n, values.dtype)
    out[: values.size] = values
    out[values.size :] = values[-1]
    return out


# -- parameter checks shared by the presets -------------------------------------------


def number(preset: str, name: str, value: object, *, optional: bool = False) -> float | None:
    """A real number (``None`` allowed when ``optional``); bools are refused."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a number or None" if optional else "a number"
        raise SynthLossError(f"{preset}: {name} must be {kind}, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise SynthLossError(f"{preset}: {name} is beyond float range: {value!r}") from None


def integer(preset: str, name: str, value: object, *, low: int, high: int = MAX_HISTORY) -> int:
    """An int from ``low`` to ``high``; bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SynthLossError(
            f"{preset}: {name} must be an integer from {low} to {high}, got {value!r}"
        )
    return value


def real(preset: str, name: str, value: object) -> float:
    """A real number (inf and NaN allowed: the stacks compare with them)."""
    checked = number(preset, name, value)
    assert checked is not None
    return checked


def finite(preset: str, name: str, value: object) -> float:
    """A finite real number."""
    number_ = number(preset, name, value)
    assert number_ is not None
    if not math.isfinite(number_):
        raise SynthLossError(f"{preset}: {name} must be finite, got {value!r}")
    return number_


def ratio(losses: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``loss / reference`` in float64 (NaN where there is none)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return losses.astype(np.float64, copy=False) / reference.astype(np.float64, copy=False)
