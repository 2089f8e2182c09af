"""Seeded standard normal draws in fixed blocks: the one source of every noise's ``z``."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["NOISE_BLOCK", "noise_block"]

#: Noise is drawn in blocks of this many steps (part of the noise contract).
NOISE_BLOCK = 4096


@functools.lru_cache(maxsize=64)
def noise_block(seed: int, block: int) -> np.ndarray:
    """Block ``block`` of the draws of ``seed`` (read-only, cached)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(block,))
    values = np.random.Generator(np.random.PCG64(sequence)).standard_normal(NOISE_BLOCK)
    values.flags.writeable = False
    return values
