"""Dataclass fields of many steps, held as int64 arrays and read as tuples.

:class:`~pytest_synthloss.checks.scoring.AlertScore` has fields with up to one item per
alert (alert steps, runs of steps). ``score_alerts`` passes them as numpy arrays (steps
as 1-D, spans ``(first, last)`` as a ``(2, k)`` array of firsts and lasts), so scoring
10^6 alerts builds no 10^6 Python objects; reading such a field (or comparing, hashing,
printing or pickling the score) gives the same tuple as ever, built once on first read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LazySteps", "held", "install", "raw_steps"]


class LazySteps:
    """A data descriptor: a value kept as given; a numpy array becomes a tuple when read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = "_" + name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:  # no class-level default: the dataclass field stays required
            raise AttributeError(self.name)
        value = instance.__dict__[self.slot]
        if isinstance(value, np.ndarray):
            items = value.tolist()
            value = tuple(zip(*items, strict=True)) if value.ndim == 2 else tuple(items)
            instance.__dict__[self.slot] = value
        return value

    def __set__(self, instance: object, value: object) -> None:
        instance.__dict__[self.slot] = value


def install(cls: type, names: tuple[str, ...]) -> None:
    """Make the fields ``names`` of the (already made) dataclass ``cls`` lazy.

    Installed after ``@dataclass`` ran, so each stays a required ``__init__`` argument,
    and the generated ``__init__`` (``object.__setattr__``) stores through the descriptor.
    """
    for name in names:
        field = LazySteps()
        field.__set_name__(cls, name)
        setattr(cls, name, field)


def held(array: np.ndarray) -> Any:
    """``array`` for a lazy field (typed as the tuple it is read as)."""
    return array


def raw_steps(instance: object, name: str, *, spans: bool = False) -> np.ndarray:
    """The lazy field ``name`` as an int64 array (``(2, k)`` for ``spans``), not built."""
    value = instance.__dict__["_" + name]
    if isinstance(value, np.ndarray):
        return value
    array = np.array(value, dtype=np.int64)
    return array.reshape(-1, 2).T if spans else array.reshape(-1)
