"""The loss model: the spec's scalar formula, extended by profile events, and its vector engine.

``synthetic_loss`` is the reference, written as the spec writes it and extended by the
events in the order :mod:`pytest_synthloss.core.profiles` documents (plateaus, divergence,
noise, spikes, non-finite steps). ``synthetic_losses`` evaluates the same IEEE-754
operations element-wise with numpy, so every value is ``==`` to the scalar one (NaN where
the scalar is NaN). ``range_losses`` is the fast path for a contiguous run of steps: past
the floor step the loss of a profile without divergence or noise is constant, so only the
steps before it are computed.

Noise is a pure function of ``(seed, step)``, drawn in fixed blocks so that any step is
reachable without drawing the ones before it (see :func:`noise_at`).
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from pytest_synthloss.core.draws import NOISE_BLOCK, noise_block, normals, range_normals
from pytest_synthloss.core.errors import SynthLossError
from pytest_synthloss.core.events import Divergence, Noise
from pytest_synthloss.core.parallel import in_spans
from pytest_synthloss.core.profiles import Profile
from pytest_synthloss.core.ranks import reduced_loss, reduced_losses
from pytest_synthloss.core.registry import resolve_profile
from pytest_synthloss.core.shaped import held_steps, override, shaped_losses, shaped_trend
from pytest_synthloss.core.steps import as_steps
from pytest_synthloss.core.validation import LOSS_CEILING, MAX_STEP, check_step

__all__ = [
    "NOISE_BLOCK",
    "as_steps",
    "ceiling_from",
    "final_loss",
    "flat_from",
    "noise_at",
    "range_losses",
    "synthetic_loss",
    "synthetic_losses",
    "trend_loss",
    "trend_losses",
]

#: ``synthetic_losses`` works through large arrays in blocks of this many steps, so that its
#: temporaries stay in the CPU cache: about one read of the steps and one write of the losses
#: (runs of blocks at the floor are one write).
_BLOCK = 1 << 15
#: It hands spans of blocks to several threads, each at least this many steps
#: (:mod:`pytest_synthloss.core.parallel`).
_MIN_SPAN = 1 << 20


# -- the scalar reference ---------------------------------------------------------------


def synthetic_loss(step: int, profile: Profile | str = "stable") -> float:
    """The loss at ``step`` (an integer >= 1) for ``profile`` (a Profile or a registered name).

    Without events, exactly the spec's function::

        baseline = max(floor, start - (decay * step))
        return spikes[step] if step in spikes else baseline

    With events: the baseline of the step's plateau start, then divergence, then noise;
    spikes and non-finite steps replace the value at their step.
    """
    checked = check_step(step)
    prof = resolve_profile(profile)
    if prof.ranks is not None:  # the all-reduced mean of the ranks' losses
        return reduced_loss(prof, checked, synthetic_loss)
    if prof.shape is not None:  # the shaped engine, on one step
        return float(shaped_losses(prof, np.array([checked], dtype=np.int64))[0])
    if checked in prof.nonfinite:
        return prof.nonfinite[checked]
    if checked in prof.spikes:
        return prof.spikes[checked]
    loss = _trend_loss(prof, checked)
    noise = prof.noise
    if noise is not None:
        z = _normal_at(noise.seed, checked)
        if noise.mode == "multiplicative":
            loss = loss * (1.0 + noise.sigma * z)
        else:
            loss = loss + noise.sigma * z
        loss = min(loss if loss > 0.0 else 0.0, LOSS_CEILING)
    return loss


def final_loss(profile: Profile | str, steps: int, start_step: int = 1) -> float:
    """The loss at the last step of a run of ``steps`` steps starting at ``start_step``."""
    count = check_step(steps, "steps")
    first = check_step(start_step, "start_step")
    last = first + count - 1
    if last > MAX_STEP:
        raise SynthLossError(f"the run ends at step {last}, past the last step {MAX_STEP}")
    return synthetic_loss(last, profile)


def trend_loss(profile: Profile, step: int) -> float:
    """The noise-free loss at ``step`` without spikes or non-finite steps (the trend)."""
    return _trend_loss(profile, check_step(step))


def _trend_loss(prof: Profile, step: int) -> float:
    """Baseline with plateaus, then divergence: the loss before noise and overrides."""
    if prof.shape is not None:
        return float(shaped_trend(prof, np.array([step], dtype=np.int64))[0])
    div = prof.divergence
    if div is not None and step >= div.start_step:
        distance = step - div.start_step + 1
        if div.mode == "linear":
            return min(_anchor(prof, div) + div.rate * distance, LOSS_CEILING)
        return min(_anchor(prof, div) * _growth(1.0 + div.rate, distance), LOSS_CEILING)
    held = prof.held_step(step)
    return max(prof.floor, prof.start - (prof.decay * held))


def _anchor(prof: Profile, div: Divergence) -> float:
    """The loss the run had reached at the step before the divergence onset."""
    held = prof.held_step(div.start_step - 1)  # step 0 (onset at 1) gives ``start``
    return max(prof.floor, prof.start - (prof.decay * held))


def _growth(base: float, distance: int) -> float:
    """``base ** distance`` by repeated squaring (exactly what :func:`_growth_array` does)."""
    result = 1.0
    power = base
    while True:
        if distance & 1:
            result = result * power
        distance >>= 1
        if not distance:
            return min(result, LOSS_CEILING)
        power = power * power


def noise_at(seed: int, step: int) -> float:
    """The standard normal draw ``z`` that noise with ``seed`` applies at ``step``.

    The contract (a pure function of ``(seed, step)``, whatever was drawn before): step ``s``
    takes element ``(s - 1) % NOISE_BLOCK`` of block ``b = (s - 1) // NOISE_BLOCK``, where
    block ``b`` is ``Generator(PCG64(SeedSequence(seed, spawn_key=(b,)))).standard_normal(
    NOISE_BLOCK)``, i.e. drawn from the ``b``-th child of ``SeedSequence(seed)``.
    """
    return _normal_at(Noise(0.0, seed).seed, check_step(step))


def _normal_at(seed: int, step: int) -> float:
    block, offset = divmod(step - 1, NOISE_BLOCK)
    return float(noise_block(seed, block)[offset])


#: Steps per chunk of a noisy range (its temporaries stay in cache).
_NOISY_CHUNK = 1 << 15

# -- the vector engine ------------------------------------------------------------------


def synthetic_losses(steps: npt.ArrayLike, profile: Profile | str = "stable") -> np.ndarray:
    """The loss at every step of ``steps`` (any shape of integers >= 1), as float64.

    Each value is bit-identical to ``synthetic_loss(step, profile)`` (NaN where it is NaN).
    Booleans, floats, NaN and strings are refused with ``SynthLossError``.
    """
    prof = resolve_profile(profile)
    if prof.ranks is not None:
        flat = as_steps(steps).astype(np.int64, copy=False)
        out = reduced_losses(prof, flat.reshape(-1), np.empty(flat.size), synthetic_losses)
        return out.reshape(flat.shape)
    if prof.shape is not None:
        flat = as_steps(steps).astype(np.int64, copy=False)
        return shaped_losses(prof, flat.reshape(-1)).reshape(flat.shape)
    if prof.noise is not None:  # noise is drawn per noise block, so over the whole array
        return _noisy_losses(prof, prof.noise, as_steps(steps).astype(np.int64, copy=False))
    # Integer arrays are validated block by block below; the rest goes through as_steps.
    plain = type(steps) is np.ndarray and steps.dtype.kind in "iu"  # not a masked array
    arr: np.ndarray = steps if plain else as_steps(steps)  # type: ignore[assignment]
    out = np.empty(arr.shape, dtype=np.float64)
    if arr.size == 0:
        return out
    flat_steps = arr.reshape(-1)
    flat_out = out.reshape(-1)  # a view: ``out`` is freshly allocated, so contiguous
    flat_start = flat_from(prof)
    last_override = max(max(prof.spikes, default=0), max(prof.nonfinite, default=0))

    def fill(begin: int, stop: int) -> None:
        span, span_out = flat_steps[begin:stop], flat_out[begin:stop]
        lows = np.minimum.reduceat(span, np.arange(0, span.size, _BLOCK))  # one read
        _check(arr, span, int(lows.min()))
        flat = lows >= flat_start if flat_start is not None else np.zeros(lows.size, bool)
        edges = [0, *(np.flatnonzero(flat[1:] != flat[:-1]) + 1).tolist(), lows.size]
        for low_block, high_block in itertools.pairwise(edges):
            if flat[low_block]:  # the floor throughout: one write
                span_out[low_block * _BLOCK : high_block * _BLOCK].fill(prof.floor)
                continue
            for index in range(low_block, high_block):  # temporaries stay in the CPU cache
                at = slice(index * _BLOCK, (index + 1) * _BLOCK)
                _trend_into(prof, span[at].astype(np.int64, copy=False), span_out[at])
        for index in np.flatnonzero(lows <= last_override).tolist():
            at = slice(index * _BLOCK, (index + 1) * _BLOCK)
            _override_events(prof, span[at].astype(np.int64, copy=False), span_out[at])

    if flat_steps.size <= _BLOCK:  # one block (the common small array): no bookkeeping
        low = int(flat_steps.min())
        _check(arr, flat_steps, low)
        block = flat_steps.astype(np.int64, copy=False)
        if flat_start is not None and low >= flat_start:
            flat_out.fill(prof.floor)
        else:
            _trend_into(prof, block, flat_out)
        if low <= last_override:
            _override_events(prof, block, flat_out)
    else:
        in_spans(fill, flat_steps.size, _BLOCK, _MIN_SPAN)
    return out


def _noisy_losses(prof: Profile, noise: Noise, steps: np.ndarray) -> np.ndarray:
    """``synthetic_losses`` for a profile with noise, on validated int64 ``steps``."""
    out = np.empty(steps.shape, dtype=np.float64)
    if steps.size == 0:
        return out
    flat_steps = steps.reshape(-1)
    flat_out = out.reshape(-1)
    _trend_into(prof, flat_steps, flat_out)
    _noise_into(noise, normals(noise.seed, flat_steps), flat_out)
    _override_events(prof, flat_steps, flat_out)
    return out


def _check(arr: np.ndarray, part: np.ndarray, low: int) -> None:
    """Raise the error naming the first bad step of ``arr`` if ``part`` of it (whose least
    step is ``low``) holds one."""
    if low < 1 or (part.dtype.kind == "u" and part.max() > MAX_STEP):
        as_steps(arr)


def _override_events(prof: Profile, steps: np.ndarray, out: np.ndarray) -> None:
    """Spikes, then non-finite steps, replace ``out`` at their steps (1-d int64 ``steps``)."""
    override(prof.spikes, steps, out)
    override(prof.nonfinite, steps, out)


def flat_from(prof: Profile) -> int | None:
    """The step from which ``prof``'s loss is its floor but at spikes and non-finite steps.

    That is the floor step of a profile without divergence or noise; ``None`` for others.
    """
    if any(x is not None for x in (prof.divergence, prof.noise, prof.shape, prof.ranks)):
        return None
    return prof.floor_step


def ceiling_from(prof: Profile) -> int | None:
    """The step from which a diverging profile's loss is :data:`LOSS_CEILING` for good, but
    at spikes and non-finite steps (``None``: not within :data:`MAX_STEP`, noise, a shape).

    The trend after the onset never falls (a rate of at least 1e-6 a step is far above the
    rounding of the repeated squaring), so the first capped step is found by bisection.
    """
    div = prof.divergence
    if div is None or prof.noise is not None or prof.shape is not None or div.rate < 1e-6:
        return None
    low = div.start_step - 1  # not capped (the anchor, a finite loss below the ceiling)
    if _trend_loss(prof, div.start_step) >= LOSS_CEILING:
        return div.start_step
    high, reach = div.start_step, 1
    while _trend_loss(prof, high) < LOSS_CEILING:  # capped at high, not at low
        low, reach = high, reach * 2
        if high == MAX_STEP:
            return None
        high = min(MAX_STEP, div.start_step + reach)
    while high - low > 1:
        middle = (low + high) // 2
        if _trend_loss(prof, middle) >= LOSS_CEILING:
            high = middle
        else:
            low = middle
    return high


def trend_losses(steps: npt.ArrayLike, profile: Profile | str = "stable") -> np.ndarray:
    """The noise-free loss at ``steps``, without spikes or non-finite steps.

    That is the baseline, held on plateaus, then diverging: the curve's underlying trend.
    """
    prof = resolve_profile(profile)
    arr = as_steps(steps).astype(np.int64, copy=False)
    out = np.empty(arr.shape, dtype=np.float64)
    if arr.size and prof.shape is not None:
        out.reshape(-1)[:] = shaped_trend(prof, arr.reshape(-1))
    elif arr.size:
        _trend_into(prof, arr.reshape(-1), out.reshape(-1))
    return out


def range_losses(
    profile: Profile, start_step: int, count: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Losses of the ``count`` consecutive steps from ``start_step``, into ``out`` if given.

    Same values as ``synthetic_losses(np.arange(start_step, start_step + count))``, in about
    one write pass: for a profile without divergence or noise only the steps before the
    floor step are computed, the rest is filled.
    """
    if out is None:
        out = np.empty(count, dtype=np.float64)
    if profile.ranks is not None:
        steps = np.arange(start_step, start_step + count, dtype=np.int64)
        return reduced_losses(profile, steps, out, synthetic_losses)
    if profile.shape is not None:
        out[:] = shaped_losses(profile, np.arange(start_step, start_step + count, dtype=np.int64))
        return out
    flat_start, flat_value = flat_from(profile), profile.floor
    if flat_start is None:
        flat_start, flat_value = ceiling_from(profile), LOSS_CEILING
    before = count if flat_start is None else min(count, max(0, flat_start - start_step))
    if before and profile.noise is not None:
        _noisy_into(profile, profile.noise, start_step, out[:before])
    elif before:
        head = out[:before]
        _trend_into(profile, np.arange(start_step, start_step + before, dtype=np.int64), head)
    if before < count:
        out[before:] = flat_value
    stop = start_step + count
    for overrides in (profile.spikes, profile.nonfinite):
        for step, loss in overrides.items():
            if start_step <= step < stop:
                out[step - start_step] = loss
    return out


