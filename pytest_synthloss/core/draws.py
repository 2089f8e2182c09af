"""Seeded standard normal draws in fixed blocks: the one source of every noise's ``z``."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["NOISE_BLOCK", "noise_block", "normals", "range_normals"]

#: Noise is drawn in blocks of this many steps (part of the noise contract).
NOISE_BLOCK = 4096


@functools.lru_cache(maxsize=64)
def noise_block(seed: int, block: int) -> np.ndarray:
    """Block ``block`` of the draws of ``seed`` (read-only, cached)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block,))
    values = np.random.Generator(np.random.PCG64(sequence)).standard_normal(NOISE_BLOCK)
    values.flags.writeable = False
    return values


def normals(seed: int, steps: np.ndarray) -> np.ndarray:
    """The draw ``z`` of every step of the 1-d int64 array ``steps``, as
    :func:`pytest_synthloss.core.model.noise_at` gives it (a new array)."""
    blocks, offsets = np.divmod(steps - 1, NOISE_BLOCK)
    unique = np.unique(blocks)
    if unique.size == 1:
        return noise_block(seed, int(unique[0]))[offsets]
    z = np.empty(steps.shape, dtype=np.float64)
    order = np.argsort(blocks, kind="stable")
    bounds = [*np.searchsorted(blocks[order], unique).tolist(), steps.size]
    for i, block in enumerate(unique.tolist()):  # one pass per block drawn, not per step
        chosen = order[bounds[i] : bounds[i + 1]]
        z[chosen] = noise_block(seed, block)[offsets[chosen]]
    return z


def range_normals(seed: int, start_step: int, count: int) -> np.ndarray:
    """The draws ``z`` of the ``count`` steps from ``start_step`` (see :func:`normals`)."""
    z = np.empty(count, dtype=np.float64)
    done = 0
    while done < count:
        block, offset = divmod(start_step + done - 1, NOISE_BLOCK)
        take = min(NOISE_BLOCK - offset, count - done)
        z[done : done + take] = noise_block(seed, block)[offset : offset + take]
        done += take
    return z
