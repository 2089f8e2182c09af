"""Steps: validating arrays of them (the check is ``validation.step_array``), grouping runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pytest_synthloss.core.validation import step_array

if TYPE_CHECKING:  # no numpy at import time: the plugin reads DEFAULT_STEPS from here
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_STEPS", "as_steps", "runs"]

#: How many steps a run has when neither the caller nor its profile says (the spec's 20).
DEFAULT_STEPS = 20


def as_steps(steps: npt.ArrayLike) -> np.ndarray:
    """Validate an array-like of steps and return it as an int64 array (any shape).

    See :func:`pytest_synthloss.checks.step_array`: whole-number float arrays are steps;
    the first bad element is named with its index.
    """
    return step_array("steps", steps)


def runs(steps: Iterable[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive steps (ascending input) as ``(first, last)`` pairs.

    >>> runs([2, 3, 4, 7, 9, 10])
    [(2, 4), (7, 7), (9, 10)]
    """
    spans: list[tuple[int, int]] = []
    for step in steps:
        if spans and spans[-1][1] == step - 1:
            spans[-1] = (spans[-1][0], step)
        else:
            spans.append((step, step))
    return spans