def _noisy_into(prof: Profile, noise: Noise, start_step: int, out: np.ndarray) -> None:
    """The trend and then the noise of the steps from ``start_step`` into ``out``, a cache-sized
    chunk at a time (every operation is per step: the same values as in one pass)."""
    floor_from = prof.floor_step
    onset = prof.divergence.start_step if prof.divergence is not None else None
    for begin in range(0, out.size, _NOISY_CHUNK):
        part = out[begin : begin + _NOISY_CHUNK]
        first = start_step + begin
        last = first + part.size - 1
        if floor_from is not None and first >= floor_from and (onset is None or last < onset):
            part.fill(prof.floor)  # what the trend is from the floor step on
        else:
            _trend_into(prof, np.arange(first, last + 1, dtype=np.int64), part)
        _noise_into(noise, range_normals(noise.seed, first, part.size), part)


def _trend_into(prof: Profile, steps: np.ndarray, out: np.ndarray) -> None:
    """``_trend_loss`` for every step of the 1-d int64 array ``steps``, written into ``out``."""
    held = held_steps(prof, steps)
    np.multiply(held, prof.decay, out=out)
    np.subtract(prof.start, out, out=out)
    np.maximum(prof.floor, out, out=out)
    div = prof.divergence
    if div is None:
        return
    diverged = steps >= div.start_step
    if not diverged.any():
        return
    distance = steps[diverged] - (div.start_step - 1)
    anchor = _anchor(prof, div)
    with np.errstate(over="ignore"):  # overflow gives inf, capped next (as the scalar path)
        if div.mode == "linear":
            values = np.multiply(distance, div.rate)
            np.add(anchor, values, out=values)
        else:
            values = _growth_array(1.0 + div.rate, distance)
            np.multiply(anchor, values, out=values)
    np.minimum(values, LOSS_CEILING, out=values)
    out[diverged] = values


def _growth_array(base: float, distance: np.ndarray) -> np.ndarray:
    """:func:`_growth` element-wise: the same multiplications, in the same order."""
    result = np.ones(distance.shape, dtype=np.float64)
    power = base
    bits = distance.copy()
    while True:  # one pass per bit of the largest distance (at most 63), not per step
        with np.errstate(over="ignore"):
            np.multiply(result, power, out=result, where=(bits & 1).astype(bool))
        bits >>= 1
        if not bits.any():
            break
        power = power * power
    np.minimum(result, LOSS_CEILING, out=result)
    return result


def _noise_into(noise: Noise, z: np.ndarray, out: np.ndarray) -> None:
    """Apply ``noise`` with draws ``z`` to ``out`` as the scalar path does (``z`` is reused)."""
    with np.errstate(over="ignore"):  # overflow gives inf, capped next (as the scalar path)
        np.multiply(z, noise.sigma, out=z)
        if noise.mode == "multiplicative":
            np.add(z, 1.0, out=z)
            np.multiply(out, z, out=out)
        else:
            np.add(out, z, out=out)
    np.copyto(out, 0.0, where=~(out > 0.0))  # not np.maximum: it may keep -0.0
    np.minimum(out, LOSS_CEILING, out=out)
