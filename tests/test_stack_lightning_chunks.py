"""The lightning preset's dense chunks give the slot-by-slot computation's values, bit for bit.

:meth:`LightningSpikeDetection.run` computes a chunk of finite losses from float32 slot-order
totals (``checks/float32_windows.py``); :func:`reference_run` is the preset as it was
before, every mean gathered slot by slot (:func:`ring_means`). Both run on random curves
(NaN/inf, spikes, plateaus), windows 1..64, both modes, ``finite_only`` both ways, in float64
and float32, with chunks small enough that spikes and non-finite losses fall on chunk
boundaries. The means, scores and spike masks must be identical (NaN matching NaN).
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_synthloss.checks import stacks_lightning
from pytest_synthloss.checks.float32_windows import slot_scratch, slot_totals
from pytest_synthloss.checks.stack_base import ratio
from pytest_synthloss.checks.stacks_lightning import LightningSpikeDetection, ring_means

HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def reference_run(
    preset: LightningSpikeDetection, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The preset's ``run`` before the dense chunks: every mean where a step could be a
    spike gathered slot by slot, in chunks of 4096 steps doubling to 2**20.

    One change: a chunk writes its means only up to its first spike. Before, it wrote them
    all, and the steps after the spike run were computed again, except that a step right
    after a run ending on NaN (or -inf in mode min, +inf in max) that is an improvement kept
    the mean computed as if the spike had been accepted, where every other improvement
    reports NaN: a leftover, present or not depending on where the chunk ended.
    """
    p = preset.params
    n = x.size
    window, warmup, finite_only = int(p["window"]), int(p["warmup"]), bool(p["finite_only"])
    spikes = np.zeros(n, bool)
    means = np.full(n, np.nan)
    hist_v = np.zeros(0, np.float32)
    hist_w = np.zeros(0, np.float32)
    count = 0
    last = np.zeros(1, x.dtype)
    pos, chunk = 0, 1 << 12
    while pos < n:
        end = min(n, pos + chunk)
        xs = x[pos:end]
        size = end - pos
        upd: np.ndarray | None = None
        if finite_only:
            before = np.arange(size)
            lasts = np.concatenate((last, xs[:-1]))
        else:
            upd = np.isfinite(xs)
            before = np.concatenate(([0], np.cumsum(upd)[:-1]))
            latest = np.maximum.accumulate(np.where(upd, np.arange(size), -1))
            prev = np.concatenate(([-1], latest[:-1]))
            lasts = np.where(prev >= 0, xs[np.maximum(prev, 0)], last[0])
        with np.errstate(invalid="ignore", over="ignore"):
            diff = xs - lasts
            maybe = ~(diff <= 0) if p["mode"] == "min" else ~(diff >= 0)
            if finite_only:
                maybe |= ~np.isfinite(xs)
        if warmup - pos > 0:
            maybe[: warmup - pos] = False
        where = np.flatnonzero(maybe)
        hit = -1
        if where.size:
            with np.errstate(over="ignore"):
                new_v = (xs if upd is None else xs[upd]).astype(np.float32)
            nan = np.isnan(new_v)
            new_w = np.where(nan, np.float32(0), np.float32(1))
            new_v = np.where(nan, np.float32(0), new_v)
            mean = ring_means(
                np.concatenate((hist_v, new_v)),
                np.concatenate((hist_w, new_w)),
                count + before[where],
                count - hist_v.size,
                window,
            )
            flagged = np.flatnonzero(preset._decide(xs[where], lasts[where], mean))
            keep = where.size if not flagged.size else int(flagged[0]) + 1
            means[pos + where[:keep]] = mean[:keep]
            if flagged.size:
                hit = int(where[flagged[0]])
        stop = size if hit < 0 else hit
        accepted = np.arange(stop) if upd is None else np.flatnonzero(upd[:stop])
        if accepted.size:
            with np.errstate(over="ignore"):
                taken = xs[accepted[-window:]].astype(np.float32)
            nan = np.isnan(taken)
            hist_v = np.concatenate((hist_v, np.where(nan, np.float32(0), taken)))[-window:]
            hist_w = np.concatenate((hist_w, np.where(nan, 0, 1).astype(np.float32)))[-window:]
            count += accepted.size
            last = xs[accepted[-1] : accepted[-1] + 1].copy()
        if hit < 0:
            pos, chunk = end, min(1 << 20, chunk * 2)
            continue
        chunk = 1 << 12
        frozen = ring_means(hist_v, hist_w, np.array([count]), count - hist_v.size, window)
        start = pos + stop
        tail = x[start : min(n, start + chunk)]
        flags = preset._decide(tail, np.repeat(last, tail.size), np.repeat(frozen, tail.size))
        calm = np.flatnonzero(~flags)
        run_end = start + (tail.size if calm.size == 0 else int(calm[0]))
        spikes[start:run_end] = True
        means[start:run_end] = frozen[0]
        pos = run_end
    return means, ratio(x, means), spikes


