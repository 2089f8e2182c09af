"""metaseq's EWM in closed form a block at a time, into buffers made once.

``(1 - alpha) * EWM + alpha * loss`` taken over every value of a chunk: each block of
``len(powers) - 1`` values in closed form from a zero start (so ``decay ** -block`` stays
far inside float64), the block starts then chained by a scalar loop over the blocks. The
temporaries are the same for every chunk, so they are made once (a large temporary costs its
page faults every time it is allocated) and every operation writes in place: the same
operations on the same numbers as the expression ``cumsum(alpha * grid / powers[1:]) *
powers[1:]`` they replace.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EwmBlocks"]


class EwmBlocks:
    """The EWM before each value of chunks of up to ``size`` values (see the module)."""

    def __init__(self, alpha: float, powers: np.ndarray, size: int) -> None:
        self.alpha = alpha
        self.powers = powers  # decay ** 0 .. decay ** block
        self.block = powers.size - 1
        rows = -(-size // self.block)
        self.local = np.empty((rows, self.block))
        self.before = np.empty((1, self.block))

    def chain(self, values: np.ndarray, state: float, out: np.ndarray) -> float:
        """Writes into ``out`` the EWM before each value if every value were taken in, and
        returns the EWM after them all."""
        block, powers, n = self.block, self.powers, values.size
        count = -(-n // block)
        local = self.local[:count]
        flat = local.reshape(-1)
        np.multiply(values, self.alpha, out=flat[:n])
        flat[n:] = 0.0  # the padding of the last block (alpha * 0.0)
        np.divide(local, powers[1:], out=local)
        np.cumsum(local, axis=1, out=local)
        np.multiply(local, powers[1:], out=local)
        step = float(powers[block])
        starts_list = []
        for end in local[:, -1].tolist():
            starts_list.append(state)
            state = step * state + end
        starts = np.array(starts_list)
        whole = n // block  # blocks written straight into `out`
        self._before(out[: whole * block].reshape(whole, block), starts[:whole], local[:whole])
        if whole < count:  # the last, partial block: through a buffer
            before = self.before[:1]
            self._before(before, starts[whole:], local[whole:])
            out[whole * block :] = before[0, : n - whole * block]
        last = n - (count - 1) * block  # values in the last block
        return float(powers[last] * starts[-1] + local[count - 1, last - 1])

    def _before(self, before: np.ndarray, starts: np.ndarray, local: np.ndarray) -> None:
        """``before[:, 0] = starts``, ``before[:, 1:] = powers[1:block] * starts + local[:,
        :-1]``: the EWM before each value of the blocks."""
        before[:, 0] = starts
        np.multiply(self.powers[1 : self.block], starts[:, None], out=before[:, 1:])
        np.add(before[:, 1:], local[:, :-1], out=before[:, 1:])
