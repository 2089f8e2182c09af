"""Ring-buffer totals in float32, summed in slot order as torchmetrics reduces its slots.

A ``Running(metric, window)`` keeps the last ``window`` updates in slots: update ``u`` goes
to slot ``u % window``. Its total after ``c`` updates is ``0.0 + slot 0 + slot 1 + ...`` in
float32, an empty slot adding 0.0. With ``c - 1 = q * window + r``, slot ``s`` holds update
``q * window + s`` for ``s <= r`` and ``(q - 1) * window + s`` for ``s > r``. So with the
updates in a grid ``G[s, q]`` (update ``q * window + s``), the totals ``T[r, q]`` of every
count are built a row of ``q`` at a time: ``T[r] = T[r - 1] + G[r, q]`` (the slots from this
round, shared by the rows), then ``T[:s] += G[s, q - 1]`` for ``s = 1 .. window - 1`` (the
slots left from the round before). Every total gets the same float32 additions in the same
order as the slot-by-slot sum, so the result is bit for bit the same.
"""

from __future__ import annotations

import numpy as np

__all__ = ["slot_totals"]


def slot_totals(
    history: np.ndarray, updates: np.ndarray, count: int, size: int, window: int
) -> np.ndarray:
    """The float32 slot-order total after ``count + k`` updates, for ``k`` in ``range(size)``.

    ``history`` holds (at least) the last ``min(count, window)`` updates before ``count``
    (float32); ``updates[i]`` is update ``count + i`` (cast to float32; the first
    ``size - 1`` are used). Every update weighs 1 here (no NaN slot): the caller divides by
    ``min(count + k, window)``.
    """
    w = window
    first = count - 1  # the last update counted in total 0
    low = first // w
    rows = (count + size - 2) // w - low + 1
    base = (low - 1) * w  # update held by flat[0]: the round before `low`
    flat = np.zeros((rows + 1) * w, np.float32)
    held = min(count, w)
    if held:
        flat[count - held - base : count - base] = history[history.size - held :]
    with np.errstate(over="ignore"):
        flat[count - base : count - base + size - 1] = updates[: size - 1]
    grid = np.empty((w, rows + 1), np.float32)
    np.copyto(grid, flat.reshape(rows + 1, w).T)
    this, before = grid[:, 1:], grid[:, :-1]
    totals = np.empty((w, rows), np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        np.add(this[0], np.float32(0), out=totals[0])
        for slot in range(1, w):
            np.add(totals[slot - 1], this[slot], out=totals[slot])
        for slot in range(1, w):
            totals[:slot] += before[slot]
    natural = np.empty((rows, w), np.float32)
    np.copyto(natural, totals.T)
    offset = first - low * w
    return natural.reshape(-1)[offset : offset + size]
