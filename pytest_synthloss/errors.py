"""The one exception type the core raises for bad input."""

from __future__ import annotations

__all__ = ["SynthLossError"]


class SynthLossError(ValueError):
    """Bad input to pytest-synthloss: the message names the bad value and what is allowed."""
