"""The ``metaseq`` and ``megatron`` presets.

``metaseq`` follows ``Trainer.skip_spike`` (``metaseq/trainer.py``, commit f7ffa5f): the loss
is taken in bits (``loss / ln 2``); the EWM starts at the first loss; a step is a skipped
spike when ``loss / EWM > ewm_ratio_to_skip_batch`` (strict), and only a step that is not
one updates the EWM: ``(1 - alpha) * EWM + alpha * loss`` with ``alpha = 2 / (span + 1)``.
metaseq's default threshold, -1, is documented as "turned off" but the method still runs:
every positive loss then counts as a skipped spike, as here. A NaN loss poisons the EWM
(no spike after it); an EWM of 0 makes metaseq divide by zero, refused here.

``megatron`` follows ``RerunStateMachine.is_unexpectedly_large``
(``megatron/core/rerun_state_machine.py``, megatron-core 0.16.1), as ``pretrain_gpt.py``
calls it under ``--check-for-spiky-loss`` (``threshold=SPIKY_LOSS_FACTOR=10``): the first
``num_samples`` finite losses set the maximum ``|loss|``; after them a loss is a spike when
``|loss| >= threshold * max``. NaN/inf are never spikes here (Megatron checks them
separately, fatally, under ``--check-for-nan-in-loss-and-grad``) and are not counted.

``llm-foundry`` is in :mod:`pytest_synthloss.checks.stacks_llm_foundry`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from pytest_synthloss.checks.ewm_blocks import EwmBlocks
from pytest_synthloss.checks.stack_base import (
    StackPreset,
    constant_tail,
    finite,
    integer,
    number,
    ratio,
    repeat_last,
)
from pytest_synthloss.core.errors import SynthLossError

__all__ = ["MegatronSpikyLoss", "MetaseqSkipSpike"]

_LN2 = math.log(2)
#: Runs up to this many steps are replayed step by step (exact); longer ones vectorised.
_EXACT_STEPS = 1 << 16
_CHUNK = 1 << 16


class MetaseqSkipSpike(StackPreset):
    """metaseq ``Trainer.skip_spike(logging_outputs, ewm_ratio_to_skip_batch, span=9)``."""

    name: ClassVar[str] = "metaseq"
    source: ClassVar[str] = "metaseq/trainer.py (Trainer.skip_spike)"
    version: ClassVar[str] = "metaseq f7ffa5f (not installable: replayed from its source)"
    PARAMS: ClassVar[dict[str, object]] = {"ewm_ratio_to_skip_batch": -1.0, "span": 9}

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """A number for the threshold (float field); a span > -1 (alpha = 2 / (span + 1))."""
        params["ewm_ratio_to_skip_batch"] = number(
            self.name, "ewm_ratio_to_skip_batch", params["ewm_ratio_to_skip_batch"]
        )
        span = finite(self.name, "span", params["span"])
        if span == -1:
            raise SynthLossError(f"{self.name}: span=-1 divides by zero (alpha = 2 / (span + 1))")
        params["span"] = params["span"] if isinstance(params["span"], int) else span
        return params

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The EWM before each step (in bits), ``loss / EWM`` and the skipped spikes."""
        start = constant_tail(losses)
        if start <= _EXACT_STEPS and start < losses.size - 1:
            tail = self._tail(losses, start)
            if tail is not None:
                return tail
        if losses.size > _EXACT_STEPS:
            fast = self._vectorised(losses)
            if fast is not None:
                return fast
        return self._exact(losses.astype(np.float64, copy=False) / _LN2)

    def _alpha(self) -> float:
        return float(2 / (self.params["span"] + 1))

    def _exact(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._replay_from(bits, bits.size)[:3]

    def _replay_from(
        self, bits: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Step by step over ``bits`` and then its last value repeated up to ``n`` steps,
        stopping once the state is fixed: a spike (the EWM is frozen) or an update that
        leaves the EWM as it was (or NaN). Also returns the number of steps replayed."""
        threshold = float(self.params["ewm_ratio_to_skip_batch"])
        alpha = self._alpha()
        ewm_before = np.full(n, np.nan)
        scores = np.full(n, np.nan)
        spikes = np.zeros(n, bool)
        ewm: float | None = None
        values = bits.tolist()
        last = values[-1] if values else 0.0
        for index in range(n):
            loss = values[index] if index < len(values) else last
            if ewm is None:
                ewm = loss
            if ewm == 0:
                raise SynthLossError(
                    f"{self.name}: the EWM is 0 at run step {index + 1}; metaseq raises "
                    "ZeroDivisionError there"
                )
            ewm_before[index] = ewm
            score = loss / ewm
            scores[index] = score
            if score > threshold:
                spikes[index] = True
                if index >= len(values):
                    return ewm_before, scores, spikes, index + 1
            else:
                new = (1 - alpha) * ewm + alpha * loss
                if index >= len(values) and (new == ewm or (new != new and ewm != ewm)):
                    return ewm_before, scores, spikes, index + 1
                ewm = new
        return ewm_before, scores, spikes, n

    def _tail(
        self, losses: np.ndarray, start: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The run replayed up to its constant tail and into it until the state is fixed
        (see :meth:`_replay_from`); every later step repeats the last one replayed. ``None``
        if the state is not fixed within ``_EXACT_STEPS`` steps of the tail."""
        n = losses.size
        bits = losses[: start + 1].astype(np.float64) / _LN2
        limit = min(n, start + 1 + _EXACT_STEPS)
        reference, score, mask, done = self._replay_from(bits, limit)
        if done == limit < n:
            return None
        return (
            repeat_last(reference[:done], n),
            repeat_last(score[:done], n),
            repeat_last(mask[:done], n),
        )

    def _vectorised(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """As if no step spiked, up to the first spike; frozen while spiking; a chunk of
        ``_CHUNK`` steps at a time (in bits, checked finite). ``None``: a non-finite loss,
        or a ratio too close to the threshold to decide without the exact EWM (replay
        instead)."""
        threshold = float(self.params["ewm_ratio_to_skip_batch"])
        alpha = self._alpha()
        decay = 1 - alpha
        if not 0 < decay < 1:
            return None
        tolerance = 1e-9 * max(1.0, abs(threshold))
        n = losses.size
        ewm_before = np.empty(n)
        scores = np.empty(n)
        spikes = np.zeros(n, bool)
        ewm = float(losses[0]) / _LN2
        block = max(1, min(256, int(12.0 / -math.log10(decay))))
        blocks = EwmBlocks(alpha, decay ** np.arange(block + 1), _CHUNK)
        bits_buf, gap_buf, flag_buf = np.empty(_CHUNK), np.empty(_CHUNK), np.empty(_CHUNK, bool)
        pos = 0
        while pos < n:
            end = min(n, pos + _CHUNK)
            xs, gap, flags = bits_buf[: end - pos], gap_buf[: end - pos], flag_buf[: end - pos]
            if losses.dtype != np.float64:  # divided in float64
                np.copyto(xs, losses[pos:end])
            np.divide(xs if losses.dtype != np.float64 else losses[pos:end], _LN2, out=xs)
            if not np.isfinite(xs, out=flags).all():
                return None
            chain = ewm_before[pos:end]  # after a spike: overwritten below
            state = blocks.chain(xs, ewm, chain)
            with np.errstate(divide="ignore", invalid="ignore"):  # a 0 is refused below
                score = np.divide(xs, chain, out=scores[pos:end])
            high, low = float(np.max(score)), float(np.min(score))
            if not (math.isfinite(high) and math.isfinite(low)):  # a 0 EWM gives inf or NaN
                if np.equal(chain, 0, out=flags).any():
                    return None
            elif high <= threshold - 2 * tolerance:  # every ratio far below the threshold
                ewm, pos = state, end
                continue
            np.abs(np.subtract(score, threshold, out=gap), out=gap)
            if np.less_equal(gap, tolerance, out=flags).any():
                return None
            if not np.greater(score, threshold, out=flags).any():
                ewm, pos = state, end
                continue
            stop = int(np.argmax(flags))
            ewm = float(chain[stop])
            bits = losses[pos + stop : min(n, pos + stop + _CHUNK)].astype(np.float64) / _LN2
            if not np.isfinite(bits).all():
                return None
            tail = bits / ewm
            if (np.abs(tail - threshold) <= tolerance).any():
                return None
            calm = np.flatnonzero(~(tail > threshold))
            length = tail.size if not calm.size else int(calm[0])
            spikes[pos + stop : pos + stop + length] = True
            ewm_before[pos + stop : pos + stop + length] = ewm
            scores[pos + stop : pos + stop + length] = tail[:length]
            pos += stop + length
        return ewm_before, scores, spikes


class MegatronSpikyLoss(StackPreset):
    """Megatron ``is_unexpectedly_large(loss, threshold=10, context="loss", num_samples=100)``."""

    name: ClassVar[str] = "megatron"
    source: ClassVar[str] = "megatron/core/rerun_state_machine.py (is_unexpectedly_large)"
    version: ClassVar[str] = "megatron-core 0.16.1; SPIKY_LOSS_FACTOR=10 in pretrain_gpt.py"
    PARAMS: ClassVar[dict[str, object]] = {"threshold": 10, "num_samples": 100, "resample": False}

    def check(self, params: dict[str, object]) -> dict[str, object]:
        """A number for the threshold, a positive sample count, ``resample`` a bool."""
        number(self.name, "threshold", params["threshold"])
        params["num_samples"] = integer(self.name, "num_samples", params["num_samples"], low=1)
        if not isinstance(params["resample"], bool):
            raise SynthLossError(
                f"{self.name}: resample must be True or False, got {params['resample']!r}"
            )
        return params

    def settle(self, start: int) -> int:
        """After ``num_samples`` finite losses a step depends on its own loss alone."""
        return int(self.params["num_samples"])

    def run(self, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sampled maximum ``|loss|``, ``|loss| / max`` and the spikes."""
        size = np.abs(losses.astype(np.float64, copy=False))
        n = size.size
        reference = np.full(n, np.nan)
        spikes = np.zeros(n, bool)
        samples = int(self.params["num_samples"])
        finite_at = _first_finite(size, samples + 1)  # the samples, and one loss after them
        if self.params["resample"] or finite_at.size <= samples:
            return reference, ratio(size, reference), spikes
        last_sample = int(finite_at[samples - 1])
        peak = max(0.0, float(size[finite_at[:samples]].max()))
        limit = peak * self.params["threshold"]
        after = slice(last_sample + 1, n)
        reference[after] = peak
        with np.errstate(invalid="ignore"):
            spikes[after] = np.isfinite(size[after]) & (size[after] >= limit)
        return reference, ratio(size, reference), spikes


def _first_finite(values: np.ndarray, count: int) -> np.ndarray:
    """The positions of the first ``count`` finite values (fewer if there are not as many),
    looking only as far as needed."""
    found: list[np.ndarray] = []
    held, begin, block = 0, 0, max(1024, 2 * count)
    while held < count and begin < values.size:
        part = np.flatnonzero(np.isfinite(values[begin : begin + block])) + begin
        found.append(part[: count - held])
        held += found[-1].size
        begin, block = begin + block, block * 2
    return np.concatenate(found) if found else np.empty(0, np.int64)
