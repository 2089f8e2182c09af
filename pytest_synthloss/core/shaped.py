"""The engine of shaped profiles: one numpy path for the scalar reference and the vectors.

:func:`shaped_losses` computes what :mod:`pytest_synthloss.core.shapes` documents for any
1-d int64 array of steps; ``synthetic_loss`` calls it on a one-element array, so every
value is ``==`` whatever the array, its length or where a chunk starts: each step's value
depends only on the step (noise on its block of draws).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pytest_synthloss.core.draws import NOISE_BLOCK, noise_block
from pytest_synthloss.core.shapes import (
    FLOOR_RTOL,
    WSD,
    Cosine,
    Exponential,
    PowerLaw,
    Shape,
    StepDecay,
    TrainingNoise,
)
from pytest_synthloss.core.validation import LOSS_CEILING, MAX_STEP

if TYPE_CHECKING:
    from pytest_synthloss.core.profiles import Profile

__all__ = [
    "held_steps",
    "override",
    "shaped_base",
    "shaped_floor_step",
    "shaped_losses",
    "shaped_lrs",
    "shaped_trend",
]

_FP16_MAX = 65504.0


def held_steps(prof: Profile, steps: np.ndarray) -> np.ndarray:
    """``prof.held_step`` of every step: the plateau window's first step, or the step."""
    if not prof.plateaus:
        return steps
    firsts = np.array([first for first, _ in prof.plateaus], dtype=np.int64)
    lasts = np.array([last for _, last in prof.plateaus], dtype=np.int64)
    index = np.searchsorted(firsts, steps, side="right") - 1
    clipped = np.maximum(index, 0)
    inside = (index >= 0) & (steps <= lasts[clipped])
    return np.where(inside, firsts[clipped], steps)


def override(values: Mapping[int, float], steps: np.ndarray, out: np.ndarray) -> None:
    """Replace ``out`` at every step of ``steps`` that ``values`` maps (1-d arrays)."""
    if not values:
        return
    keys = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
    losses = np.fromiter(values.values(), dtype=np.float64, count=len(values))
    index = np.searchsorted(keys, steps)
    np.minimum(index, keys.size - 1, out=index)
    hit = keys[index] == steps
    out[hit] = losses[index[hit]]


def _tau(warmup: int, steps: np.ndarray) -> np.ndarray:
    """The LR area ``w(1) + ... + w(s)`` of a linear warm-up over ``warmup`` steps."""
    s = steps.astype(np.float64)
    if warmup == 0:
        return s
    ramp = s * (s + 1.0) / (2.0 * warmup)
    after = (warmup + 1) / 2.0 + (s - warmup)
    return np.where(steps <= warmup, ramp, after)


def _trend_of(prof: Profile, shape: Shape, tau: np.ndarray) -> np.ndarray:
    trend = shape.trend
    if isinstance(trend, PowerLaw):
        return trend.E + trend.A / np.power(tau + trend.t0, trend.alpha)
    if isinstance(trend, Exponential):
        return trend.E + trend.A * np.exp(-tau / trend.tau0)
    return np.maximum(prof.floor, prof.start - prof.decay * tau)


def _decay(shape: Shape, steps: np.ndarray) -> np.ndarray | None:
    """The schedule's decay multiplier ``d(s)`` in ``[final, 1]`` (``None``: no schedule)."""
    sched = shape.schedule
    if isinstance(sched, Cosine):
        x = (steps - (sched.first - 1)) / float(sched.last - sched.first + 1)
        x = np.clip(x, 0.0, 1.0)
        cosine: np.ndarray = sched.final + (1.0 - sched.final) * 0.5 * (1.0 + np.cos(np.pi * x))
        return cosine
    if isinstance(sched, WSD):
        j = np.clip(steps - (sched.decay_start - 1), 0, sched.decay_steps)
        linear: np.ndarray = 1.0 - (1.0 - sched.final) * (j / float(sched.decay_steps))
        return linear
    if isinstance(sched, StepDecay):
        drops = np.searchsorted(np.array(sched.steps, dtype=np.int64), steps, side="right")
        return np.power(sched.factor, drops.astype(np.float64))
    return None


def _base(prof: Profile, shape: Shape, steps: np.ndarray) -> np.ndarray:
    """Steps 1-4 and the spikes' levels at ``steps`` (already held by plateaus)."""
    out = _trend_of(prof, shape, _tau(shape.warmup, steps))
    decay = _decay(shape, steps)
    if decay is not None and shape.anneal:
        out = out - shape.anneal * (1.0 - decay)
    if shape.epochs is not None:
        length = shape.epochs.length
        epoch, pos = np.divmod(steps - 1, length)
        out = out * np.power(1.0 - shape.epochs.drop, epoch.astype(np.float64))
        out = out + shape.epochs.rise * (pos / float(length))
    for spike in shape.spikes:
        if spike.level != 1.0:
            out = np.where(steps >= spike.step + spike.width, out * spike.level, out)
    return out


