"""The metaseq preset's chunked EWM on reused buffers gives the former computation's values.

:meth:`MetaseqSkipSpike._vectorised` now works a chunk at a time into buffers made once
(``checks/ewm_blocks.py``), checks finiteness chunk by chunk and settles most chunks from
their largest and smallest ratio. :func:`reference_run` is the preset's ``run`` as it was
(one float64 ``bits`` array, the closed-form blocks as array expressions). Both run on
random curves (spikes, plateaus, NaN/inf) with thresholds that do and do not spike and
spans giving blocks of 1 to 256 steps, in float64 and float32, with small chunks so that
spikes, chunk ends and non-finite losses meet. Every output must be identical (NaN matching
NaN), and so must the error for an EWM of 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss import SynthLossError
from pytest_synthloss.checks import stacks_llm
from pytest_synthloss.checks.stack_base import constant_tail
from pytest_synthloss.checks.stacks_llm import MetaseqSkipSpike

HYPOTHESIS = settings(
    max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
_LN2 = math.log(2)

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]


def reference_run(preset: MetaseqSkipSpike, losses: np.ndarray, exact: int, chunk: int) -> Outputs:
    """``MetaseqSkipSpike.run`` before the chunk buffers (``exact``: ``_EXACT_STEPS``)."""
    start = constant_tail(losses)
    if start <= exact and start < losses.size - 1:
        tail = preset._tail(losses, start)
        if tail is not None:
            return tail
    bits = losses.astype(np.float64, copy=False) / _LN2
    if bits.size > exact and np.isfinite(bits).all():
        fast = _reference_vectorised(preset, bits, chunk)
        if fast is not None:
            return fast
    return preset._exact(bits)


def _reference_vectorised(preset: MetaseqSkipSpike, bits: np.ndarray, chunk: int) -> Outputs | None:
    threshold = float(preset.params["ewm_ratio_to_skip_batch"])
    alpha = preset._alpha()
    decay = 1 - alpha
    if not 0 < decay < 1:
        return None
    tolerance = 1e-9 * max(1.0, abs(threshold))
    n = bits.size
    ewm_before = np.empty(n)
    spikes = np.zeros(n, bool)
    ewm = float(bits[0])
    block = max(1, min(256, int(12.0 / -math.log10(decay))))
    powers = decay ** np.arange(block + 1)
    pos = 0
    while pos < n:
        end = min(n, pos + chunk)
        xs = bits[pos:end]
        chain, state = _reference_chain(xs, ewm, alpha, powers)
        if (chain == 0).any():
            return None
        score = xs / chain
        if (np.abs(score - threshold) <= tolerance).any():
            return None
        hits = np.flatnonzero(score > threshold)
        if not hits.size:
            ewm_before[pos:end] = chain
            ewm, pos = state, end
            continue
        stop = int(hits[0])
        ewm_before[pos : pos + stop + 1] = chain[: stop + 1]
        ewm = float(chain[stop])
        tail = bits[pos + stop : min(n, pos + stop + chunk)] / ewm
        if (np.abs(tail - threshold) <= tolerance).any():
            return None
        calm = np.flatnonzero(~(tail > threshold))
        length = tail.size if not calm.size else int(calm[0])
        spikes[pos + stop : pos + stop + length] = True
        ewm_before[pos + stop : pos + stop + length] = ewm
        pos += stop + length
    return ewm_before, bits / ewm_before, spikes


def _reference_chain(
    values: np.ndarray, state: float, alpha: float, powers: np.ndarray
) -> tuple[np.ndarray, float]:
    block = powers.size - 1
    count = -(-values.size // block)
    padded = np.zeros(count * block)
    padded[: values.size] = values
    grid = padded.reshape(count, block)
    local = np.cumsum(alpha * grid / powers[1:], axis=1) * powers[1:]
    starts = np.empty(count)
    step = float(powers[block])
    for index, end in enumerate(local[:, -1].tolist()):
        starts[index] = state
        state = step * state + end
    before = np.empty((count, block))
    before[:, 0] = starts
    before[:, 1:] = powers[1:block] * starts[:, None] + local[:, :-1]
    last = values.size - (count - 1) * block
    return before.ravel()[: values.size], float(powers[last] * starts[-1] + local[-1, last - 1])


@st.composite
def curves(draw: st.DrawFn) -> np.ndarray:
    """A random walk (some negative) with spikes, runs of one value and maybe NaN/inf."""
    n = draw(st.integers(2, 900))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.001, 0.02, 0.3])), n)))
    x *= draw(st.sampled_from([1.0, 1e-3, 50.0, -1.0]))
    for _ in range(draw(st.integers(0, 8))):
        at = int(rng.integers(0, n))
        x[at : at + int(rng.integers(1, 8))] *= draw(st.sampled_from([1.5, 3.0, 20.0]))
    for _ in range(draw(st.integers(0, 2))):
        at = int(rng.integers(0, n))
        x[at : at + int(rng.integers(1, 60))] = x[at]
    if draw(st.integers(0, 4)) == 3:
        x[int(rng.integers(0, n))] = draw(st.sampled_from([math.nan, math.inf, -math.inf, 0.0]))
    return x


@HYPOTHESIS
@given(
    curves(),
    st.sampled_from([1.001, 1.05, 1.3, 3.0, 1.001, 1.05, 1.3, 3.0, -1.0, 0.5, 1.0]),
    st.sampled_from([9, 2.5, 30, 400, 9, 2.5, 30, 400, 1, 0]),  # 0, 1: no blocks
    st.sampled_from(["float64", "float32"]),
    st.sampled_from([(64, 50), (16, 7), (1 << 16, 1 << 16)]),
)
def test_chunked_ewm_matches_the_former_run(
    x: np.ndarray, threshold: float, span: float, dtype: str, sizes: tuple[int, int]
) -> None:
    preset = MetaseqSkipSpike(ewm_ratio_to_skip_batch=threshold, span=span, dtype=dtype)
    losses = preset.values(x)
    exact, chunk = sizes
    got, want = (
        _outcome(preset.run, losses, exact, chunk),
        _outcome(lambda values: reference_run(preset, values, exact, chunk), losses, exact, chunk),
    )
    if isinstance(want, str):
        assert got == want
        return
    for name, a, b in zip(("ewm", "scores", "spikes"), got, want, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} differ")


def _outcome(
    compute: Callable[[np.ndarray], Outputs], losses: np.ndarray, exact: int, chunk: int
) -> Outputs | str:
    """The outputs, or the error's message, with the preset's chunk sizes patched."""
    with (
        mock.patch.object(stacks_llm, "_EXACT_STEPS", exact),
        mock.patch.object(stacks_llm, "_CHUNK", chunk),
    ):
        try:
            return compute(losses)
        except SynthLossError as error:
            return str(error)
