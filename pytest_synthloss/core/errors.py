"""The core's exception types: bad input, and a failed loss-curve check."""

from __future__ import annotations

__all__ = ["LossAssertionError", "SynthLossError"]


class SynthLossError(ValueError):
    """Bad input to pytest-synthloss: the message names the bad value and what is allowed."""


class LossAssertionError(AssertionError):
    """A loss-curve assertion failed; the message says where and why."""


# Defined here so that the spike rules and scoring can raise it without importing the
# assertions; it is published (and shown in tracebacks) under its public import path.
LossAssertionError.__module__ = "pytest_synthloss"
