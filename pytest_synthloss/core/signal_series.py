"""The values and events of a profile's linked signals (:mod:`pytest_synthloss.core.signals`).

:func:`signal_values` computes every signal for an array of steps, :func:`signals_at` for
one step (bit for bit the same), :func:`signal_events` their ground-truth events.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from pytest_synthloss.core.draws import NOISE_BLOCK, noise_block
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Event
from pytest_synthloss.core.loss_scale import loss_scale_at, loss_scales
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.signals import SIGNAL_NAMES, Signals
from pytest_synthloss.core.steps import runs
from pytest_synthloss.core.validation import check_step

__all__ = ["signal_events", "signal_values", "signals_at"]


@functools.lru_cache(maxsize=64)
def _grad_spike_steps(profile: Profile) -> tuple[int, ...]:
    """The step before each loss spike's first step (spikes starting at step 1 have none)."""
    starts = {first for first, _ in runs(list(profile.spikes))}
    if profile.shape is not None:
        starts.update(spike.step for spike in profile.shape.spikes)
    return tuple(sorted(step - 1 for step in starts if step > 1))


def _normals(seed: int, stream: int, steps: np.ndarray) -> np.ndarray:
    """Standard normal draws of ``(seed, stream)`` at each step, from the noise blocks."""
    key = seed * len(SIGNAL_NAMES) + stream
    blocks, offsets = np.divmod(steps - 1, NOISE_BLOCK)
    z = np.empty(steps.shape, dtype=np.float64)
    for block in np.unique(blocks).tolist():  # one pass per block drawn, not per step
        chosen = blocks == block
        z[chosen] = noise_block(key, block)[offsets[chosen]]
    return z


def _lrs(profile: Profile, steps: np.ndarray) -> np.ndarray:
    if profile.shape is None:
        return np.ones(steps.shape, dtype=np.float64)
    from pytest_synthloss.core.shaped import shaped_lrs

    return shaped_lrs(profile.shape, steps)


def signal_values(profile: Profile, steps: np.ndarray) -> dict[str, np.ndarray]:
    """Every signal at each step of the int64 array ``steps`` (new float64 arrays)."""
    signals = _require(profile)
    steps = np.asarray(steps, dtype=np.int64)
    lr = signals.peak_lr * _lrs(profile, steps)
    grad = signals.grad_norm * (1.0 + signals.grad_noise * _normals(signals.seed, 0, steps))
    np.copyto(grad, 0.0, where=~(grad > 0.0))
    grad[np.isin(steps, _grad_spike_steps(profile))] *= signals.grad_spike
    grad[np.isin(steps, signals.overflow_steps)] = math.inf
    grad[np.isin(steps, profile.nonfinite_steps)] = math.nan
    if signals.loss_scale is None:
        scale = np.ones(steps.shape, dtype=np.float64)
    else:
        scale = loss_scales(signals.loss_scale, steps)
    jitter = np.abs(_normals(signals.seed, 1, steps))
    time = signals.step_seconds * (1.0 + signals.step_jitter * jitter)
    if signals.first_step_seconds is not None:
        time[steps == 1] = signals.first_step_seconds
    if signals.eval_every is not None:
        time[steps % signals.eval_every == 0] += signals.eval_seconds
    if signals.stall is not None:
        time[steps == signals.stall[0]] += signals.stall[1]
    return {"grad_norm": grad, "learning_rate": lr, "loss_scale": scale, "step_time": time}


def signals_at(profile: Profile, step: int) -> dict[str, float]:
    """Every signal at ``step`` as Python floats (scalar; equal to :func:`signal_values`)."""
    signals = _require(profile)
    checked = check_step(step)
    values = signal_values(profile, np.array([checked], dtype=np.int64))
    result = {name: float(array[0]) for name, array in values.items()}
    if signals.loss_scale is not None:
        result["loss_scale"] = loss_scale_at(signals.loss_scale, checked)
    return result


def _require(profile: Profile) -> Signals:
    if profile.signals is None:
        raise SynthLossError(
            f"profile {profile.name!r} declares no signals; give it signals=Signals(...)"
        )
    return profile.signals


def signal_events(profile: Profile, first: int, last: int) -> list[Event]:
    """The events of the profile's signals within ``first..last`` (unsorted)."""
    signals = profile.signals
    if signals is None:
        return []
    events = []
    for step in _grad_spike_steps(profile):
        if first <= step <= last:
            peak = signals_at(profile, step)["grad_norm"]  # inf if the step also overflows
            events.append(
                Event("grad_spike", step, step, peak=peak if math.isfinite(peak) else None)
            )
    inside = [s for s in signals.overflow_steps if first <= s <= last]
    events.extend(Event("overflow", a, b) for a, b in runs(inside))
    if signals.loss_scale is not None:
        for step in signals.loss_scale.growth_steps(first, last):
            peak = loss_scale_at(signals.loss_scale, step)
            events.append(Event("scale_growth", step, step, peak=peak))
    if signals.first_step_seconds is not None and first == 1:
        events.append(Event("first_step", 1, 1))
    events.extend(Event("eval", s, s) for s in signals.eval_steps(first, last))
    if signals.stall is not None and first <= signals.stall[0] <= last:
        events.append(Event("stall", signals.stall[0], signals.stall[0]))
    return events