def shaped_trend(prof: Profile, steps: np.ndarray) -> np.ndarray:
    """The noise-free loss without spikes (peaks and tails) or non-finite steps."""
    shape = prof.shape
    assert shape is not None
    out = _base(prof, shape, held_steps(prof, steps))
    div = prof.divergence
    if div is not None:
        diverged = steps >= div.start_step
        if diverged.any():
            before = np.array([max(div.start_step - 1, 1)], dtype=np.int64)
            anchor = _base(prof, shape, held_steps(prof, before))[0]
            distance = (steps[diverged] - (div.start_step - 1)).astype(np.float64)
            with np.errstate(over="ignore"):
                if div.mode == "linear":
                    grown = anchor + div.rate * distance
                else:
                    grown = anchor * np.power(1.0 + div.rate, distance)
            out = out.copy()
            out[diverged] = np.minimum(grown, LOSS_CEILING)
    clipped: np.ndarray = np.clip(out, 0.0, LOSS_CEILING)
    return clipped


def shaped_losses(prof: Profile, steps: np.ndarray) -> np.ndarray:
    """The loss at every step of the 1-d int64 array ``steps`` (a new float64 array)."""
    shape = prof.shape
    assert shape is not None
    out = shaped_trend(prof, steps)
    for spike in shape.spikes:
        if spike.tail:
            j = steps - (spike.step + spike.width - 1)
            tail = (j >= 1) & (j <= spike.tail)
            if tail.any():
                target = out[tail]
                ratio = np.power(0.01, j[tail] / float(spike.tail))
                out[tail] = target + (spike.peak - target) * ratio
    if shape.noise is not None and shape.noise.sigma:
        e = _draws(shape.noise, steps)
        with np.errstate(over="ignore"):
            out = out * (1.0 + shape.noise.sigma * e)
        np.copyto(out, 0.0, where=~(out > 0.0))
        np.minimum(out, LOSS_CEILING, out=out)
    if shape.precision == "bf16":
        bits = out.astype(np.float32).view(np.uint32)
        bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
            0xFFFF0000
        )
        out = bits.view(np.float32).astype(np.float64)
    elif shape.precision == "fp16":
        out = np.minimum(out, _FP16_MAX).astype(np.float16).astype(np.float64)
    for spike in shape.spikes:
        out[(steps >= spike.step) & (steps < spike.step + spike.width)] = spike.peak
    override(prof.spikes, steps, out)
    override(prof.nonfinite, steps, out)
    return out


def shaped_lrs(shape: Shape, steps: np.ndarray) -> np.ndarray:
    """The LR of every step relative to the peak LR: ``w(s) * d(s)``."""
    if shape.warmup:
        lr = np.minimum(steps / float(shape.warmup), 1.0)
    else:
        lr = np.ones(steps.shape, dtype=np.float64)
    decay = _decay(shape, steps)
    return lr if decay is None else lr * decay


def _draws(noise: TrainingNoise, steps: np.ndarray) -> np.ndarray:
    """``e(s)`` of ``noise`` for every step (the contract in :class:`TrainingNoise`)."""
    e = np.empty(steps.shape, dtype=np.float64)
    if steps.size == 0:
        return e
    first = int(steps[0])
    if int(steps[-1]) - first == steps.size - 1 and bool(np.all(np.diff(steps) == 1)):
        done = 0  # a contiguous run: copy block slices
        while done < steps.size:
            block, offset = divmod(first + done - 1, NOISE_BLOCK)
            take = min(NOISE_BLOCK - offset, steps.size - done)
            e[done : done + take] = _block(noise.seed, block, noise.ar)[offset : offset + take]
            done += take
        return e
    blocks, offsets = np.divmod(steps - 1, NOISE_BLOCK)
    order = np.argsort(blocks, kind="stable")
    unique = np.unique(blocks)
    bounds = [*np.searchsorted(blocks[order], unique).tolist(), steps.size]
    for i, block in enumerate(unique.tolist()):  # one pass per block drawn, not per step
        chosen = order[bounds[i] : bounds[i + 1]]
        e[chosen] = _block(noise.seed, block, noise.ar)[offsets[chosen]]
    return e


@functools.lru_cache(maxsize=64)
def _block(seed: int, block: int, ar: float) -> np.ndarray:
    z = noise_block(seed, block)
    if ar == 0.0:
        return z
    scale = math.sqrt(1.0 - ar * ar)
    values = z.tolist()
    previous = values[0]
    for index in range(1, len(values)):
        previous = ar * previous + scale * values[index]
        values[index] = previous
    out = np.array(values, dtype=np.float64)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=256)
def shaped_floor_step(prof: Profile) -> int | None:
    """The first step whose trend (1-2) is within ``FLOOR_RTOL`` of the floor, settled.

    ``None`` if never (within the int64 steps) or if a divergence starts at or before it;
    a plateau holding that step postpones it to the step after the window.
    """
    shape = prof.shape
    assert shape is not None
    limit = prof.floor * (1.0 + FLOOR_RTOL)

    def reached(step: int) -> bool:
        at = np.array([step], dtype=np.int64)
        return bool(_trend_of(prof, shape, _tau(shape.warmup, at))[0] <= limit)

    if not reached(MAX_STEP):
        return None
    low, high = 1, MAX_STEP  # reached(high); find the first step that is
    while low < high:
        middle = (low + high) // 2
        if reached(middle):
            high = middle
        else:
            low = middle + 1
    first = low
    for window_first, last in prof.plateaus:
        if window_first < first <= last:
            first = last + 1
    if prof.divergence is not None and prof.divergence.start_step <= first:
        return None
    return first


def shaped_base(prof: Profile, step: int) -> float:
    """The noise-free value of ``shapes`` steps 1-4 (with levels) at ``step``."""
    shape = prof.shape
    assert shape is not None
    return float(_base(prof, shape, np.array([step], dtype=np.int64))[0])