VALUES = st.one_of(
    st.floats(0.05, 20, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, 3.4e38, 1e39, -1e39]),
)


@st.composite
def curves(draw: st.DrawFn) -> np.ndarray:
    """A random walk with spikes, runs of one value and a few NaN/inf, or loose values."""
    n = draw(st.integers(1, 700))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        x = np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.01, 0.1, 0.5])), n)))
        for _ in range(draw(st.integers(0, 6))):
            at = int(rng.integers(0, n))
            x[at : at + int(rng.integers(1, 6))] *= draw(st.sampled_from([2.0, 5.0, 100.0]))
        for _ in range(draw(st.integers(0, 2))):
            at = int(rng.integers(0, n))
            x[at : at + int(rng.integers(1, 40))] = x[at]
    else:
        x = np.array(draw(st.lists(VALUES, min_size=n, max_size=n)), dtype=np.float64)
    for _ in range(draw(st.integers(0, 3))):
        x[int(rng.integers(0, n))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


PARAMS = st.fixed_dictionaries(
    {
        "window": st.integers(1, 64),
        "mode": st.sampled_from(["min", "max"]),
        "finite_only": st.booleans(),
        "warmup": st.integers(-3, 30),
        "rtol": st.one_of(st.none(), st.sampled_from([0.0, 0.01, 0.05, 0.3, 2.0, -0.5])),
        "atol": st.one_of(st.none(), st.sampled_from([0.0, 0.01, 0.5, 3.0])),
        "dtype": st.sampled_from(["float64", "float32"]),
    }
)


@HYPOTHESIS
@given(curves(), PARAMS, st.sampled_from([(16, 1), (64, 2), (1 << 16, 512)]))
def test_dense_chunks_match_the_slot_by_slot_run(
    x: np.ndarray, params: dict[str, Any], chunking: tuple[int, int]
) -> None:
    preset = LightningSpikeDetection(**params)
    losses = preset.values(x)
    block, rows = chunking
    with (
        mock.patch.object(stacks_lightning, "_BLOCK", block),
        mock.patch.object(stacks_lightning, "_BLOCK_ROWS", rows),
        mock.patch.object(stacks_lightning, "_FIRST_CHUNK", min(block, 8)),
    ):
        got = preset.run(losses)
    want = reference_run(preset, losses)
    for name, a, b in zip(("means", "scores", "spikes"), got, want, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} differ for {params}")


@HYPOTHESIS
@given(
    st.integers(1, 64),
    st.integers(0, 300),
    st.integers(1, 400),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_slot_totals_are_the_slot_order_sums(
    window: int, count: int, size: int, seed: int, scratch: bool
) -> None:
    rng = np.random.default_rng(seed)
    held = min(count, window)
    history = rng.lognormal(0, 2, held + int(rng.integers(0, 3))).astype(np.float32)
    updates = rng.lognormal(0, 1, size + 1)
    special = rng.random(updates.size) < 0.1
    updates[special] = rng.choice([1e39, -1e39, 3.4e38, -3.4e38, 0.0, -0.0], special.sum())
    with np.errstate(over="ignore"):
        values = np.concatenate((history[history.size - held :], updates.astype(np.float32)))
    counts = np.arange(count, count + size)
    want = ring_means(values, np.ones(values.size, np.float32), counts, count - held, window)
    work = slot_scratch(size + int(rng.integers(0, 50)), window) if scratch else None
    with np.errstate(invalid="ignore", divide="ignore"):
        got = slot_totals(history, updates, count, size, window, work) / np.minimum(
            counts, window
        ).astype(np.float32)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("at", [5, 4095, 4096, 70000])
def test_an_improvement_after_a_nan_spike_reports_no_mean(at: int) -> None:
    x = np.linspace(5.0, 1.0, at + 100)
    x[at] = np.nan
    means, scores, spikes = LightningSpikeDetection().run(x)
    assert np.flatnonzero(spikes).tolist() == [at]
    # torchmetrics' mean after `at` updates: slot s holds the last update u = s (mod 10)
    total = np.float32(0)
    for slot in range(min(at, 10)):
        total = np.float32(total + np.float32(x[at - 1 - (at - 1 - slot) % 10]))
    assert means[at] == total / np.float32(min(at, 10))
    assert np.isnan(means[:at]).all()
    assert np.isnan(means[at + 1 :]).all()
    assert np.isnan(scores[at + 1])
