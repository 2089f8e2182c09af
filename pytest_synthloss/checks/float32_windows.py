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

__all__ = ["slot_scratch", "slot_totals"]


def slot_scratch(size: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work arrays for :func:`slot_totals` of up to ``size`` totals, to reuse from call to
    call (a large temporary costs its page faults every time it is allocated)."""
    cells = window * (size // window + 3)
    return (np.empty(cells, np.float32), np.empty(cells, np.float32), np.empty(cells, np.float32))


def slot_totals(
    history: np.ndarray,
    updates: np.ndarray,
    count: int,
    size: int,
    window: int,
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The float32 slot-order total after ``count + k`` updates, for ``k`` in ``range(size)``.

    ``history`` holds (at least) the last ``min(count, window)`` updates before ``count``
    (float32); ``updates[i]`` is update ``count + i`` (cast to float32; the first
    ``size - 1`` are used). Every update weighs 1 here (no NaN slot): the caller divides by
    ``min(count + k, window)``. With ``scratch`` (:func:`slot_scratch` of at least ``size``)
    the result is a view into its last array.
    """
    w = window
    first = count - 1  # the last update in total 0
    low = first // w  # its round
    rows = (count + size - 2) // w - low + 1  # rounds with a total wanted
    width = rows + 1  # and the round before them
    grid_cells, totals_cells, natural_cells = scratch or slot_scratch(size, window)
    grid = grid_cells[: w * width].reshape(w, width)
    _fill(grid, history, updates, count, size - 1)
    totals = totals_cells[: w * width].reshape(w, width)  # the last column: padding
    totals[:, rows] = 0
    flat_grid, flat = grid.reshape(-1), totals.reshape(-1)
    with np.errstate(invalid="ignore", over="ignore"):
        # slots 0..r from this round: T[r] = T[r - 1] + G[r, q]
        np.add(grid[0, 1:], np.float32(0), out=totals[0, :rows])
        for slot in range(1, w):
            np.add(totals[slot - 1, :rows], grid[slot, 1:], out=totals[slot, :rows])
        # then slots r + 1 .. w - 1 from the round before, in slot order: at step k every
        # row r < w - k gets G[r + k, q - 1] (whole rows at once, padding column included)
        for k in range(1, w):
            span = (w - k) * width
            np.add(flat[:span], flat_grid[k * width : k * width + span], out=flat[:span])
    natural = natural_cells[: rows * w].reshape(rows, w)
    np.copyto(natural, totals[:, :rows].T)
    offset = first - low * w
    return natural.reshape(-1)[offset : offset + size]


def _fill(
    grid: np.ndarray, history: np.ndarray, updates: np.ndarray, count: int, used: int
) -> None:
    """``G[s, j]``: update ``(low - 1 + j) * w + s`` (0.0 before the first update and after
    the last one used; the updates more than ``w`` before ``count`` are never read)."""
    w, width = grid.shape
    at = count - (count - 1) // w * w + w  # column-major position of update `count`: w+1..2w
    head = np.zeros(2 * w, np.float32)  # columns 0 and 1
    held = min(count, w)
    if held:
        head[at - held : at] = history[history.size - held :]
    first = min(2 * w - at, used)  # updates in column 1
    with np.errstate(over="ignore"):
        head[at : at + first] = updates[:first]
        grid[:, :2] = head.reshape(2, w).T
        full = (used - first) // w  # whole columns of updates
        grid[:, 2 : 2 + full] = updates[first : first + full * w].reshape(full, w).T
        if 2 + full < width:
            rest = used - first - full * w
            grid[:rest, 2 + full] = updates[first + full * w : used]
            grid[rest:, 2 + full] = 0
            grid[:, 3 + full :] = 0
